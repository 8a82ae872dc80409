// Package garbagecollector deletes objects whose owners are gone. It watches
// every deletable resource (found by discovery), keeps an ownerReferences
// graph, and implements the three propagation policies: background (delete
// dependents after their owner is gone), foreground (the owner carries the
// foregroundDeletion finalizer until its blocking dependents are gone) and
// orphan (the owner carries the orphan finalizer until its dependents no
// longer reference it).
package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/controlplane/internal/apiresources"
	"skiff.dev/controlplane/internal/controller"
)

// Finalizers the collector honours (metav1 constants).
const (
	orphanFinalizer     = metav1.FinalizerOrphanDependents
	foregroundFinalizer = metav1.FinalizerDeleteDependents
)

// Options configures the collector.
type Options struct {
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
	Log       *slog.Logger
	// RediscoverPeriod is how often new resources (CRDs) are looked for; 30s by default.
	RediscoverPeriod time.Duration
	// Ignored resources are never watched (events by default).
	Ignored []schema.GroupResource
}

// Collector is the garbage collector.
type Collector struct {
	dyn      dynamic.Interface
	disc     discovery.DiscoveryInterface
	log      *slog.Logger
	period   time.Duration
	ignored  []schema.GroupResource
	graph    *graph
	queue    *controller.Queue
	mu       sync.Mutex
	monitors map[schema.GroupVersionResource]cache.SharedIndexInformer
	kinds    map[schema.GroupKind]apiresources.Resource
}

// New returns a collector; Run starts it.
func New(o Options) *Collector {
	c := &Collector{
		dyn: o.Dynamic, disc: o.Discovery, log: o.Log, period: o.RediscoverPeriod, ignored: o.Ignored,
		graph:    newGraph(),
		monitors: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		kinds:    map[schema.GroupKind]apiresources.Resource{},
	}
	if c.period == 0 {
		c.period = 30 * time.Second
	}
	if c.ignored == nil {
		c.ignored = []schema.GroupResource{{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}
	}
	c.queue = controller.NewQueue("garbagecollector", c.Sync, o.Log)
	return c
}

// Run discovers resources, starts one watch per resource, waits for them to
// sync and then processes the graph until ctx is done.
func (c *Collector) Run(ctx context.Context, workers int) {
	var synced []cache.InformerSynced
	for {
		s, err := c.discover(ctx)
		if err == nil {
			synced = s
			break
		}
		c.log.Warn("garbage collector discovery failed", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	go func() {
		t := time.NewTicker(c.period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := c.discover(ctx); err != nil {
					c.log.Debug("rediscovery failed", slog.Any("err", err))
				}
			}
		}
	}()
	c.queue.Run(ctx, workers)
}

func (c *Collector) discover(ctx context.Context) ([]cache.InformerSynced, error) {
	rs, err := apiresources.Deletable(c.disc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var synced []cache.InformerSynced
	for _, r := range rs {
		gk := schema.GroupKind{Group: r.GVR.Group, Kind: r.Kind}
		c.kinds[gk] = r
		if slices.Contains(c.ignored, r.GVR.GroupResource()) {
			continue
		}
		if _, ok := c.monitors[r.GVR]; ok {
			continue
		}
		inf := dynamicinformer.NewFilteredDynamicInformer(c.dyn, r.GVR, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
		_ = inf.SetTransform(stripToMeta)
		gvr := r.GVR
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.observe(gvr, obj) },
			UpdateFunc: func(_, obj any) { c.observe(gvr, obj) },
			DeleteFunc: func(obj any) { c.forget(obj) },
		})
		c.monitors[r.GVR] = inf
		go inf.Run(ctx.Done())
		synced = append(synced, inf.HasSynced)
	}
	return synced, nil
}

// stripToMeta keeps only apiVersion, kind and metadata in the cache.
func stripToMeta(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	out := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.Object["apiVersion"],
		"kind":       u.Object["kind"],
		"metadata":   u.Object["metadata"],
	}}
	return out, nil
}

func toNode(gvr schema.GroupVersionResource, obj any) *node {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return &node{
		uid: m.GetUID(), gvr: gvr, namespace: m.GetNamespace(), name: m.GetName(),
		resourceVersion: m.GetResourceVersion(),
		owners:          m.GetOwnerReferences(), finalizers: m.GetFinalizers(),
		deleting: m.GetDeletionTimestamp() != nil,
	}
}

func (c *Collector) observe(gvr schema.GroupVersionResource, obj any) {
	n := toNode(gvr, obj)
	if n == nil {
		return
	}
	old := c.graph.upsert(n)
	if len(n.owners) > 0 || (n.deleting && (n.hasFinalizer(orphanFinalizer) || n.hasFinalizer(foregroundFinalizer))) {
		c.queue.Add(string(n.uid))
	}
	if old != nil {
		// Owners this object stopped referencing may be waiting for it.
		for _, r := range old.owners {
			if !slices.ContainsFunc(n.owners, func(x metav1.OwnerReference) bool { return x.UID == r.UID }) {
				c.queue.Add(string(r.UID))
			}
		}
	}
	if n.deleting {
		for _, r := range n.owners {
			c.queue.Add(string(r.UID))
		}
	}
}

func (c *Collector) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	n := c.graph.remove(m.GetUID())
	if n == nil {
		return
	}
	for _, d := range c.graph.dependentsOf(n.uid) {
		c.queue.Add(string(d.uid))
	}
	for _, r := range n.owners {
		c.queue.Add(string(r.UID))
	}
}

// Sync processes the object with the given UID.
func (c *Collector) Sync(ctx context.Context, key string) error {
	n := c.graph.get(types.UID(key))
	if n == nil {
		return nil
	}
	if n.deleting {
		switch {
		case n.hasFinalizer(orphanFinalizer):
			return c.orphanDependents(ctx, n)
		case n.hasFinalizer(foregroundFinalizer):
			return c.deleteDependents(ctx, n)
		}
		return nil
	}
	if len(n.owners) == 0 {
		return nil
	}
	var solid, dangling, waiting []metav1.OwnerReference
	for _, r := range n.owners {
		state, err := c.ownerState(ctx, n, r)
		if err != nil {
			return err
		}
		switch state {
		case ownerAbsent:
			dangling = append(dangling, r)
		case ownerDeletingDependents:
			waiting = append(waiting, r)
		default:
			solid = append(solid, r)
		}
	}
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		drop := map[types.UID]bool{}
		for _, r := range append(dangling, waiting...) {
			drop[r.UID] = true
		}
		keep := slices.DeleteFunc(slices.Clone(n.owners), func(r metav1.OwnerReference) bool { return drop[r.UID] })
		return c.patchOwners(ctx, n, keep)
	case len(waiting) > 0 && c.graph.hasDependents(n.uid):
		return c.delete(ctx, n, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		if n.hasFinalizer(orphanFinalizer) {
			policy = metav1.DeletePropagationOrphan
		} else if n.hasFinalizer(foregroundFinalizer) {
			policy = metav1.DeletePropagationForeground
		}
		return c.delete(ctx, n, policy)
	}
}

type ownerStateT int

const (
	ownerPresent ownerStateT = iota
	ownerAbsent
	ownerDeletingDependents
)

func (c *Collector) ownerState(ctx context.Context, dep *node, r metav1.OwnerReference) (ownerStateT, error) {
	if o := c.graph.get(r.UID); o != nil {
		if o.deleting && o.hasFinalizer(foregroundFinalizer) {
			return ownerDeletingDependents, nil
		}
		return ownerPresent, nil
	}
	// Not in the graph (yet): ask the API server.
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return ownerAbsent, nil
	}
	c.mu.Lock()
	res, ok := c.kinds[schema.GroupKind{Group: gv.Group, Kind: r.Kind}]
	c.mu.Unlock()
	if !ok {
		// Unknown kind: could be an API that is not served yet; don't delete.
		c.queue.AddAfter(string(dep.uid), c.period)
		return ownerPresent, nil
	}
	ns := dep.namespace
	if !res.Namespaced {
		ns = ""
	}
	got, err := c.dyn.Resource(res.GVR).Namespace(ns).Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ownerAbsent, nil
	}
	if err != nil {
		return ownerPresent, fmt.Errorf("look up owner %s %s: %w", r.Kind, r.Name, err)
	}
	if got.GetUID() != r.UID {
		return ownerAbsent, nil
	}
	if got.GetDeletionTimestamp() != nil && slices.Contains(got.GetFinalizers(), foregroundFinalizer) {
		return ownerDeletingDependents, nil
	}
	return ownerPresent, nil
}

func (c *Collector) client(n *node) dynamic.ResourceInterface {
	return c.dyn.Resource(n.gvr).Namespace(n.namespace)
}

func (c *Collector) delete(ctx context.Context, n *node, policy metav1.DeletionPropagation) error {
	c.log.Debug("deleting dependent", slog.String("resource", n.gvr.Resource), slog.String("namespace", n.namespace), slog.String("name", n.name), slog.String("policy", string(policy)))
	uid := n.uid
	err := c.client(n).Delete(ctx, n.name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &policy,
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete %s %s/%s: %w", n.gvr.Resource, n.namespace, n.name, err)
	}
	return nil
}

func (c *Collector) patchOwners(ctx context.Context, n *node, refs []metav1.OwnerReference) error {
	meta := map[string]any{"ownerReferences": refs, "uid": n.uid}
	if len(refs) == 0 {
		meta["ownerReferences"] = nil
	}
	b, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := c.client(n).Patch(ctx, n.name, types.MergePatchType, b, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("patch ownerReferences of %s %s/%s: %w", n.gvr.Resource, n.namespace, n.name, err)
	}
	return nil
}

func (c *Collector) removeFinalizer(ctx context.Context, n *node, f string) error {
	fins := slices.DeleteFunc(slices.Clone(n.finalizers), func(x string) bool { return x == f })
	meta := map[string]any{"finalizers": fins, "resourceVersion": n.resourceVersion}
	if len(fins) == 0 {
		meta["finalizers"] = nil
	}
	b, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := c.client(n).Patch(ctx, n.name, types.MergePatchType, b, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer %s from %s %s/%s: %w", f, n.gvr.Resource, n.namespace, n.name, err)
	}
	return nil
}

// orphanDependents removes the owner from its dependents' ownerReferences,
// then the orphan finalizer from the owner.
func (c *Collector) orphanDependents(ctx context.Context, owner *node) error {
	for _, d := range c.graph.dependentsOf(owner.uid) {
		keep := slices.DeleteFunc(slices.Clone(d.owners), func(r metav1.OwnerReference) bool { return r.UID == owner.uid })
		if err := c.patchOwners(ctx, d, keep); err != nil {
			return err
		}
	}
	return c.removeFinalizer(ctx, owner, orphanFinalizer)
}

// deleteDependents deletes the owner's dependents and, once no dependent
// that blocks owner deletion is left, removes the foregroundDeletion finalizer.
func (c *Collector) deleteDependents(ctx context.Context, owner *node) error {
	blocking := 0
	for _, d := range c.graph.dependentsOf(owner.uid) {
		for _, r := range d.owners {
			if r.UID == owner.uid && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
				blocking++
			}
		}
		if d.deleting {
			continue
		}
		policy := metav1.DeletePropagationBackground
		if c.graph.hasDependents(d.uid) {
			policy = metav1.DeletePropagationForeground
		}
		if err := c.delete(ctx, d, policy); err != nil {
			return err
		}
	}
	if blocking > 0 {
		return nil // dependents' delete events requeue the owner
	}
	return c.removeFinalizer(ctx, owner, foregroundFinalizer)
}
