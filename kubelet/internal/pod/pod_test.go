package pod

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "1"},
		{"x$(A)y$(B)z", "x1ytwoz"},
		{"$(MISSING)", "$(MISSING)"},
		{"$$(A)", "$(A)"},
		{"cost $5", "cost $5"},
		{"$(A", "$(A"},
		{"end$", "end$"},
	}
	for _, tc := range cases {
		if got := expand(tc.in, vars); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTagAndShares(t *testing.T) {
	tags := map[string]string{"busybox": "latest", "busybox:1.36": "1.36", "reg:5000/x": "latest", "x@sha256:abc": ""}
	for in, want := range tags {
		if got := tagOf(in); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", in, got, want)
		}
	}
	shares := map[int64]int64{0: 2, 1: 2, 100: 102, 1000: 1024, 2500: 2560}
	for in, want := range shares {
		if got := milliToShares(in); got != want {
			t.Errorf("milliToShares(%d) = %d, want %d", in, got, want)
		}
	}
}

func cstatus(name string, attempt uint32, state runtimeapi.ContainerState, exit int32) *runtimeapi.ContainerStatus {
	now := time.Now().UnixNano()
	return &runtimeapi.ContainerStatus{
		Id: name + "-id", Metadata: &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt},
		State: state, ExitCode: exit, StartedAt: now - int64(time.Second), FinishedAt: now,
	}
}

func TestComputeStatusPhase(t *testing.T) {
	running := runtimeapi.ContainerState_CONTAINER_RUNNING
	exited := runtimeapi.ContainerState_CONTAINER_EXITED
	cases := []struct {
		name    string
		policy  corev1.RestartPolicy
		init    bool
		obs     observed
		waiting map[string]waitReason
		phase   corev1.PodPhase
		ready   bool
	}{
		{"nothing yet", corev1.RestartPolicyAlways, false, observed{}, nil, corev1.PodPending, false},
		{"running", corev1.RestartPolicyAlways, false, observed{"a": {cstatus("a", 0, running, 0)}}, nil, corev1.PodRunning, true},
		{"succeeded", corev1.RestartPolicyNever, false, observed{"a": {cstatus("a", 0, exited, 0)}}, nil, corev1.PodSucceeded, false},
		{"failed", corev1.RestartPolicyNever, false, observed{"a": {cstatus("a", 0, exited, 2)}}, nil, corev1.PodFailed, false},
		{"onfailure succeeded", corev1.RestartPolicyOnFailure, false, observed{"a": {cstatus("a", 1, exited, 0)}}, nil, corev1.PodSucceeded, false},
		{"crashloop", corev1.RestartPolicyAlways, false, observed{"a": {cstatus("a", 3, exited, 1)}},
			map[string]waitReason{"a": {"CrashLoopBackOff", "back-off"}}, corev1.PodRunning, false},
		{"init running", corev1.RestartPolicyAlways, true, observed{"i": {cstatus("i", 0, running, 0)}}, nil, corev1.PodPending, false},
		{"init failed never", corev1.RestartPolicyNever, true, observed{"i": {cstatus("i", 0, exited, 1)}}, nil, corev1.PodFailed, false},
		{"init done", corev1.RestartPolicyAlways, true, observed{"i": {cstatus("i", 0, exited, 0)}, "a": {cstatus("a", 0, running, 0)}}, nil, corev1.PodRunning, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{Log: quiet()})
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"},
				Spec: corev1.PodSpec{RestartPolicy: tc.policy, Containers: []corev1.Container{{Name: "a", Image: "busybox"}}}}
			if tc.init {
				pod.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "busybox"}}
			}
			w := newWorker(m, pod)
			if tc.waiting != nil {
				w.waiting = tc.waiting
			}
			st := w.computeStatus(pod, tc.obs, true)
			if st.Phase != tc.phase {
				t.Fatalf("phase = %s, want %s", st.Phase, tc.phase)
			}
			gotReady := false
			for _, c := range st.Conditions {
				if c.Type == corev1.PodReady {
					gotReady = c.Status == corev1.ConditionTrue
				}
			}
			if gotReady != tc.ready {
				t.Fatalf("ready = %v, want %v", gotReady, tc.ready)
			}
			if tc.name == "crashloop" {
				cs := st.ContainerStatuses[0]
				if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount != 3 || cs.LastTerminationState.Terminated == nil {
					t.Fatalf("crashloop status = %+v", cs)
				}
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"disk": "ssd"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourcePods: resource.MustParse("10"),
		}},
	}
	pod := func(cpu, mem string, sel map[string]string) *corev1.Pod {
		c := corev1.Container{Name: "c"}
		c.Resources.Requests = corev1.ResourceList{}
		if cpu != "" {
			c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "x"}, Spec: corev1.PodSpec{NodeSelector: sel, Containers: []corev1.Container{c}}}
	}
	cases := []struct {
		name   string
		pod    *corev1.Pod
		reason string
	}{
		{"fits", pod("1", "512Mi", map[string]string{"disk": "ssd"}), ""},
		{"too much cpu", pod("3", "", nil), "OutOfcpu"},
		{"too much memory", pod("", "2Gi", nil), "OutOfmemory"},
		{"selector mismatch", pod("", "", map[string]string{"disk": "hdd"}), "NodeAffinity"},
	}
	m := New(Options{Log: quiet(), Node: func() *corev1.Node { return node }})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if reason, msg := m.admit(tc.pod); reason != tc.reason {
				t.Fatalf("reason = %q (%s), want %q", reason, msg, tc.reason)
			}
		})
	}
}

func TestResolveEnv(t *testing.T) {
	client := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"k": "v", "x": "y"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"pw": []byte("hunter2")}},
	)
	m := New(Options{Client: client, NodeIP: "192.0.2.1", Log: quiet()})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "web"}}, Spec: corev1.PodSpec{NodeName: "n1"}}
	optional := true
	c := &corev1.Container{
		Name:    "c",
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			{Name: "PLAIN", Value: "p"},
			{Name: "REF", Value: "$(PLAIN)-$(CM_k)"},
			{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "HOST", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "CMK", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "x"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "pw"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "pw", Optional: &optional}}},
		},
	}
	env, err := m.resolveEnv(context.Background(), pod, c, []string{"10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		got[kv.Key] = string(kv.Value)
	}
	want := map[string]string{"CM_k": "v", "CM_x": "y", "PLAIN": "p", "REF": "p-v", "NAME": "p", "APP": "web", "HOST": "192.0.2.1", "IP": "10.0.0.5", "CMK": "y", "PW": "hunter2"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["OPT"]; ok {
		t.Error("optional missing secret produced a variable")
	}
	c.Env = []corev1.EnvVar{{Name: "BAD", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}
	if _, err := m.resolveEnv(context.Background(), pod, c, nil); err == nil {
		t.Fatal("missing configmap: want error")
	}
}

// TestManagerFakeRuntime drives a pod through the manager with the cri-api
// fake runtime: fast, runs everywhere.
func TestManagerFakeRuntime(t *testing.T) {
	rt := critest.NewFakeRuntimeService()
	im := critest.NewFakeImageService()
	client := fake.NewClientset()
	m := New(Options{Client: client, Runtime: rt, Images: im, NodeName: "n1", NodeIP: "192.0.2.1", RootDir: t.TempDir(),
		CgroupRoot: "/skiff-unit", Relist: 50 * time.Millisecond, Log: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-fake"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a", Image: "busybox:1.36"}, {Name: "b", Image: "busybox:1.36"}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 2 && p.Status.ContainerStatuses[1].Ready {
			if p.Status.HostIP != "192.0.2.1" {
				t.Fatalf("hostIP = %q", p.Status.HostIP)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not running: %+v", p.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Other nodes' pods are ignored.
	other := pod.DeepCopy()
	other.Name, other.UID, other.Spec.NodeName = "q", "uid-other", "n2"
	if _, err := client.CoreV1().Pods("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if sbs, _ := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{LabelPodUID: "uid-other"}}); len(sbs) != 0 {
		t.Fatal("ran another node's pod")
	}
	// Deleting the pod removes its sandbox.
	if err := client.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		sbs, _ := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{LabelPodUID: "uid-fake"}})
		if len(sbs) == 0 {
			break
		}
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("sandbox not removed: %d left", len(sbs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
