package framework

import (
	"sort"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

func labelSelectorAsSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}

// NodeInfo is a node with the pods placed on it (bound or assumed) and the
// aggregates plugins need. NodeInfos in a Snapshot are immutable: the cache
// replaces a changed node's NodeInfo with a fresh shallow clone, so a cycle
// reads them without locks or deep copies.
type NodeInfo struct {
	node *v1.Node

	Pods                         []*PodInfo
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	UsedPorts                    []HostPort

	// Requested sums the pods' requests; NonZeroRequested uses the default
	// requests for pods that declare none (for scoring). They are values,
	// not pointers, so that filtering a node reads one object, not four.
	Requested        Resource
	NonZeroRequested Resource
	Allocatable      Resource

	// Generation increases on every change; the snapshot copies only
	// nodes whose generation moved.
	Generation int64
}

// NewNodeInfo returns an empty NodeInfo holding pods.
func NewNodeInfo(pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{}
	for _, p := range pods {
		ni.AddPodInfo(NewPodInfo(p))
	}
	return ni
}

// Node returns the node object (nil when the node is gone but pods remain).
func (n *NodeInfo) Node() *v1.Node { return n.node }

// Name returns the node name, or "" when there is no node.
func (n *NodeInfo) Name() string {
	if n.node == nil {
		return ""
	}
	return n.node.Name
}

// SetNode sets the node object and its allocatable resources.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.Allocatable = *NewResource(node.Status.Allocatable)
}

// RemoveNode clears the node object, keeping pods.
func (n *NodeInfo) RemoveNode() { n.node = nil }

// AddPodInfo accounts a pod on the node.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if len(pi.RequiredAffinityTerms)+len(pi.RequiredAntiAffinityTerms)+len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0 {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

// RemovePod removes the pod with the given UID; it reports whether it was there.
func (n *NodeInfo) RemovePod(uid types.UID) bool {
	n.PodsWithAffinity = removeFrom(n.PodsWithAffinity, uid)
	n.PodsWithRequiredAntiAffinity = removeFrom(n.PodsWithRequiredAntiAffinity, uid)
	for i, pi := range n.Pods {
		if pi.Pod.UID != uid {
			continue
		}
		last := len(n.Pods) - 1
		n.Pods[i] = n.Pods[last]
		n.Pods[last] = nil
		n.Pods = n.Pods[:last]
		n.update(pi, -1)
		return true
	}
	return false
}

func removeFrom(list []*PodInfo, uid types.UID) []*PodInfo {
	for i, pi := range list {
		if pi.Pod.UID == uid {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			return list[:last]
		}
	}
	return list
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	n.Requested.AddResource(&pi.Requests, sign)
	n.NonZeroRequested.MilliCPU += sign * pi.NonZeroCPU
	n.NonZeroRequested.Memory += sign * pi.NonZeroMemory
	ports := HostPorts(pi.Pod)
	if sign > 0 {
		n.UsedPorts = append(n.UsedPorts, ports...)
		return
	}
	for _, p := range ports {
		for i, u := range n.UsedPorts {
			if u == p {
				n.UsedPorts = append(n.UsedPorts[:i], n.UsedPorts[i+1:]...)
				break
			}
		}
	}
}

// Clone returns a shallow clone that can be mutated (pods added or removed)
// without affecting n: slices and resources are copied, pods are shared.
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		node:                         n.node,
		Pods:                         append([]*PodInfo(nil), n.Pods...),
		PodsWithAffinity:             append([]*PodInfo(nil), n.PodsWithAffinity...),
		PodsWithRequiredAntiAffinity: append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...),
		UsedPorts:                    append([]HostPort(nil), n.UsedPorts...),
		Requested:                    *n.Requested.Clone(),
		NonZeroRequested:             *n.NonZeroRequested.Clone(),
		Allocatable:                  *n.Allocatable.Clone(),
		Generation:                   n.Generation,
	}
	return c
}

// Snapshot is an immutable view of the cluster for one scheduling cycle.
type Snapshot struct {
	// NodeInfoList holds every node that has a Node object, in a stable order.
	NodeInfoList []*NodeInfo
	// HavePodsWithAffinityList and HavePodsWithRequiredAntiAffinityList are
	// the subsets of NodeInfoList that InterPodAffinity must look at.
	HavePodsWithAffinityList             []*NodeInfo
	HavePodsWithRequiredAntiAffinityList []*NodeInfo
	// NodeInfoMap indexes NodeInfoList by name.
	NodeInfoMap map[string]*NodeInfo
	// ImageNodes counts, per image name, the nodes that have it.
	ImageNodes map[string]int
	// Generation is the cache generation the snapshot reflects.
	Generation int64

	index map[string]int
}

// NewSnapshot builds a snapshot from node infos (tests and benchmarks).
func NewSnapshot(infos ...*NodeInfo) *Snapshot {
	s := &Snapshot{NodeInfoMap: map[string]*NodeInfo{}, ImageNodes: map[string]int{}}
	for _, ni := range infos {
		s.NodeInfoMap[ni.Name()] = ni
	}
	s.Rebuild()
	return s
}

// Rebuild recomputes the lists from NodeInfoMap.
func (s *Snapshot) Rebuild() {
	s.NodeInfoList = s.NodeInfoList[:0]
	s.HavePodsWithAffinityList = s.HavePodsWithAffinityList[:0]
	s.HavePodsWithRequiredAntiAffinityList = s.HavePodsWithRequiredAntiAffinityList[:0]
	clear(s.ImageNodes)
	for _, ni := range s.NodeInfoMap {
		if ni.Node() == nil {
			continue
		}
		s.NodeInfoList = append(s.NodeInfoList, ni)
		if len(ni.PodsWithAffinity) > 0 {
			s.HavePodsWithAffinityList = append(s.HavePodsWithAffinityList, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.HavePodsWithRequiredAntiAffinityList = append(s.HavePodsWithRequiredAntiAffinityList, ni)
		}
		for _, img := range ni.Node().Status.Images {
			for _, name := range img.Names {
				s.ImageNodes[name]++
			}
		}
	}
	sort.Slice(s.NodeInfoList, func(i, j int) bool { return s.NodeInfoList[i].Name() < s.NodeInfoList[j].Name() })
	if s.index == nil {
		s.index = make(map[string]int, len(s.NodeInfoList))
	}
	clear(s.index)
	for i, ni := range s.NodeInfoList {
		s.index[ni.Name()] = i
	}
}

// Replace swaps in a new NodeInfo for a node already in the snapshot whose
// Node object is unchanged apart from pods. It reports false when the
// caller must Rebuild instead (new node, or affinity membership changed).
func (s *Snapshot) Replace(ni *NodeInfo) bool {
	old, ok := s.NodeInfoMap[ni.Name()]
	i, ok2 := s.index[ni.Name()]
	if !ok || !ok2 || old.Node() != ni.Node() {
		return false
	}
	if (len(old.PodsWithAffinity) > 0) != (len(ni.PodsWithAffinity) > 0) ||
		(len(old.PodsWithRequiredAntiAffinity) > 0) != (len(ni.PodsWithRequiredAntiAffinity) > 0) {
		return false
	}
	s.NodeInfoMap[ni.Name()] = ni
	s.NodeInfoList[i] = ni
	if len(ni.PodsWithAffinity) > 0 {
		replaceIn(s.HavePodsWithAffinityList, ni)
	}
	if len(ni.PodsWithRequiredAntiAffinity) > 0 {
		replaceIn(s.HavePodsWithRequiredAntiAffinityList, ni)
	}
	return true
}

func replaceIn(list []*NodeInfo, ni *NodeInfo) {
	for i := range list {
		if list[i].Name() == ni.Name() {
			list[i] = ni
			return
		}
	}
}

// Get returns a node's info, or nil.
func (s *Snapshot) Get(name string) *NodeInfo { return s.NodeInfoMap[name] }
