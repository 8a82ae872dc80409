// Package nodelifecycle watches node heartbeats (the node's Lease in
// kube-node-lease and its Ready condition). A node silent for longer than
// the grace period gets Ready=Unknown and the node.kubernetes.io/unreachable
// NoExecute taint (a node reporting Ready=False gets not-ready); its pods are
// marked not ready and evicted once their toleration of the taint runs out.
// The taints go away when the node reports again.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"skiff.dev/controlplane/internal/controller"
)

// Options configures the controller.
type Options struct {
	Client kubernetes.Interface
	Nodes  coreinformers.NodeInformer
	Leases coordinationinformers.LeaseInformer
	Pods   coreinformers.PodInformer
	// MonitorPeriod is how often nodes are checked.
	MonitorPeriod time.Duration
	// GracePeriod is how long a node may be silent.
	GracePeriod time.Duration
	// DefaultTolerationSeconds applies to pods with no toleration of the
	// unreachable/not-ready NoExecute taints.
	DefaultTolerationSeconds int64
	Recorder                 record.EventRecorder
	Log                      *slog.Logger
	Now                      func() time.Time
}

// health is what the controller observed of a node's heartbeats, in its own
// clock (so a skewed node clock does not matter).
type health struct {
	probe     time.Time // when a heartbeat was last seen to change
	renew     time.Time // last lease renewTime seen
	heartbeat time.Time // last Ready lastHeartbeatTime seen
}

// Controller is the node lifecycle controller.
type Controller struct {
	o      Options
	nodes  corelisters.NodeLister
	leases coordinationlisters.LeaseLister
	pods   corelisters.PodLister
	now    func() time.Time
	mu     sync.Mutex
	health map[string]*health
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{
		o: o, nodes: o.Nodes.Lister(), leases: o.Leases.Lister(), pods: o.Pods.Lister(), now: o.Now,
		health: map[string]*health{},
		synced: []cache.InformerSynced{o.Nodes.Informer().HasSynced, o.Leases.Informer().HasSynced, o.Pods.Informer().HasSynced},
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Run checks nodes every MonitorPeriod until ctx is done.
func (c *Controller) Run(ctx context.Context, _ int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	t := time.NewTicker(c.o.MonitorPeriod)
	defer t.Stop()
	for {
		if err := c.Monitor(ctx); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("node monitor", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var (
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// Monitor runs one pass over all nodes and pods.
func (c *Controller) Monitor(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	now := c.now()
	seen := map[string]bool{}
	var errs []error
	for _, n := range nodes {
		seen[n.Name] = true
		if err := c.monitorNode(ctx, n, now); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	for name := range c.health {
		if !seen[name] {
			delete(c.health, name)
		}
	}
	c.mu.Unlock()
	if err := c.evict(ctx, nodes, now); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d errors, first: %w", len(errs), errs[0])
	}
	return nil
}

func (c *Controller) monitorNode(ctx context.Context, n *corev1.Node, now time.Time) error {
	var renew, beat time.Time
	if l, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(n.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	ready := readyCondition(n)
	if ready != nil {
		beat = ready.LastHeartbeatTime.Time
	}
	c.mu.Lock()
	h := c.health[n.Name]
	if h == nil {
		h = &health{probe: now, renew: renew, heartbeat: beat}
		c.health[n.Name] = h
	} else if !renew.Equal(h.renew) || !beat.Equal(h.heartbeat) {
		h.probe, h.renew, h.heartbeat = now, renew, beat
	}
	silentFor := now.Sub(h.probe)
	c.mu.Unlock()

	if silentFor > c.o.GracePeriod && (ready == nil || ready.Status != corev1.ConditionUnknown) {
		if err := c.markUnknown(ctx, n, now); err != nil {
			return err
		}
		return nil // the next pass taints it from the updated status
	}
	var want *corev1.Taint
	switch {
	case ready == nil || ready.Status == corev1.ConditionUnknown:
		want = &unreachableTaint
	case ready.Status == corev1.ConditionFalse:
		want = &notReadyTaint
	}
	if err := c.setTaint(ctx, n, want, now); err != nil {
		return err
	}
	if want == &unreachableTaint {
		return c.markPodsNotReady(ctx, n.Name)
	}
	return nil
}

func (c *Controller) markUnknown(ctx context.Context, n *corev1.Node, now time.Time) error {
	cp := n.DeepCopy()
	t := metav1.NewTime(now)
	found := false
	for i := range cp.Status.Conditions {
		cond := &cp.Status.Conditions[i]
		if cond.Type == corev1.NodeReady {
			found = true
		}
		if cond.Status == corev1.ConditionUnknown {
			continue
		}
		cond.Status, cond.Reason, cond.Message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."
		cond.LastTransitionTime = t
	}
	if !found {
		cp.Status.Conditions = append(cp.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated",
			Message: "Kubelet never posted node status.", LastTransitionTime: t, LastHeartbeatTime: n.CreationTimestamp,
		})
	}
	if _, err := c.o.Client.CoreV1().Nodes().UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark node %s unknown: %w", n.Name, err)
	}
	c.o.Recorder.Eventf(n, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", n.Name)
	c.o.Log.Info("node stopped reporting", slog.String("node", n.Name))
	return nil
}

// setTaint makes want the only lifecycle NoExecute taint of n (nil: none).
func (c *Controller) setTaint(ctx context.Context, n *corev1.Node, want *corev1.Taint, now time.Time) error {
	isLifecycle := func(t corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute && (t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady)
	}
	var have []corev1.Taint
	for _, t := range n.Spec.Taints {
		if isLifecycle(t) {
			have = append(have, t)
		}
	}
	if want == nil && len(have) == 0 {
		return nil
	}
	if want != nil && len(have) == 1 && have[0].Key == want.Key {
		return nil
	}
	cp := n.DeepCopy()
	cp.Spec.Taints = slices.DeleteFunc(cp.Spec.Taints, isLifecycle)
	if want != nil {
		t := *want
		added := metav1.NewTime(now)
		t.TimeAdded = &added
		cp.Spec.Taints = append(cp.Spec.Taints, t)
	}
	if _, err := c.o.Client.CoreV1().Nodes().Update(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update taints of node %s: %w", n.Name, err)
	}
	return nil
}

func (c *Controller) podsOn(node string) []*corev1.Pod {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}

func (c *Controller) markPodsNotReady(ctx context.Context, node string) error {
	for _, p := range c.podsOn(node) {
		cond := controller.PodReadyCondition(p)
		if cond == nil || cond.Status == corev1.ConditionFalse || !controller.IsPodActive(p) {
			continue
		}
		cp := p.DeepCopy()
		for i := range cp.Status.Conditions {
			if cp.Status.Conditions[i].Type == corev1.PodReady {
				cp.Status.Conditions[i].Status = corev1.ConditionFalse
				cp.Status.Conditions[i].Reason = "NodeNotReady"
				cp.Status.Conditions[i].LastTransitionTime = metav1.Now()
			}
		}
		if _, err := c.o.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil &&
			!apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

// evict deletes pods on NoExecute-tainted nodes whose tolerations ran out.
func (c *Controller) evict(ctx context.Context, nodes []*corev1.Node, now time.Time) error {
	for _, n := range nodes {
		var taints []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoExecute {
				taints = append(taints, t)
			}
		}
		if len(taints) == 0 {
			continue
		}
		for _, p := range c.podsOn(n.Name) {
			if p.DeletionTimestamp != nil {
				continue
			}
			at, ok := c.evictionTime(p, taints)
			if !ok || now.Before(at) {
				continue
			}
			err := c.o.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			c.o.Recorder.Eventf(p, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
		}
	}
	return nil
}

// evictionTime is when p must leave a node with taints; ok is false when it
// tolerates them forever.
func (c *Controller) evictionTime(p *corev1.Pod, taints []corev1.Taint) (time.Time, bool) {
	var at time.Time
	for _, t := range taints {
		added := c.now()
		if t.TimeAdded != nil {
			added = t.TimeAdded.Time
		}
		secs, tolerated := int64(-1), false
		for _, tol := range p.Spec.Tolerations {
			if tol.ToleratesTaint(klog.Background(), &t, false) {
				tolerated = true
				if tol.TolerationSeconds == nil {
					secs = -1
				} else {
					secs = max(0, *tol.TolerationSeconds)
				}
				break
			}
		}
		if !tolerated {
			if t.Key != corev1.TaintNodeUnreachable && t.Key != corev1.TaintNodeNotReady {
				return added, true // a NoExecute taint the pod does not tolerate
			}
			secs = c.o.DefaultTolerationSeconds
		}
		if secs < 0 {
			continue
		}
		d := added.Add(time.Duration(secs) * time.Second)
		if at.IsZero() || d.Before(at) {
			at = d
		}
	}
	return at, !at.IsZero()
}
