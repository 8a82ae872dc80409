package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// node is what the collector knows about one object.
type node struct {
	uid             types.UID
	gvr             schema.GroupVersionResource
	namespace, name string
	resourceVersion string
	owners          []metav1.OwnerReference
	finalizers      []string
	deleting        bool
}

func (n *node) hasFinalizer(f string) bool { return slices.Contains(n.finalizers, f) }

// graph indexes objects by UID and owners by their dependents.
type graph struct {
	mu         sync.RWMutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]struct{}
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]struct{}{}}
}

// upsert stores n and returns the previous version, if any.
func (g *graph) upsert(n *node) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[n.uid]
	if old != nil {
		for _, r := range old.owners {
			g.unlink(r.UID, n.uid)
		}
	}
	g.nodes[n.uid] = n
	for _, r := range n.owners {
		deps := g.dependents[r.UID]
		if deps == nil {
			deps = map[types.UID]struct{}{}
			g.dependents[r.UID] = deps
		}
		deps[n.uid] = struct{}{}
	}
	return old
}

func (g *graph) unlink(owner, dep types.UID) {
	if deps := g.dependents[owner]; deps != nil {
		delete(deps, dep)
		if len(deps) == 0 {
			delete(g.dependents, owner)
		}
	}
}

// remove deletes uid and returns the node that was stored.
func (g *graph) remove(uid types.UID) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil {
		return nil
	}
	for _, r := range n.owners {
		g.unlink(r.UID, uid)
	}
	delete(g.nodes, uid)
	return n
}

func (g *graph) get(uid types.UID) *node {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.nodes[uid]
}

// dependentsOf returns the known dependents of owner.
func (g *graph) dependentsOf(owner types.UID) []*node {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []*node
	for uid := range g.dependents[owner] {
		if n := g.nodes[uid]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (g *graph) hasDependents(owner types.UID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.dependents[owner]) > 0
}
