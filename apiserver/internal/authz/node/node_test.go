package node

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"skiff.dev/apiserver/internal/storage"
)

const prefix = "/registry/pods/"

// fakePods is a pods store holding a fixed set of pods; it counts reads.
type fakePods struct {
	storage.Interface
	pods        map[string]*corev1.Pod
	gets, lists int
}

func (f *fakePods) Get(_ context.Context, key, _ string, out runtime.Object) error {
	f.gets++
	p, ok := f.pods[strings.TrimPrefix(key, prefix)]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, key)
	}
	*out.(*corev1.Pod) = *p.DeepCopy()
	return nil
}

func (f *fakePods) List(_ context.Context, key string, opts storage.ListOptions, out runtime.Object) error {
	f.lists++
	l := out.(*corev1.PodList)
	for k, p := range f.pods {
		if strings.HasPrefix(prefix+k, key) {
			l.Items = append(l.Items, *p.DeepCopy())
		}
	}
	return nil
}

func pod(ns, name, node string, mut func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	if mut != nil {
		mut(&p.Spec)
	}
	return p
}

func kubelet(n string) *user.DefaultInfo {
	return &user.DefaultInfo{Name: UserPrefix + n, Groups: []string{NodesGroup, "system:authenticated"}}
}

func req(u user.Info, verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub,
		Namespace: ns, Name: name, ResourceRequest: true}
}

func TestNodeAuthorizer(t *testing.T) {
	withRefs := pod("app", "web", "a", func(s *corev1.PodSpec) {
		s.ServiceAccountName = "web-sa"
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
		s.Volumes = []corev1.Volume{
			{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "vol-cm"}}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-cm"}}},
			}}}},
		}
		s.Containers = []corev1.Container{{Name: "c",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-secret"}}}},
			Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "env-cm"}, Key: "k"}}}},
		}}
		s.InitContainers = []corev1.Container{{Name: "i", Env: []corev1.EnvVar{{Name: "Y", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "init-secret"}, Key: "k"}}}}}}
	})
	other := pod("app", "db", "b", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-secret"}}}}
	})
	// late is bound to a but not yet in the graph: found by the consistent list.
	late := pod("app", "late", "a", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "late-secret"}}}}
	})
	store := &fakePods{pods: map[string]*corev1.Pod{"app/web": withRefs, "app/db": other, "app/late": late}}
	g := NewGraph()
	g.Replace([]runtime.Object{withRefs, other})
	a := New(Options{Graph: g, Pods: store, PodsPrefix: prefix})

	A, B := kubelet("a"), kubelet("b")
	allow, deny, none := authorizer.DecisionAllow, authorizer.DecisionDeny, authorizer.DecisionNoOpinion
	cases := []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  authorizer.Decision
	}{
		{"not a node", req(&user.DefaultInfo{Name: "alice"}, "update", "", "nodes", "", "", "b"), none},
		{"node without a name", req(&user.DefaultInfo{Name: "x", Groups: []string{NodesGroup}}, "get", "", "secrets", "", "app", "s"), deny},
		{"unguarded resource", req(A, "list", "", "services", "", "", ""), none},
		{"update own node", req(A, "update", "", "nodes", "", "", "a"), allow},
		{"patch own node status", req(A, "patch", "", "nodes", "status", "", "a"), allow},
		{"create a node", req(A, "create", "", "nodes", "", "", ""), allow},
		{"update other node", req(A, "update", "", "nodes", "", "", "b"), deny},
		{"update other node status", req(A, "update", "", "nodes", "status", "", "b"), deny},
		{"delete other node", req(A, "delete", "", "nodes", "", "", "b"), deny},
		{"list nodes is RBAC's", req(A, "list", "", "nodes", "", "", ""), none},
		{"node proxy", req(A, "get", "", "nodes", "proxy", "", "a"), deny},
		{"own lease", req(A, "update", "coordination.k8s.io", "leases", "", LeaseNamespace, "a"), allow},
		{"create lease", req(A, "create", "coordination.k8s.io", "leases", "", LeaseNamespace, ""), allow},
		{"other lease", req(A, "update", "coordination.k8s.io", "leases", "", LeaseNamespace, "b"), deny},
		{"lease elsewhere", req(A, "get", "coordination.k8s.io", "leases", "", "kube-system", "a"), deny},
		{"own pod status", req(A, "update", "", "pods", "status", "app", "web"), allow},
		{"own pod delete", req(A, "delete", "", "pods", "", "app", "web"), allow},
		{"other pod status", req(A, "update", "", "pods", "status", "app", "db"), deny},
		{"other pod get", req(A, "get", "", "pods", "", "app", "db"), deny},
		{"b updates its pod", req(B, "update", "", "pods", "status", "app", "db"), allow},
		{"missing pod get", req(A, "get", "", "pods", "", "app", "gone"), allow},
		{"missing pod update", req(A, "update", "", "pods", "status", "app", "gone"), deny},
		{"pod exec", req(A, "create", "", "pods", "exec", "app", "web"), deny},
		{"create pods", req(A, "create", "", "pods", "", "app", ""), deny},
		{"watch pods is RBAC's", req(A, "watch", "", "pods", "", "", ""), none},
		{"volume secret", req(A, "get", "", "secrets", "", "app", "vol-secret"), allow},
		{"pull secret", req(A, "get", "", "secrets", "", "app", "pull"), allow},
		{"projected secret", req(A, "get", "", "secrets", "", "app", "proj-secret"), allow},
		{"envFrom secret", req(A, "get", "", "secrets", "", "app", "envfrom-secret"), allow},
		{"init env secret", req(A, "get", "", "secrets", "", "app", "init-secret"), allow},
		{"volume configmap", req(A, "get", "", "configmaps", "", "app", "vol-cm"), allow},
		{"projected configmap", req(A, "get", "", "configmaps", "", "app", "proj-cm"), allow},
		{"env configmap", req(A, "get", "", "configmaps", "", "app", "env-cm"), allow},
		{"claim", req(A, "get", "", "persistentvolumeclaims", "", "app", "data"), allow},
		{"other node's secret", req(A, "get", "", "secrets", "", "app", "db-secret"), deny},
		{"same name other namespace", req(A, "get", "", "secrets", "", "other", "vol-secret"), deny},
		{"secret not yet in graph", req(A, "get", "", "secrets", "", "app", "late-secret"), allow},
		{"list secrets", req(A, "list", "", "secrets", "", "app", ""), deny},
		{"watch secrets", req(A, "watch", "", "secrets", "", "", ""), deny},
		{"update secret", req(A, "update", "", "secrets", "", "app", "vol-secret"), deny},
		{"token of pod's service account", req(A, "create", "", "serviceaccounts", "token", "app", "web-sa"), allow},
		{"token of default service account of late pod", req(A, "create", "", "serviceaccounts", "token", "app", "default"), allow},
		{"token of unrelated service account", req(A, "create", "", "serviceaccounts", "token", "app", "admin"), deny},
		{"service accounts themselves are RBAC's", req(A, "get", "", "serviceaccounts", "", "app", "web-sa"), none},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tc.attrs)
			if err != nil || d != tc.want {
				t.Fatalf("Authorize = %v (%q, %v), want %v", d, reason, err, tc.want)
			}
			if d == authorizer.DecisionDeny && reason == "" {
				t.Error("deny without a reason")
			}
		})
	}
}

func TestGraphCounts(t *testing.T) {
	g := NewGraph()
	mk := func(name string) *corev1.Pod {
		return pod("ns", name, "n1", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "shared"}}}}
		})
	}
	r := ref{secretRef, "ns", "shared"}
	g.Set(mk("p1"))
	g.Set(mk("p2"))
	g.Delete(mk("p1"))
	if !g.has("n1", r) {
		t.Fatal("shared secret lost while p2 still uses it")
	}
	moved := mk("p2")
	moved.Spec.NodeName = "n2"
	g.Set(moved)
	if g.has("n1", r) || !g.has("n2", r) {
		t.Fatal("rebinding p2 did not move its references")
	}
	g.Delete(moved)
	if g.has("n2", r) || len(g.byNode) != 0 || len(g.pods) != 0 {
		t.Fatalf("graph not empty: %+v %+v", g.byNode, g.pods)
	}
}
