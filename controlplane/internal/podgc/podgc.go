// Package podgc deletes pods nobody else will: terminated pods beyond a
// threshold (oldest first), pods bound to nodes that no longer exist, and
// terminating pods that were never scheduled.
package podgc

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Options configures the collector.
type Options struct {
	Client kubernetes.Interface
	Pods   coreinformers.PodInformer
	Nodes  coreinformers.NodeInformer
	// TerminatedThreshold is how many terminated pods may exist (0 disables that part).
	TerminatedThreshold int
	// Period is how often pods are checked (20s by default).
	Period time.Duration
	Log    *slog.Logger
}

// Controller is the pod garbage collector.
type Controller struct {
	o      Options
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	synced []cache.InformerSynced
}

// New wires the collector to its informers.
func New(o Options) *Controller {
	if o.Period == 0 {
		o.Period = 20 * time.Second
	}
	return &Controller{o: o, pods: o.Pods.Lister(), nodes: o.Nodes.Lister(),
		synced: []cache.InformerSynced{o.Pods.Informer().HasSynced, o.Nodes.Informer().HasSynced}}
}

// Run collects every Period until ctx is done.
func (c *Controller) Run(ctx context.Context, _ int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	t := time.NewTicker(c.o.Period)
	defer t.Stop()
	for {
		if err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("pod gc", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Collect runs one pass.
func (c *Controller) Collect(ctx context.Context) error {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	var terminated []*corev1.Pod
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
			terminated = append(terminated, p)
		case p.DeletionTimestamp != nil && p.Spec.NodeName == "":
			errs = append(errs, c.forceDelete(ctx, p, "unscheduled and terminating"))
			continue
		}
		if p.Spec.NodeName != "" && c.nodeGone(ctx, p.Spec.NodeName) {
			errs = append(errs, c.forceDelete(ctx, p, "bound to a deleted node"))
		}
	}
	if n := len(terminated) - c.o.TerminatedThreshold; c.o.TerminatedThreshold > 0 && n > 0 {
		slices.SortFunc(terminated, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
		for _, p := range terminated[:n] {
			errs = append(errs, c.forceDelete(ctx, p, "over the terminated-pod threshold"))
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// nodeGone checks the cache, then the API server, so a node that was just
// created is not mistaken for a deleted one.
func (c *Controller) nodeGone(ctx context.Context, name string) bool {
	if _, err := c.nodes.Get(name); err == nil {
		return false
	}
	_, err := c.o.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

func (c *Controller) forceDelete(ctx context.Context, p *corev1.Pod, why string) error {
	zero := int64(0)
	err := c.o.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s (%s): %w", p.Namespace, p.Name, why, err)
	}
	c.o.Log.Info("pod garbage-collected", slog.String("pod", p.Namespace+"/"+p.Name), slog.String("reason", why))
	return nil
}
