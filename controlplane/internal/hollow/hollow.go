// Package hollow simulates nodes for tests and benchmarks: it registers
// Node objects, renews their Leases, binds pending pods to them round-robin
// (standing in for the scheduler) and plays a kubelet that marks bound pods
// Running and Ready and finishes graceful deletions. No containers run.
package hollow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// Options configures a hollow cluster.
type Options struct {
	Client kubernetes.Interface
	// Nodes is how many nodes to register (named hollow-0 ...).
	Nodes int
	// NodePrefix names the nodes (default "hollow-").
	NodePrefix string
	// BindWithSubresource binds through pods/binding (real API server);
	// otherwise spec.nodeName is updated (fake clientsets).
	BindWithSubresource bool
	// Workers is the number of concurrent pod workers (default 8).
	Workers int
	// Silent lists nodes whose kubelet stops working (for node lifecycle tests).
	Silent func(node string) bool
	Log    *slog.Logger
}

// Cluster is a running set of hollow nodes.
type Cluster struct {
	o      Options
	queue  workqueue.TypedRateLimitingInterface[string]
	pods   cache.Indexer
	next   atomic.Int64
	bound  atomic.Int64
	ready  atomic.Int64
	mu     sync.Mutex
	silent map[string]bool
	wake   chan string
}

// NodeName returns the name of node i.
func (c *Cluster) NodeName(i int) string { return fmt.Sprintf("%s%d", c.o.NodePrefix, i) }

// Start registers the nodes and runs the binder and kubelets until ctx is done.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.NodePrefix == "" {
		o.NodePrefix = "hollow-"
	}
	if o.Workers == 0 {
		o.Workers = 8
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c := &Cluster{o: o, silent: map[string]bool{}, wake: make(chan string, 16),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	for i := range o.Nodes {
		if err := c.registerNode(ctx, c.NodeName(i)); err != nil {
			return nil, err
		}
	}
	factory := informers.NewSharedInformerFactory(o.Client, 0)
	inf := factory.Core().V1().Pods().Informer()
	c.pods = inf.GetIndexer()
	enqueue := func(obj any) {
		if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(k)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) },
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, ctx.Err()
	}
	for range o.Workers {
		go func() {
			for c.work(ctx) {
			}
		}()
	}
	go c.heartbeat(ctx)
	go func() { <-ctx.Done(); c.queue.ShutDown() }()
	return c, nil
}

// SetSilent stops (or restarts) the kubelet of node: no heartbeats, no pod updates.
func (c *Cluster) SetSilent(node string, silent bool) {
	c.mu.Lock()
	c.silent[node] = silent
	c.mu.Unlock()
	if !silent {
		select {
		case c.wake <- node:
		default:
		}
	}
}

// reportReady posts Ready=True for node, as a kubelet does when it comes back.
func (c *Cluster) reportReady(ctx context.Context, node string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.o.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == corev1.NodeReady {
				n.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
					LastHeartbeatTime: now, LastTransitionTime: now}
			}
		}
		_, err = c.o.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

func (c *Cluster) isSilent(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.silent[node]
}

// Bound and Ready count the pods this cluster bound and marked ready.
func (c *Cluster) Bound() int64 { return c.bound.Load() }

// Ready counts pods marked Running and Ready.
func (c *Cluster) Ready() int64 { return c.ready.Load() }

func (c *Cluster) registerNode(ctx context.Context, name string) error {
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "skiff.dev/hollow": "true"}},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1100"), corev1.ResourceCPU: resource.MustParse("64")},
			Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1100"), corev1.ResourceCPU: resource.MustParse("64")},
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}},
		},
	}
	created, err := c.o.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", name, err)
	}
	if err == nil && len(created.Status.Conditions) == 0 {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := c.o.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status = node.Status
			_, err = c.o.Client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("node %s status: %w", name, err)
		}
	}
	return c.renewLease(ctx, name)
}

func (c *Cluster) renewLease(ctx context.Context, name string) error {
	leases := c.o.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		dur := int32(40)
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &dur, RenewTime: &now},
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) {
			// kube-node-lease namespace missing: create it once.
			_, _ = c.o.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: corev1.NamespaceNodeLease}}, metav1.CreateOptions{})
			return c.renewLease(ctx, name)
		}
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

func (c *Cluster) heartbeat(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case node := <-c.wake:
			if err := c.reportReady(ctx, node); err != nil && ctx.Err() == nil {
				c.o.Log.Debug("hollow node status", slog.String("node", node), slog.Any("err", err))
			}
		case <-t.C:
		}
		for i := range c.o.Nodes {
			name := c.NodeName(i)
			if c.isSilent(name) {
				continue
			}
			if err := c.renewLease(ctx, name); err != nil && ctx.Err() == nil {
				c.o.Log.Debug("hollow lease renewal", slog.String("node", name), slog.Any("err", err))
			}
		}
	}
}

func (c *Cluster) work(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncPod(ctx, key); err != nil && ctx.Err() == nil {
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *Cluster) syncPod(ctx context.Context, key string) error {
	obj, exists, err := c.pods.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	p := obj.(*corev1.Pod)
	pods := c.o.Client.CoreV1().Pods(p.Namespace)
	switch {
	case p.DeletionTimestamp != nil:
		if p.Spec.NodeName != "" && c.isSilent(p.Spec.NodeName) {
			return nil
		}
		zero := int64(0)
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case p.Spec.NodeName == "":
		node := c.NodeName(int(c.next.Add(1)-1) % max(1, c.o.Nodes))
		for range c.o.Nodes {
			if !c.isSilent(node) {
				break
			}
			node = c.NodeName(int(c.next.Add(1)-1) % max(1, c.o.Nodes))
		}
		if c.o.BindWithSubresource {
			err = pods.Bind(ctx, &corev1.Binding{
				ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
				Target:     corev1.ObjectReference{Kind: "Node", Name: node},
			}, metav1.CreateOptions{})
		} else {
			cp := p.DeepCopy()
			cp.Spec.NodeName = node
			_, err = pods.Update(ctx, cp, metav1.UpdateOptions{})
		}
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		if err == nil {
			c.bound.Add(1)
		}
		return err
	case p.Status.Phase == corev1.PodPending || p.Status.Phase == "":
		if c.isSilent(p.Spec.NodeName) {
			return nil
		}
		cp := p.DeepCopy()
		now := metav1.Now()
		if code, ok := p.Annotations[ExitCodeAnnotation]; ok {
			return c.finish(ctx, cp, code)
		}
		cp.Status.Phase = corev1.PodRunning
		cp.Status.HostIP = "10.0.0.1"
		cp.Status.PodIP = fmt.Sprintf("10.244.%d.%d", c.ready.Load()/250%250, c.ready.Load()%250+2)
		cp.Status.PodIPs = []corev1.PodIP{{IP: cp.Status.PodIP}}
		cp.Status.StartTime = &now
		ready := corev1.ConditionTrue
		if p.Annotations[NotReadyAnnotation] == "true" {
			ready = corev1.ConditionFalse
		}
		cp.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		}
		for _, ctr := range p.Spec.Containers {
			cp.Status.ContainerStatuses = append(cp.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: ctr.Name, Image: ctr.Image, Ready: ready == corev1.ConditionTrue, Started: ptr(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
		_, err := pods.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		if err == nil {
			c.ready.Add(1)
		}
		return err
	}
	return nil
}

// NotReadyAnnotation set to "true" on a pod keeps it Running but never Ready.
const NotReadyAnnotation = "hollow.skiff.dev/not-ready"

// ExitCodeAnnotation on a pod makes its hollow kubelet finish it at once
// with that exit code ("0": Succeeded, anything else: Failed) instead of
// keeping it running.
const ExitCodeAnnotation = "hollow.skiff.dev/exit-code"

func (c *Cluster) finish(ctx context.Context, p *corev1.Pod, code string) error {
	now := metav1.Now()
	exit := int32(1)
	p.Status.Phase = corev1.PodFailed
	if code == "0" {
		exit = 0
		p.Status.Phase = corev1.PodSucceeded
	}
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now},
	}
	p.Status.ContainerStatuses = nil
	for _, ctr := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ctr.Name, Image: ctr.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, StartedAt: now, FinishedAt: now}},
		})
	}
	_, err := c.o.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func ptr[T any](v T) *T { return &v }
