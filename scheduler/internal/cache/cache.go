// Package cache is the scheduler's view of the cluster: nodes and the pods
// placed on them, including pods the scheduler has assumed onto a node but
// whose binding has not yet round-tripped through the apiserver, so each
// cycle sees the previous cycle's decision. UpdateSnapshot hands the
// scheduling loop an immutable, incrementally refreshed Snapshot.
package cache

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/scheduler/internal/framework"
)

type podState struct {
	pod             *v1.Pod
	info            *framework.PodInfo
	assumed         bool
	bindingFinished bool
	deadline        time.Time
}

// Cache holds nodes and pods. It is safe for concurrent use.
type Cache struct {
	mu         sync.Mutex
	nodes      map[string]*framework.NodeInfo
	pods       map[types.UID]*podState
	generation int64
	// dirty lists nodes changed since the last UpdateSnapshot; structural
	// is set when the node set or a Node object changed.
	dirty      map[string]struct{}
	structural bool
	ttl        time.Duration
	log        *slog.Logger
	now        func() time.Time
}

// Options configures a Cache.
type Options struct {
	// AssumedTTL is how long an assumed pod whose binding finished waits
	// for the informer to confirm it before it is expired (default 30s).
	AssumedTTL time.Duration
	Logger     *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
}

// New returns an empty cache.
func New(opts Options) *Cache {
	if opts.AssumedTTL <= 0 {
		opts.AssumedTTL = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache{
		nodes: map[string]*framework.NodeInfo{},
		pods:  map[types.UID]*podState{},
		dirty: map[string]struct{}{},
		ttl:   opts.AssumedTTL,
		log:   opts.Logger,
		now:   opts.Now,
	}
}

// mutate replaces a node's NodeInfo with a clone (copy-on-write, so
// snapshots holding the old one stay valid) and returns the clone.
func (c *Cache) mutate(name string) *framework.NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		ni = framework.NewNodeInfo()
		c.structural = true
	} else {
		ni = ni.Clone()
	}
	c.generation++
	ni.Generation = c.generation
	c.nodes[name] = ni
	c.dirty[name] = struct{}{}
	return ni
}

func (c *Cache) addPodLocked(pi *framework.PodInfo, assumed bool) *podState {
	pod := pi.Pod
	ps := &podState{pod: pod, info: pi, assumed: assumed}
	c.mutate(pod.Spec.NodeName).AddPodInfo(ps.info)
	c.pods[pod.UID] = ps
	return ps
}

func (c *Cache) removePodLocked(ps *podState) {
	name := ps.pod.Spec.NodeName
	ni := c.mutate(name)
	ni.RemovePod(ps.pod.UID)
	if ni.Node() == nil && len(ni.Pods) == 0 {
		delete(c.nodes, name)
		c.structural = true
	}
	delete(c.pods, ps.pod.UID)
}

// AssumePod records pod (with Spec.NodeName set) as placed before binding.
func (c *Cache) AssumePod(pod *v1.Pod) error { return c.AssumePodInfo(framework.NewPodInfo(pod)) }

// AssumePodInfo is AssumePod for a pod whose PodInfo the caller already
// has (the scheduling cycle's, with Pod replaced by the assumed copy).
func (c *Cache) AssumePodInfo(pi *framework.PodInfo) error {
	pod := pi.Pod
	c.mu.Lock()
	defer c.mu.Unlock()
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("assume pod %s/%s: no node name", pod.Namespace, pod.Name)
	}
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("assume pod %s/%s: already in the cache", pod.Namespace, pod.Name)
	}
	c.addPodLocked(pi, true)
	return nil
}

// FinishBinding starts the expiry clock of an assumed pod.
func (c *Cache) FinishBinding(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		ps.bindingFinished = true
		ps.deadline = c.now().Add(c.ttl)
	}
}

// ForgetPod drops an assumed pod (binding failed or lost).
func (c *Cache) ForgetPod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		c.removePodLocked(ps)
	}
}

// AddPod records an assigned pod seen by the informer, confirming (and if
// another scheduler won, moving) an assumed pod.
func (c *Cache) AddPod(pod *v1.Pod) {
	c.mu.Lock()
	ps, ok := c.pods[pod.UID]
	var pi *framework.PodInfo
	if ok && ps.assumed && ps.pod.Spec.NodeName == pod.Spec.NodeName && framework.SameRequests(ps.pod, pod) {
		// The binding of our assumed pod came back: what the PodInfo
		// derives from the spec is unchanged, so it is not recomputed.
		pi = ps.info.WithPod(pod)
	}
	c.mu.Unlock()
	if pi == nil {
		pi = framework.NewPodInfo(pod) // outside the lock: it is the costly part
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok {
		if ps.assumed && ps.pod.Spec.NodeName != pod.Spec.NodeName {
			c.log.Info("assumed pod bound elsewhere", slog.String("pod", pod.Namespace+"/"+pod.Name),
				slog.String("assumed", ps.pod.Spec.NodeName), slog.String("actual", pod.Spec.NodeName))
		}
		c.removePodLocked(ps)
	}
	c.addPodLocked(pi, false)
}

// UpdatePod replaces an assigned pod.
func (c *Cache) UpdatePod(pod *v1.Pod) { c.AddPod(pod) }

// RemovePod drops a pod (deleted, or finished).
func (c *Cache) RemovePod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok {
		c.removePodLocked(ps)
	}
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}

// Has reports whether the cache holds the pod (assumed or confirmed).
func (c *Cache) Has(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pods[uid]
	return ok
}

// AddNode adds or updates a node.
func (c *Cache) AddNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mutate(node.Name).SetNode(node)
	c.structural = true
}

// UpdateNode replaces a node object.
func (c *Cache) UpdateNode(node *v1.Node) { c.AddNode(node) }

// RemoveNode drops a node; its pods stay until they are deleted.
func (c *Cache) RemoveNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.nodes[node.Name]; !ok {
		return
	}
	ni := c.mutate(node.Name)
	ni.RemoveNode()
	if len(ni.Pods) == 0 {
		delete(c.nodes, node.Name)
	}
	c.structural = true
}

// Cleanup expires assumed pods whose binding finished more than the TTL
// ago without the informer confirming them.
func (c *Cache) Cleanup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, ps := range c.pods {
		if ps.assumed && ps.bindingFinished && now.After(ps.deadline) {
			c.log.Warn("assumed pod expired", slog.String("pod", ps.pod.Namespace+"/"+ps.pod.Name), slog.String("node", ps.pod.Spec.NodeName))
			c.removePodLocked(ps)
		}
	}
}

// Counts returns the number of nodes (with Node objects) and pods.
func (c *Cache) Counts() (nodes, pods int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ni := range c.nodes {
		if ni.Node() != nil {
			nodes++
		}
	}
	return nodes, len(c.pods)
}

// NewSnapshot returns an empty snapshot to pass to UpdateSnapshot.
func NewSnapshot() *framework.Snapshot { return framework.NewSnapshot() }

// UpdateSnapshot brings snap up to date, copying only nodes that changed.
func (c *Cache) UpdateSnapshot(snap *framework.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation == snap.Generation {
		return
	}
	rebuild := c.structural
	if snap.Generation == 0 {
		for name := range c.nodes {
			c.dirty[name] = struct{}{}
		}
		rebuild = true
	}
	for name := range c.dirty {
		ni, ok := c.nodes[name]
		if !ok {
			delete(snap.NodeInfoMap, name)
			rebuild = true
			continue
		}
		if !rebuild && !snap.Replace(ni) {
			rebuild = true
		}
		snap.NodeInfoMap[name] = ni
	}
	if rebuild {
		for name := range snap.NodeInfoMap {
			if _, ok := c.nodes[name]; !ok {
				delete(snap.NodeInfoMap, name)
			}
		}
		snap.Rebuild()
	}
	clear(c.dirty)
	c.structural = false
	snap.Generation = c.generation
}
