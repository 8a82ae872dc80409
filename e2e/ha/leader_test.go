package ha

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/api/testenv"
)

// Leader election settings for the replicas: short, so the test is quick,
// yet with room for a loaded machine (the leader gives up after failing to
// renew for 3s).
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 250 * time.Millisecond
)

// takeoverLimit bounds the time from killing a leader to another replica
// holding the Lease. client-go's elector retries every retryPeriod with up
// to 1.2× jitter (so every 1–2.2 retry periods); a follower sees the last
// renewal up to one such interval late, considers the Lease expired
// leaseDuration after that, and takes it at its next retry: at most
// leaseDuration + 4.4 retry periods after the kill. One more period covers
// API latency on a loaded machine.
const takeoverLimit = leaseDuration + 6*retryPeriod

func leaderElectionArgs() []string {
	return []string{"--leader-elect",
		"--leader-elect-lease-duration", leaseDuration.String(),
		"--leader-elect-renew-deadline", renewDeadline.String(),
		"--leader-elect-retry-period", retryPeriod.String(),
	}
}

// leaseHolder returns the Lease's holderIdentity ("" when none or absent).
func leaseHolder(ctx context.Context, c kubernetes.Interface, ns, name string) string {
	l, err := c.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// waitHolder polls the Lease every 20ms until ok(holder) and returns the holder.
func waitHolder(t *testing.T, c kubernetes.Interface, ns, name string, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	var h string
	err := pollUntil(timeout, func() bool {
		h = leaseHolder(context.Background(), c, ns, name)
		return ok(h)
	})
	if err != nil {
		t.Fatalf("lease %s/%s holder %q: %v", ns, name, h, err)
	}
	return h
}

// TestSchedulerLeaderLoss runs two `skiff scheduler --leader-elect`
// replicas, kills the one holding the Lease with SIGKILL and measures how
// long the other takes to acquire the Lease and to bind the first pod
// created after the kill. No pod may be bound twice.
func TestSchedulerLeaderLoss(t *testing.T) {
	const before, after = 6, 6
	api := testenv.StartAPIServer(t, testenv.Options{})
	c := api.Client
	ctx := context.Background()
	for i := range 3 {
		createReadyNode(t, c, fmt.Sprintf("node-%d", i))
	}
	// The replicas run as the scheduler's own identity, so its bootstrap
	// RBAC role must allow leader election and binding.
	kubeconfig := api.UserKubeconfig(t, "system:kube-scheduler")
	replicas := map[string]*Process{}
	for _, id := range []string{"sched-a", "sched-b"} {
		args := append([]string{"scheduler", "--kubeconfig", kubeconfig, "--disable-wasm-plugins", "--identity", id}, leaderElectionArgs()...)
		replicas[id] = StartProcess(t, id, args...)
	}
	leader := waitHolder(t, c, "kube-system", "skiff-scheduler", 60*time.Second, func(h string) bool { return replicas[h] != nil })

	// Record when each pod is first seen bound.
	bound := newBindLog()
	list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.CoreV1().Pods("default").Watch(wctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted && p.Spec.NodeName != "" {
				bound.add(p.Name, p.Spec.NodeName, time.Now())
			}
		}
	}()

	for i := range before {
		createPod(t, c, fmt.Sprintf("before-%d", i))
	}
	waitBound(t, bound, "before-", before, 60*time.Second)

	killTime := time.Now()
	replicas[leader].Kill()
	for i := range after {
		createPod(t, c, fmt.Sprintf("after-%d", i))
	}
	newLeader := waitHolder(t, c, "kube-system", "skiff-scheduler", 60*time.Second, func(h string) bool { return h != leader && replicas[h] != nil })
	takeover := time.Since(killTime)
	waitBound(t, bound, "after-", after, 60*time.Second)
	firstBind := bound.first("after-").Sub(killTime)

	checkSingleBinding(t, c, bound)
	t.Logf("scheduler leader %s killed; %s took the Lease after %s and bound the first new pod after %s (lease %s, renew %s, retry %s)",
		leader, newLeader, takeover.Round(time.Millisecond), firstBind.Round(time.Millisecond), leaseDuration, renewDeadline, retryPeriod)
	if takeover > takeoverLimit {
		t.Errorf("takeover took %s, want under %s", takeover, takeoverLimit)
	}
}

// TestControllerManagerLeaderLoss does the same for two
// `skiff controller-manager --leader-elect` replicas: after the leader is
// killed the other takes the Lease and a ReplicaSet created after the kill
// gets its pods.
func TestControllerManagerLeaderLoss(t *testing.T) {
	api := testenv.StartAPIServer(t, testenv.Options{})
	c := api.Client
	ctx := context.Background()
	kubeconfig := api.UserKubeconfig(t, "system:kube-controller-manager")
	replicas := map[string]*Process{}
	for _, name := range []string{"cm-a", "cm-b"} {
		args := append([]string{"controller-manager", "--kubeconfig", kubeconfig, "--controllers", "replicaset", "--identity", name}, leaderElectionArgs()...)
		replicas[name] = StartProcess(t, name, args...)
	}
	const lease = "kube-controller-manager"
	holder := waitHolder(t, c, "kube-system", lease, 60*time.Second, func(h string) bool { return replicas[h] != nil })
	leader := replicas[holder]
	createReplicaSet(t, c, "before", 2)
	waitReplicaSetPods(t, c, "before", 2)

	killTime := time.Now()
	leader.Kill()
	createReplicaSet(t, c, "after", 2)
	newHolder := waitHolder(t, c, "kube-system", lease, 60*time.Second, func(h string) bool { return h != "" && h != holder })
	takeover := time.Since(killTime)
	waitReplicaSetPods(t, c, "after", 2)
	converged := time.Since(killTime)
	t.Logf("controller-manager leader %s (%s) killed; %s took the Lease after %s; a ReplicaSet created after the kill had its pods after %s",
		leader.Name, holder, newHolder, takeover.Round(time.Millisecond), converged.Round(time.Millisecond))
	if takeover > takeoverLimit {
		t.Errorf("takeover took %s, want under %s", takeover, takeoverLimit)
	}
	pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 4 {
		t.Errorf("%d pods for two ReplicaSets of 2: a replica acted twice or not at all", len(pods.Items))
	}
}

// waitReplicaSetPods waits until ReplicaSet name has n pods.
func waitReplicaSetPods(t *testing.T, c kubernetes.Interface, name string, n int) {
	t.Helper()
	err := testenv.Poll(60*time.Second, func() (bool, error) {
		pods, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "rs=" + name})
		if err != nil {
			return false, nil
		}
		return len(pods.Items) == n, nil
	})
	if err != nil {
		t.Fatalf("ReplicaSet %s pods: %v", name, err)
	}
}

func createReplicaSet(t *testing.T, c kubernetes.Interface, name string, n int32) {
	t.Helper()
	labels := map[string]string{"rs": name}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()},
		},
	}
	if _, err := c.AppsV1().ReplicaSets("default").Create(context.Background(), rs, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ReplicaSet %s: %v", name, err)
	}
}

// bindLog records the first node each pod was seen bound to, and any
// later different node.
type bindLog struct {
	mu    sync.Mutex
	nodes map[string][]string
	at    map[string]time.Time
}

func newBindLog() *bindLog {
	return &bindLog{nodes: map[string][]string{}, at: map[string]time.Time{}}
}

func (b *bindLog) add(pod, node string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ns := b.nodes[pod]
	if len(ns) == 0 || ns[len(ns)-1] != node {
		b.nodes[pod] = append(ns, node)
	}
	if _, ok := b.at[pod]; !ok {
		b.at[pod] = at
	}
}

func (b *bindLog) count(prefix string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for p := range b.at {
		if len(p) >= len(prefix) && p[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func (b *bindLog) first(prefix string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	var t time.Time
	for p, at := range b.at {
		if len(p) >= len(prefix) && p[:len(prefix)] == prefix && (t.IsZero() || at.Before(t)) {
			t = at
		}
	}
	return t
}

func waitBound(t *testing.T, b *bindLog, prefix string, n int, timeout time.Duration) {
	t.Helper()
	if err := pollUntil(timeout, func() bool { return b.count(prefix) == n }); err != nil {
		t.Fatalf("%d of %d %s* pods bound: %v", b.count(prefix), n, prefix, err)
	}
}

// checkSingleBinding verifies that every pod was bound to one node only,
// has at most one Scheduled event, and that a second binding is refused.
func checkSingleBinding(t *testing.T, c kubernetes.Interface, b *bindLog) {
	t.Helper()
	ctx := context.Background()
	b.mu.Lock()
	for pod, nodes := range b.nodes {
		if len(nodes) != 1 {
			t.Errorf("pod %s seen on nodes %v", pod, nodes)
		}
	}
	b.mu.Unlock()
	pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", "Scheduled").String()})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := map[string]int32{}
	for _, e := range events.Items {
		if e.Reason != "Scheduled" || e.InvolvedObject.Kind != "Pod" {
			continue
		}
		scheduled[e.InvolvedObject.Name] += max(e.Count, 1)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" {
			t.Errorf("pod %s not bound", p.Name)
		}
		if n := scheduled[p.Name]; n > 1 {
			t.Errorf("pod %s has %d Scheduled events", p.Name, n)
		}
	}
	if len(pods.Items) > 0 {
		p := pods.Items[0]
		other := "node-0"
		if p.Spec.NodeName == other {
			other = "node-1"
		}
		err := c.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: "default"},
			Target:     corev1.ObjectReference{Kind: "Node", Name: other},
		}, metav1.CreateOptions{})
		if !apierrors.IsConflict(err) {
			t.Errorf("second binding of %s: %v, want 409 Conflict", p.Name, err)
		}
	}
}

func createReadyNode(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	status := corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(),
	}}}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status:     status,
	}
	created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	if created.Status.Allocatable.Cpu().IsZero() {
		created.Status = status
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("node %s status: %v", name, err)
		}
	}
}

func createPod(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       podSpec(),
	}
	if _, err := c.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "busybox",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"),
		}},
	}}}
}
