package node

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// refKind is the kind of object a pod references.
type refKind uint8

const (
	secretRef refKind = iota
	configMapRef
	pvcRef
	serviceAccountRef
)

// ref is an object in a pod's namespace that the pod uses.
type ref struct {
	kind      refKind
	namespace string
	name      string
}

type podEntry struct {
	node string
	refs []ref
}

// Graph records, for every node, the objects that pods bound to it
// reference, with a count per object (several pods may share a Secret).
// It is fed with pods (see package feed) and safe for concurrent use.
type Graph struct {
	mu     sync.RWMutex
	pods   map[string]podEntry      // "<ns>/<name>" -> entry
	byNode map[string]map[ref]int32 // node -> referenced object -> pods
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{pods: map[string]podEntry{}, byNode: map[string]map[ref]int32{}}
}

// has reports whether a pod bound to node references r.
func (g *Graph) has(node string, r ref) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.byNode[node][r] > 0
}

// Replace implements feed.Sink.
func (g *Graph) Replace(items []runtime.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pods = map[string]podEntry{}
	g.byNode = map[string]map[ref]int32{}
	for _, it := range items {
		if p, ok := it.(*corev1.Pod); ok {
			g.set(p)
		}
	}
}

// Set implements feed.Sink.
func (g *Graph) Set(obj runtime.Object) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.set(p)
}

// Delete implements feed.Sink.
func (g *Graph) Delete(obj runtime.Object) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.remove(p.Namespace + "/" + p.Name)
}

func (g *Graph) set(p *corev1.Pod) {
	key := p.Namespace + "/" + p.Name
	g.remove(key)
	if p.Spec.NodeName == "" {
		return
	}
	e := podEntry{node: p.Spec.NodeName, refs: podRefs(p)}
	g.pods[key] = e
	m := g.byNode[e.node]
	if m == nil {
		m = map[ref]int32{}
		g.byNode[e.node] = m
	}
	for _, r := range e.refs {
		m[r]++
	}
}

func (g *Graph) remove(key string) {
	e, ok := g.pods[key]
	if !ok {
		return
	}
	delete(g.pods, key)
	m := g.byNode[e.node]
	for _, r := range e.refs {
		if m[r]--; m[r] <= 0 {
			delete(m, r)
		}
	}
	if len(m) == 0 {
		delete(g.byNode, e.node)
	}
}

// podRefs lists the Secrets, ConfigMaps, PersistentVolumeClaims and the
// ServiceAccount a pod uses: volumes (including projected sources and
// generic ephemeral volumes' claims), env and envFrom of every container,
// and imagePullSecrets. Duplicates are removed.
func podRefs(p *corev1.Pod) []ref {
	ns := p.Namespace
	seen := map[ref]bool{}
	var out []ref
	add := func(k refKind, name string) {
		r := ref{k, ns, name}
		if name != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	add(serviceAccountRef, sa)
	for _, s := range p.Spec.ImagePullSecrets {
		add(secretRef, s.Name)
	}
	for _, v := range p.Spec.Volumes {
		switch {
		case v.Secret != nil:
			add(secretRef, v.Secret.SecretName)
		case v.ConfigMap != nil:
			add(configMapRef, v.ConfigMap.Name)
		case v.PersistentVolumeClaim != nil:
			add(pvcRef, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			add(pvcRef, p.Name+"-"+v.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(secretRef, src.Secret.Name)
				}
				if src.ConfigMap != nil {
					add(configMapRef, src.ConfigMap.Name)
				}
			}
		}
	}
	containers := func(cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					add(secretRef, ef.SecretRef.Name)
				}
				if ef.ConfigMapRef != nil {
					add(configMapRef, ef.ConfigMapRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if e.ValueFrom.SecretKeyRef != nil {
					add(secretRef, e.ValueFrom.SecretKeyRef.Name)
				}
				if e.ValueFrom.ConfigMapKeyRef != nil {
					add(configMapRef, e.ValueFrom.ConfigMapKeyRef.Name)
				}
			}
		}
	}
	containers(p.Spec.InitContainers)
	containers(p.Spec.Containers)
	for i := range p.Spec.EphemeralContainers {
		containers([]corev1.Container{corev1.Container(p.Spec.EphemeralContainers[i].EphemeralContainerCommon)})
	}
	return out
}
