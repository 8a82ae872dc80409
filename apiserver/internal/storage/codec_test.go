package storage

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

// Times with nanoseconds: both formats must keep seconds for metav1.Time
// and microseconds for metav1.MicroTime, and nothing finer.
var (
	nanoTime  = metav1.NewTime(time.Date(2026, 11, 25, 12, 30, 45, 123456789, time.UTC))
	nanoMicro = metav1.NewMicroTime(time.Date(2026, 11, 25, 12, 30, 46, 987654321, time.UTC))
)

func codecMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "42", Generation: 3,
		CreationTimestamp: nanoTime,
		Labels:            map[string]string{"app": "x"},
		Annotations:       map[string]string{"note": "y"},
		Finalizers:        []string{"example.com/f"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid",
			Controller: ref(true), BlockOwnerDeletion: ref(false)}},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply,
			APIVersion: "v1", Time: &nanoTime, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{}}`)}}},
	}
}

func codecCases() []struct {
	name  string
	obj   runtime.Object
	proto bool
} {
	return []struct {
		name  string
		obj   runtime.Object
		proto bool
	}{
		{"configmap", &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: codecMeta("cm"),
			Data:       map[string]string{"a": "1", "b": ""},
			BinaryData: map[string][]byte{"bin": {0, 1, 2}},
			Immutable:  ref(true),
		}, true},
		{"configmap without TypeMeta", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bare"}}, true},
		{"deleting pod", &corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: func() metav1.ObjectMeta {
				m := codecMeta("pod")
				m.DeletionTimestamp = &nanoTime
				m.DeletionGracePeriodSeconds = ref[int64](30)
				return m
			}(),
			Spec: corev1.PodSpec{
				NodeName: "n1",
				Containers: []corev1.Container{{
					Name: "c", Image: "busybox", Command: []string{"sleep", "1"},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					Env:   []corev1.EnvVar{{Name: "A", Value: ""}, {Name: "B", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5"), corev1.ResourceMemory: resource.MustParse("1Gi")},
						Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1e9")},
					},
					LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 5},
				}},
				Tolerations:                   []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, TolerationSeconds: ref[int64](300)}},
				TerminationGracePeriodSeconds: ref[int64](30),
				EnableServiceLinks:            ref(false),
			},
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				StartTime:  &nanoTime,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: nanoTime}},
				PodIPs:     []corev1.PodIP{{IP: "10.0.0.5"}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, RestartCount: 0,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: nanoTime}}}},
			},
		}, true},
		{"service", &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: codecMeta("svc"),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ref(corev1.IPFamilyPolicySingleStack),
				Selector: map[string]string{"app": "x"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), NodePort: 30080},
					{Name: "raw", Port: 81, TargetPort: intstr.FromInt32(8081)}},
			},
		}, true},
		{"deployment", &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: codecMeta("d"),
			Spec: appsv1.DeploymentSpec{
				Replicas: ref[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"},
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}}}},
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ref(intstr.FromString("25%")), MaxUnavailable: ref(intstr.FromInt32(0))}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
			},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: nanoTime, LastTransitionTime: nanoTime}}},
		}, true},
		{"controllerrevision", &appsv1.ControllerRevision{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ControllerRevision"},
			ObjectMeta: codecMeta("cr"),
			Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"a":1}}}`)},
			Revision:   2,
		}, true},
		{"lease", &coordinationv1.Lease{
			TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			ObjectMeta: codecMeta("l"),
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ref("node-1"), LeaseDurationSeconds: ref[int32](40),
				AcquireTime: &nanoMicro, RenewTime: &nanoMicro},
		}, true},
		{"event", &corev1.Event{
			TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
			ObjectMeta:     codecMeta("ev"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "pod"},
			Reason:         "Started", Message: "m", Count: 2, Type: corev1.EventTypeNormal,
			FirstTimestamp: nanoTime, LastTimestamp: nanoTime, EventTime: nanoMicro,
			Series: &corev1.EventSeries{Count: 2, LastObservedTime: nanoMicro},
		}, true},
		{"role", &rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: codecMeta("r"),
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		}, true},
		// No protobuf methods: stored as JSON.
		{"skiff wasmmodule", &pluginsv1alpha1.WasmModule{
			TypeMeta:   metav1.TypeMeta{APIVersion: "plugins.skiff.dev/v1alpha1", Kind: "WasmModule"},
			ObjectMeta: codecMeta("w"),
			Spec:       pluginsv1alpha1.WasmModuleSpec{SHA256: strings.Repeat("a", 64), Size: 10},
		}, false},
		{"unstructured", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "u", "namespace": "ns", "resourceVersion": "42"},
			"spec":     map[string]any{"size": int64(3)},
		}}, false},
	}
}

func ref[T any](v T) *T { return &v }

func newLike(obj runtime.Object) runtime.Object {
	return reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
}

// TestCodecRoundTrip checks that what a client reads back is the same
// whichever format the object was stored in: decoding the stored form
// gives the object the JSON format gave (same JSON, semantically equal),
// without the resourceVersion, and re-encoding it gives the same bytes
// (no-op update detection compares stored bytes).
func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obj := tc.obj.DeepCopyObject()
			data, err := encode(obj)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.HasPrefix(data, []byte(protoMagic)); got != tc.proto {
				t.Fatalf("protobuf = %v, want %v: %q", got, tc.proto, data)
			}
			if !apiequality.Semantic.DeepEqual(obj, tc.obj) {
				t.Fatal("encode changed its argument")
			}

			got := newLike(tc.obj)
			if err := decodeInto(data, got); err != nil {
				t.Fatal(err)
			}
			m, err := meta.Accessor(got)
			if err != nil {
				t.Fatal(err)
			}
			if rv := m.GetResourceVersion(); rv != "" {
				t.Fatalf("resourceVersion %q was stored", rv)
			}

			// The JSON format, as stored before protobuf.
			old := tc.obj.DeepCopyObject()
			om, _ := meta.Accessor(old)
			om.SetResourceVersion("")
			jdata, err := encodeJSON(old)
			if err != nil {
				t.Fatal(err)
			}
			want := newLike(tc.obj)
			if err := decodeInto(jdata, want); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Fatalf("clients would see\n%s\ninstead of\n%s", gotJSON, wantJSON)
			}
			if !apiequality.Semantic.DeepEqual(got, want) {
				t.Fatalf("decoded objects differ:\n%#v\n%#v", got, want)
			}
			if !tc.proto && !bytes.Equal(data, jdata) {
				t.Fatalf("JSON format changed:\n%s\n%s", data, jdata)
			}

			again, err := encode(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("re-encoding the decoded object gives other bytes:\n%q\n%q", again, data)
			}
		})
	}
}

// TestCodecEmptyVersusNil documents the one difference between the
// formats: protobuf reads an empty list back as nil, so a field without
// omitempty is served as null instead of [] (kube-apiserver does the same).
// The two are semantically equal, which is what update validation compares.
func TestCodecEmptyVersusNil(t *testing.T) {
	t.Parallel()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "empty"}, Rules: []rbacv1.PolicyRule{}}
	data, err := encode(role)
	if err != nil {
		t.Fatal(err)
	}
	got := &rbacv1.Role{}
	if err := decodeInto(data, got); err != nil {
		t.Fatal(err)
	}
	if got.Rules != nil {
		t.Fatalf("rules = %#v, want nil", got.Rules)
	}
	if !apiequality.Semantic.DeepEqual(got, role) {
		t.Fatal("not semantically equal")
	}
	// And an empty list encodes like a nil one, so it is a no-op update.
	nilRole := role.DeepCopy()
	nilRole.Rules = nil
	if again, _ := encode(nilRole); !bytes.Equal(again, data) {
		t.Fatal("nil and empty rules encode differently")
	}
}

// TestCodecKeepsUpstreamLayout pins the stored bytes of a small object to
// kube-apiserver's format, so etcd data stays readable by upstream tools.
func TestCodecKeepsUpstreamLayout(t *testing.T) {
	t.Parallel()
	obj := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	data, err := encode(obj)
	if err != nil {
		t.Fatal(err)
	}
	body, err := obj.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Raw: body}
	env, err := unk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("k8s\x00"), env...); !bytes.Equal(data, want) {
		t.Fatalf("stored\n%q\nwant\n%q", data, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	good, err := encode(cm("ns", "c", nil, "k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	envelope := func(unk runtime.Unknown) []byte {
		b, err := unk.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte("k8s\x00"), b...)
	}
	for _, tc := range []struct {
		name string
		data []byte
		into runtime.Object
	}{
		{"bad JSON", []byte("{not json"), &corev1.ConfigMap{}},
		{"empty", nil, &corev1.ConfigMap{}},
		{"truncated protobuf", good[:len(good)-3], &corev1.ConfigMap{}},
		{"protobuf into a JSON-only type", good, &pluginsv1alpha1.WasmModule{}},
		{"protobuf into unstructured", good, &unstructured.Unstructured{}},
		{"foreign content type", envelope(runtime.Unknown{Raw: []byte("{}"), ContentType: "application/json"}), &corev1.ConfigMap{}},
		{"content encoding", envelope(runtime.Unknown{Raw: []byte{1}, ContentEncoding: "gzip"}), &corev1.ConfigMap{}},
		{"garbage body", envelope(runtime.Unknown{Raw: []byte{0xff, 0xff, 0xff}}), &corev1.ConfigMap{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := decodeInto(tc.data, tc.into); err == nil {
				t.Fatalf("decoded %q without error", tc.data)
			}
		})
	}
}

// TestLegacyJSONValues: values stored as JSON by earlier versions are
// loaded by a new store's cache, read, listed and watched, and turn into
// protobuf when next updated.
func TestLegacyJSONValues(t *testing.T) {
	t.Parallel()
	s1, p := newTestStore(t)
	ctx := testCtx(t)
	putJSON := func(name string, data ...string) {
		t.Helper()
		b, err := encodeJSON(cm("ns", name, map[string]string{"old": "yes"}, data...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := shared.client.Put(ctx, p+"ns/"+name, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	putJSON("old1", "k", "v1")
	mustCreate(t, s1, p+"ns/new1", cm("ns", "new1", nil, "k", "v"))

	// A store started over existing JSON data (as after an upgrade).
	s, err := New(shared.client, s1.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for _, rv := range []string{"", "0"} {
		got := &corev1.ConfigMap{}
		if err := s.Get(ctx, p+"ns/old1", rv, got); err != nil {
			t.Fatalf("get rv=%q: %v", rv, err)
		}
		if got.Kind != "ConfigMap" || got.APIVersion != "v1" || got.Data["k"] != "v1" || got.Labels["old"] != "yes" || got.ResourceVersion == "" {
			t.Fatalf("get rv=%q: %+v", rv, got)
		}
	}
	l := &corev1.ConfigMapList{}
	if err := s.List(ctx, p, ListOptions{Recursive: true}, l); err != nil {
		t.Fatal(err)
	}
	if n := names(l); len(n) != 2 || n[0] != "ns/new1" || n[1] != "ns/old1" {
		t.Fatalf("list = %v", n)
	}

	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	putJSON("old2", "k", "v2")
	select {
	case ev := <-w.ResultChan():
		got, ok := ev.Object.(*corev1.ConfigMap)
		if ev.Type != watch.Added || !ok || got.Name != "old2" || got.Data["k"] != "v2" || got.Kind != "ConfigMap" {
			t.Fatalf("watch event %s %+v", ev.Type, ev.Object)
		}
	case <-ctx.Done():
		t.Fatal("no watch event for a JSON value")
	}

	out := &corev1.ConfigMap{}
	err = s.GuaranteedUpdate(ctx, p+"ns/old1", out, false, nil, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["k"] = "updated"
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := shared.client.Get(ctx, p+"ns/old1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("etcd get: %v", err)
	}
	if !bytes.HasPrefix(resp.Kvs[0].Value, []byte(protoMagic)) {
		t.Fatalf("updated value not stored as protobuf: %q", resp.Kvs[0].Value)
	}
	got := &corev1.ConfigMap{}
	if err := s.Get(ctx, p+"ns/old1", "", got); err != nil || got.Data["k"] != "updated" || got.Labels["old"] != "yes" || got.Kind != "ConfigMap" {
		t.Fatalf("after update: %+v %v", got, err)
	}
	if err := s.Delete(ctx, p+"ns/old2", &corev1.ConfigMap{}, nil, nil); err != nil {
		t.Fatalf("delete JSON value: %v", err)
	}
}

// FuzzDecode: no stored value makes decode panic.
func FuzzDecode(f *testing.F) {
	for _, tc := range codecCases() {
		if data, err := encode(tc.obj.DeepCopyObject()); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("k8s\x00"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = decodeInto(data, &corev1.Pod{})
		_ = decodeInto(data, &pluginsv1alpha1.WasmModule{})
	})
}
