// Package nodeipam assigns each node a pod subnet (spec.podCIDR and
// spec.podCIDRs) carved from the cluster CIDR; the kubelet's CNI
// configuration hands pod IPs out of it.
package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/controller"
)

// Options configures the controller.
type Options struct {
	Client      kubernetes.Interface
	Nodes       coreinformers.NodeInformer
	ClusterCIDR netip.Prefix
	MaskSize    int
	Recorder    record.EventRecorder
	Log         *slog.Logger
}

// Controller is the node IPAM controller.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	alloc    *Allocator
	recorder record.EventRecorder
	log      *slog.Logger
	queue    *controller.Queue
	synced   cache.InformerSynced
}

// New wires the controller to the node informer.
func New(o Options) (*Controller, error) {
	a, err := NewAllocator(o.ClusterCIDR, o.MaskSize)
	if err != nil {
		return nil, err
	}
	c := &Controller{client: o.Client, nodes: o.Nodes.Lister(), alloc: a, recorder: o.Recorder, log: o.Log,
		synced: o.Nodes.Informer().HasSynced}
	c.queue = controller.NewQueue("nodeipam", c.Sync, o.Log)
	_, _ = o.Nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.AddObj,
		UpdateFunc: func(_, n any) { c.queue.AddObj(n) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				for _, s := range n.Spec.PodCIDRs {
					if p, err := netip.ParsePrefix(s); err == nil {
						c.alloc.Release(p)
					}
				}
			}
		},
	})
	return c, nil
}

// Run waits for the cache, marks existing assignments as used, and runs workers.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	nodes, _ := c.nodes.List(labels.Everything())
	for _, n := range nodes {
		for _, s := range podCIDRs(n) {
			if p, err := netip.ParsePrefix(s); err == nil && !c.alloc.Occupy(p) {
				c.log.Warn("node podCIDR outside the cluster CIDR", slog.String("node", n.Name), slog.String("cidr", s))
			}
		}
	}
	// Workers = 1: allocation must see every earlier assignment.
	c.queue.Run(ctx, 1)
}

func podCIDRs(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

// Sync assigns a subnet to node key if it has none.
func (c *Controller) Sync(ctx context.Context, key string) error {
	n, err := c.nodes.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(podCIDRs(n)) > 0 {
		for _, s := range podCIDRs(n) {
			if p, err := netip.ParsePrefix(s); err == nil {
				c.alloc.Occupy(p)
			}
		}
		return nil
	}
	p, err := c.alloc.Allocate()
	if err != nil {
		c.recorder.Eventf(n, corev1.EventTypeWarning, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", n.Name)
		return fmt.Errorf("allocate pod CIDR for node %s: %w", key, err)
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": n.ResourceVersion},
		"spec":     map[string]any{"podCIDR": p.String(), "podCIDRs": []string{p.String()}},
	})
	_, err = c.client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		c.alloc.Release(p)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("set pod CIDR of node %s: %w", key, err)
	}
	c.recorder.Eventf(n, corev1.EventTypeNormal, "CIDRAssignmentSucceeded", "Assigned pod CIDR %s", p)
	c.log.Info("assigned pod CIDR", slog.String("node", key), slog.String("cidr", p.String()))
	return nil
}
