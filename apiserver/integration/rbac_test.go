package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/api/testenv"
)

func clientFor(t *testing.T, env *testenv.Env, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(env.UserConfig(t, user, groups...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantForbidden checks that err is a 403 Status naming the user.
func wantForbidden(t *testing.T, what string, err error, user string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Fatalf("%s: got %v, want 403 Forbidden", what, err)
	}
	if !strings.Contains(err.Error(), `User "`+user+`"`) {
		t.Errorf("%s: message %q does not name the user", what, err)
	}
}

func testPod(ns, name, node string, secrets ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{NodeName: node,
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	for _, s := range secrets {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: s, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: s}}})
	}
	return p
}

// TestRBACView binds alice to the view ClusterRole in one namespace: she
// can read pods there but not create them, read Secrets, or read another
// namespace; a user without bindings is refused; `kubectl auth can-i`
// and SubjectAccessReview agree.
func TestRBACView(t *testing.T) {
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := env.Client
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods("team").Create(ctx, testPod("team", "web", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := clientFor(t, env, "alice")
	// The binding reaches the authorizer through a watch: wait for it.
	if err := testenv.Poll(10*time.Second, func() (bool, error) {
		_, err := alice.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("alice cannot list pods in team: %v", err)
	}
	if _, err := alice.CoreV1().Pods("team").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("alice get pod: %v", err)
	}
	_, err := alice.CoreV1().Pods("team").Create(ctx, testPod("team", "evil", ""), metav1.CreateOptions{})
	wantForbidden(t, "alice create pod", err, "alice")
	var st *apierrors.StatusError
	if ok := asStatus(err, &st); !ok || st.ErrStatus.Code != 403 || st.ErrStatus.Reason != metav1.StatusReasonForbidden ||
		!strings.Contains(st.ErrStatus.Message, `cannot create resource "pods" in API group "" in the namespace "team"`) {
		t.Errorf("create pod Status = %+v", st)
	}
	_, err = alice.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "alice list secrets", err, "alice")
	_, err = alice.CoreV1().Secrets("team").Get(ctx, "any", metav1.GetOptions{})
	wantForbidden(t, "alice get secret", err, "alice")
	_, err = alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "alice list pods in default", err, "alice")

	nobody := clientFor(t, env, "nobody")
	_, err = nobody.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "nobody list pods", err, "nobody")
	_, err = nobody.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	wantForbidden(t, "nobody list namespaces", err, "nobody")

	// SubjectAccessReview (admin asks about alice) and LocalSubjectAccessReview.
	sar, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "alice", ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "team", Verb: "list", Resource: "pods"}}}, metav1.CreateOptions{})
	if err != nil || !sar.Status.Allowed || !strings.Contains(sar.Status.Reason, "alice-view") {
		t.Errorf("SubjectAccessReview = %+v, %v", sar, err)
	}
	sar, err = admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "alice", ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "team", Verb: "delete", Resource: "pods"}}}, metav1.CreateOptions{})
	if err != nil || sar.Status.Allowed {
		t.Errorf("SubjectAccessReview for delete = %+v, %v", sar, err)
	}
	lsar, err := admin.AuthorizationV1().LocalSubjectAccessReviews("team").Create(ctx, &authorizationv1.LocalSubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team"},
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice",
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "team", Verb: "get", Resource: "pods"}}}, metav1.CreateOptions{})
	if err != nil || !lsar.Status.Allowed {
		t.Errorf("LocalSubjectAccessReview = %+v, %v", lsar, err)
	}
	_, err = admin.AuthorizationV1().LocalSubjectAccessReviews("team").Create(ctx, &authorizationv1.LocalSubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team"},
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice",
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "other", Verb: "get", Resource: "pods"}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("LocalSubjectAccessReview for another namespace: %v, want 422", err)
	}
	// Alice may not ask about others.
	_, err = alice.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "bob", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}}}, metav1.CreateOptions{})
	wantForbidden(t, "alice SubjectAccessReview", err, "alice")

	// A namespace admin may grant what they hold, not more.
	if _, err := admin.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "dana-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dana"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dana := clientFor(t, env, "dana")
	bindTo := func(role string) error {
		_, err := dana.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "eve-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "eve"}},
		}, metav1.CreateOptions{})
		return err
	}
	if err := testenv.Poll(10*time.Second, func() (bool, error) { return bindTo("view") == nil, nil }); err != nil {
		t.Errorf("namespace admin cannot bind view: %v", bindTo("view"))
	}
	if err := bindTo("cluster-admin"); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "not currently held") {
		t.Errorf("namespace admin binds cluster-admin: %v, want 403", err)
	}

	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Log("kubectl not installed: skipping kubectl auth can-i")
		return
	}
	kc := env.UserKubeconfig(t, "alice")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"auth", "can-i", "list", "pods", "-n", "team"}, "yes"},
		{[]string{"auth", "can-i", "get", "pods/log", "-n", "team"}, "yes"},
		{[]string{"auth", "can-i", "create", "pods", "-n", "team"}, "no"},
		{[]string{"auth", "can-i", "get", "secrets", "-n", "team"}, "no"},
		{[]string{"auth", "can-i", "list", "pods", "-n", "default"}, "no"},
		{[]string{"auth", "can-i", "get", "/healthz"}, "yes"},
	} {
		out, err := env.KubectlWith(t, kc, tc.args...)
		got := strings.TrimSpace(out)
		if got != tc.want || (tc.want == "yes") != (err == nil) {
			t.Errorf("kubectl %v = %q (%v), want %s", tc.args, out, err, tc.want)
		}
	}
	out, err := env.KubectlWith(t, kc, "auth", "can-i", "--list", "-n", "team")
	if err != nil || !strings.Contains(out, "pods ") || !strings.Contains(out, "selfsubjectaccessreviews.authorization.k8s.io") || strings.Contains(out, "secrets ") {
		t.Errorf("kubectl auth can-i --list:\n%s (%v)", out, err)
	}
	out, err = env.Kubectl(t, "get", "rolebindings", "-n", "team", "-o", "wide")
	if err != nil || !strings.Contains(out, "ClusterRole/view") || !strings.Contains(out, "alice") {
		t.Errorf("kubectl get rolebindings:\n%s (%v)", out, err)
	}
}

func asStatus(err error, st **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	*st = s
	return ok
}

// TestNodeAuthorization checks that a kubelet identity (system:node:a)
// may write its own Node, Lease and pods and read the Secrets its pods
// use, and nothing of node b.
func TestNodeAuthorization(t *testing.T) {
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := env.Client
	a := clientFor(t, env, "system:node:a", "system:nodes")
	// The kubelet registers its own node.
	if _, err := a.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node a registers itself: %v", err)
	}
	// ...but not another node (NodeRestriction on create).
	if _, err := a.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node a creates node c: got %v, want 403", err)
	}
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"mine", "theirs", "unused"} {
		if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, testPod("default", "pa", "a", "mine"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, testPod("default", "pb", "b", "theirs"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Own node: update and status.
	na, err := a.CoreV1().Nodes().Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	na.Labels = map[string]string{"zone": "z1"}
	if na, err = a.CoreV1().Nodes().Update(ctx, na, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update own node: %v", err)
	}
	na.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	if _, err := a.CoreV1().Nodes().UpdateStatus(ctx, na, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update own node status: %v", err)
	}
	// Node b: refused.
	nb, err := a.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node b (reads are allowed): %v", err)
	}
	nb.Labels = map[string]string{"owned": "by-a"}
	_, err = a.CoreV1().Nodes().Update(ctx, nb, metav1.UpdateOptions{})
	wantForbidden(t, "update node b", err, "system:node:a")
	_, err = a.CoreV1().Nodes().UpdateStatus(ctx, nb, metav1.UpdateOptions{})
	wantForbidden(t, "update node b status", err, "system:node:a")
	err = a.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{})
	wantForbidden(t, "delete node b", err, "system:node:a")

	// Pods: own pod's status yes, b's pod no.
	pa, err := a.CoreV1().Pods("default").Get(ctx, "pa", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get own pod: %v", err)
	}
	pa.Status.Phase = corev1.PodRunning
	if _, err := a.CoreV1().Pods("default").UpdateStatus(ctx, pa, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update own pod status: %v", err)
	}
	_, err = a.CoreV1().Pods("default").Get(ctx, "pb", metav1.GetOptions{})
	wantForbidden(t, "get pod of b", err, "system:node:a")
	pb, err := admin.CoreV1().Pods("default").Get(ctx, "pb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pb.Status.Phase = corev1.PodFailed
	_, err = a.CoreV1().Pods("default").UpdateStatus(ctx, pb, metav1.UpdateOptions{})
	wantForbidden(t, "update pod status of b", err, "system:node:a")
	err = a.CoreV1().Pods("default").Delete(ctx, "pb", metav1.DeleteOptions{})
	wantForbidden(t, "delete pod of b", err, "system:node:a")
	if _, err := a.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=a"}); err != nil {
		t.Errorf("list own pods: %v", err)
	}

	// Secrets: only those its pods use, never listed.
	if _, err := a.CoreV1().Secrets("default").Get(ctx, "mine", metav1.GetOptions{}); err != nil {
		t.Errorf("get secret of own pod: %v", err)
	}
	_, err = a.CoreV1().Secrets("default").Get(ctx, "theirs", metav1.GetOptions{})
	wantForbidden(t, "get secret of b's pod", err, "system:node:a")
	_, err = a.CoreV1().Secrets("default").Get(ctx, "unused", metav1.GetOptions{})
	wantForbidden(t, "get unused secret", err, "system:node:a")
	_, err = a.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "list secrets", err, "system:node:a")

	// Lease: own in kube-node-lease only.
	lease := func(name string) error {
		_, err := a.CoordinationV1().Leases("kube-node-lease").Create(ctx, leaseObj(name), metav1.CreateOptions{})
		return err
	}
	if err := lease("a"); err != nil {
		t.Errorf("create own lease: %v", err)
	}
	if _, err := admin.CoordinationV1().Leases("kube-node-lease").Create(ctx, leaseObj("b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lb, err := admin.CoordinationV1().Leases("kube-node-lease").Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.CoordinationV1().Leases("kube-node-lease").Update(ctx, lb, metav1.UpdateOptions{})
	wantForbidden(t, "update lease b", err, "system:node:a")
}

func leaseObj(name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-node-lease"}}
}

// TestBootstrapPolicy checks the default roles and bindings after start,
// and that a deleted one comes back when the apiserver restarts while one
// annotated autoupdate=false keeps the operator's change.
func TestBootstrapPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := testenv.Options{PKIDir: filepath.Join(dir, "pki"), ExtraArgs: []string{"--data-dir", filepath.Join(dir, "data")}}
	env := testenv.StartAPIServer(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rbac := env.Client.RbacV1()
	for _, name := range []string{"cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
		"system:public-info-viewer", "system:auth-delegator", "system:kube-scheduler", "system:kube-controller-manager",
		"system:node", "system:node-proxier", "system:skiff:dns", "system:skiff:ingress"} {
		cr, err := rbac.ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("clusterrole %s: %v", name, err)
		}
		if cr.Labels["kubernetes.io/bootstrapping"] != "rbac-defaults" {
			t.Errorf("clusterrole %s labels = %v", name, cr.Labels)
		}
	}
	for _, name := range []string{"cluster-admin", "system:basic-user", "system:discovery", "system:public-info-viewer",
		"system:kube-scheduler", "system:kube-controller-manager", "system:node", "system:node-proxier", "system:auth-delegator",
		"system:skiff:dns", "system:skiff:ingress", "system:skiff:dashboard"} {
		if _, err := rbac.ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("clusterrolebinding %s: %v", name, err)
		}
	}
	if err := rbac.ClusterRoles().Delete(ctx, "view", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rbac.ClusterRoleBindings().Delete(ctx, "system:node", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	edit, err := rbac.ClusterRoles().Get(ctx, "edit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit.Annotations["rbac.authorization.kubernetes.io/autoupdate"] = "false"
	edit.Rules = edit.Rules[:1]
	if _, err := rbac.ClusterRoles().Update(ctx, edit, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Stop()

	env = testenv.StartAPIServer(t, opts)
	rbac = env.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Get(ctx, "view", metav1.GetOptions{}); err != nil {
		t.Errorf("view not restored: %v", err)
	}
	if b, err := rbac.ClusterRoleBindings().Get(ctx, "system:node", metav1.GetOptions{}); err != nil || len(b.Subjects) != 1 || b.Subjects[0].Name != "system:nodes" {
		t.Errorf("system:node binding not restored: %+v %v", b, err)
	}
	if e, err := rbac.ClusterRoles().Get(ctx, "edit", metav1.GetOptions{}); err != nil || len(e.Rules) != 1 {
		t.Errorf("edit with autoupdate=false was reconciled: %d rules, %v", len(e.Rules), err)
	}
}
