package scheduler_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/api/testenv"

	"skiff.dev/scheduler"
)

// startScheduler runs a scheduler in-process against env until the test ends.
func startScheduler(t *testing.T, env *testenv.Env, mutate func(*scheduler.Options)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := scheduler.Options{RESTConfig: env.Config, Logger: testLogger(t), DisableWasm: true}
	if mutate != nil {
		mutate(&opts)
	}
	done := make(chan error, 1)
	go func() { done <- scheduler.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scheduler.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("scheduler did not stop")
		}
	})
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SCHEDULER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type nodeSpec struct {
	name   string
	cpu    string
	pods   string
	labels map[string]string
	taints []v1.Taint
}

// createNode creates a hollow node: a Node object with Ready status and
// capacity, no kubelet.
func createNode(t *testing.T, c kubernetes.Interface, ns nodeSpec) {
	t.Helper()
	ctx := context.Background()
	if ns.cpu == "" {
		ns.cpu = "4"
	}
	if ns.pods == "" {
		ns.pods = "110"
	}
	labels := map[string]string{v1.LabelHostname: ns.name}
	for k, v := range ns.labels {
		labels[k] = v
	}
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: labels}, Spec: v1.NodeSpec{Taints: ns.taints}}
	rl := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(ns.cpu),
		v1.ResourceMemory: resource.MustParse("8Gi"),
		v1.ResourcePods:   resource.MustParse(ns.pods),
	}
	status := v1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}
	node.Status = status
	created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", ns.name, err)
	}
	if created.Status.Allocatable.Cpu().IsZero() {
		created.Status = status
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("node %s status: %v", ns.name, err)
		}
	}
}

type podSpec struct {
	name, cpu string
	labels    map[string]string
	mutate    func(*v1.Pod)
}

func createPod(t *testing.T, c kubernetes.Interface, ps podSpec) *v1.Pod {
	t.Helper()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: ps.name, Namespace: "default", Labels: ps.labels},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
	}
	if ps.cpu != "" {
		pod.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse(ps.cpu)}
	}
	if ps.mutate != nil {
		ps.mutate(pod)
	}
	p, err := c.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", ps.name, err)
	}
	return p
}

func waitBound(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	var node string
	err := testenv.Poll(60*time.Second, func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	if err != nil {
		t.Fatalf("pod %s not bound: %v", name, err)
	}
	return node
}

func podScheduledCondition(p *v1.Pod) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == v1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// waitUnschedulable waits for PodScheduled=False with the given message.
func waitUnschedulable(t *testing.T, c kubernetes.Interface, name, msg string) {
	t.Helper()
	var last string
	err := testenv.Poll(60*time.Second, func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if p.Spec.NodeName != "" {
			return false, fmt.Errorf("pod %s was bound to %s", name, p.Spec.NodeName)
		}
		cond := podScheduledCondition(p)
		if cond == nil {
			return false, nil
		}
		last = fmt.Sprintf("%s/%s/%q", cond.Status, cond.Reason, cond.Message)
		return cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable && cond.Message == msg, nil
	})
	if err != nil {
		t.Fatalf("pod %s: PodScheduled condition %s, want False/Unschedulable/%q: %v", name, last, msg, err)
	}
}

func TestResourcesExhaustedPending(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	c := env.Client
	for i := 1; i <= 3; i++ {
		createNode(t, c, nodeSpec{name: fmt.Sprintf("node-%d", i), cpu: "2"})
	}
	startScheduler(t, env, nil)
	createPod(t, c, podSpec{name: "fits", cpu: "1500m"})
	createPod(t, c, podSpec{name: "too-big", cpu: "3"})
	waitBound(t, c, "fits")
	const msg = "0/3 nodes are available: 3 Insufficient cpu."
	waitUnschedulable(t, c, "too-big", msg)
	err := testenv.Poll(30*time.Second, func() (bool, error) {
		evs, err := c.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "too-big" && e.Reason == "FailedScheduling" && e.Type == v1.EventTypeWarning && e.Message == msg {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no FailedScheduling event for too-big: %v", err)
	}
	// kubectl describe shows it the way upstream does.
	out, err := env.Kubectl(t, "describe", "pod", "too-big")
	if err != nil {
		t.Fatalf("kubectl describe: %v\n%s", err, out)
	}
	for _, want := range []string{"FailedScheduling", msg, "PodScheduled"} {
		if !contains(out, want) {
			t.Errorf("kubectl describe lacks %q:\n%s", want, out)
		}
	}
	// Freeing capacity (a new node) schedules the pending pod: an event, not polling.
	createNode(t, c, nodeSpec{name: "node-big", cpu: "8"})
	if got := waitBound(t, c, "too-big"); got != "node-big" {
		t.Fatalf("too-big bound to %s, want node-big", got)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestAffinityAntiAffinityTaints(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	c := env.Client
	const zone = "topology.kubernetes.io/zone"
	createNode(t, c, nodeSpec{name: "a1", labels: map[string]string{zone: "a", "disk": "ssd"}})
	createNode(t, c, nodeSpec{name: "a2", labels: map[string]string{zone: "a"}})
	createNode(t, c, nodeSpec{name: "b1", labels: map[string]string{zone: "b"}})
	createNode(t, c, nodeSpec{name: "gpu", labels: map[string]string{zone: "b"},
		taints: []v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}})
	startScheduler(t, env, nil)

	// nodeSelector
	createPod(t, c, podSpec{name: "ssd", mutate: func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }})
	if n := waitBound(t, c, "ssd"); n != "a1" {
		t.Errorf("ssd pod on %s, want a1", n)
	}
	// Anti-affinity per hostname: three replicas spread over the three
	// untainted nodes; a fourth has nowhere to go.
	anti := func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: v1.LabelHostname}}}}
	}
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		createPod(t, c, podSpec{name: name, labels: map[string]string{"app": "web"}, mutate: anti})
		n := waitBound(t, c, name)
		if seen[n] || n == "gpu" {
			t.Fatalf("%s on %s: anti-affinity or taint violated (seen %v)", name, n, seen)
		}
		seen[n] = true
	}
	createPod(t, c, podSpec{name: "web-3", labels: map[string]string{"app": "web"}, mutate: anti})
	waitUnschedulable(t, c, "web-3",
		"0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 3 node(s) didn't match pod anti-affinity rules.")

	// Affinity to a zone-b pod lands in zone b but not on the tainted node.
	createPod(t, c, podSpec{name: "db", labels: map[string]string{"app": "db"}, mutate: func(p *v1.Pod) {
		p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "b1"}
	}})
	waitBound(t, c, "db")
	createPod(t, c, podSpec{name: "near-db", mutate: func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, TopologyKey: zone}}}}
	}})
	if n := waitBound(t, c, "near-db"); n != "b1" {
		t.Errorf("near-db on %s, want b1 (zone b, gpu node tainted)", n)
	}
	// A toleration opens the tainted node.
	createPod(t, c, podSpec{name: "gpu-job", mutate: func(p *v1.Pod) {
		p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "gpu"}
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}
	}})
	if n := waitBound(t, c, "gpu-job"); n != "gpu" {
		t.Errorf("gpu-job on %s", n)
	}
}

func TestRacingSchedulersNeverDoubleBind(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	c := env.Client
	const nodes, pods = 10, 120
	for i := 0; i < nodes; i++ {
		createNode(t, c, nodeSpec{name: fmt.Sprintf("n%02d", i), cpu: "64"})
	}
	var mu sync.Mutex
	binds := map[string][]string{}
	var total atomic.Int64
	onBound := func(p *v1.Pod, node string, _ time.Time) {
		mu.Lock()
		binds[p.Name] = append(binds[p.Name], node)
		mu.Unlock()
		total.Add(1)
	}
	// Two replicas of the same scheduler name, no leader election: they
	// race for every pod and exactly one binding per pod may succeed.
	for i := 0; i < 2; i++ {
		startScheduler(t, env, func(o *scheduler.Options) { o.OnBound = onBound })
	}
	for i := 0; i < pods; i++ {
		createPod(t, c, podSpec{name: fmt.Sprintf("p%03d", i), cpu: "100m"})
	}
	err := testenv.Poll(90*time.Second, func() (bool, error) {
		l, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		bound := 0
		for _, p := range l.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == pods, nil
	})
	if err != nil {
		t.Fatalf("not every pod bound: %v", err)
	}
	l, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range l.Items {
		got := binds[p.Name]
		if len(got) != 1 || got[0] != p.Spec.NodeName {
			t.Errorf("pod %s: successful binds %v, actual node %s", p.Name, got, p.Spec.NodeName)
		}
	}
	if total.Load() != pods {
		t.Errorf("%d successful binds for %d pods", total.Load(), pods)
	}
	// A second binding of a bound pod is refused with 409 Conflict.
	b := &v1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p000", Namespace: "default"}, Target: v1.ObjectReference{Kind: "Node", Name: "n00"}}
	err = c.CoreV1().Pods("default").Bind(context.Background(), b, metav1.CreateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("second bind: %v, want 409 Conflict", err)
	}
}

func TestLeaderElectionOneActive(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	c := env.Client
	createNode(t, c, nodeSpec{name: "n1"})
	var counts [2]atomic.Int64
	for i := 0; i < 2; i++ {
		startScheduler(t, env, func(o *scheduler.Options) {
			o.LeaderElect = true
			o.Identity = fmt.Sprintf("replica-%d", i)
			// Generous: a loaded CI machine must not make the leader lose the lease.
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 30*time.Second, 20*time.Second, time.Second
			o.OnBound = func(*v1.Pod, string, time.Time) { counts[i].Add(1) }
		})
	}
	for i := 0; i < 20; i++ {
		createPod(t, c, podSpec{name: fmt.Sprintf("p%02d", i)})
	}
	for i := 0; i < 20; i++ {
		waitBound(t, c, fmt.Sprintf("p%02d", i))
	}
	a, b := counts[0].Load(), counts[1].Load()
	if a+b != 20 || (a != 0 && b != 0) {
		t.Fatalf("binds per replica %d/%d: want all 20 from the leader only", a, b)
	}
	lease, err := c.CoordinationV1().Leases("kube-system").Get(context.Background(), "skiff-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || (*h != "replica-0" && *h != "replica-1") {
		t.Fatalf("lease holder %v", h)
	}
}

func TestPreemption(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	createNode(t, c, nodeSpec{name: "only", cpu: "2"})
	startScheduler(t, env, nil)
	prio := func(p int32) func(*v1.Pod) { return func(pod *v1.Pod) { pod.Spec.Priority = &p } }
	createPod(t, c, podSpec{name: "low", cpu: "1500m", mutate: prio(0)})
	waitBound(t, c, "low")
	createPod(t, c, podSpec{name: "high", cpu: "1500m", mutate: prio(1000)})
	// The scheduler deletes the victim and nominates the node. With no
	// kubelet on the hollow node, finish a graceful deletion as it would.
	err := testenv.Poll(60*time.Second, func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, "low", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err == nil && p.DeletionTimestamp != nil {
			zero := int64(0)
			_ = c.CoreV1().Pods("default").Delete(ctx, "low", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("victim not preempted: %v", err)
	}
	if n := waitBound(t, c, "high"); n != "only" {
		t.Fatalf("high on %s", n)
	}
	// Equal priority never preempts.
	createPod(t, c, podSpec{name: "peer", cpu: "1500m", mutate: prio(1000)})
	waitUnschedulable(t, c, "peer", "0/1 nodes are available: 1 Insufficient cpu.")
	if _, err := c.CoreV1().Pods("default").Get(ctx, "high", metav1.GetOptions{}); err != nil {
		t.Fatalf("equal-priority pod preempted: %v", err)
	}
}
