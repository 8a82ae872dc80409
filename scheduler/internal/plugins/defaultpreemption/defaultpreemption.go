// Package defaultpreemption is the DefaultPreemption PostFilter plugin:
// when no node fits a pod, it looks for a node where evicting pods of lower
// priority makes room, picks the cheapest such node, deletes the victims
// and nominates the node in the pod's status.
package defaultpreemption

import (
	"context"
	"errors"
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// Plugin implements framework.PostFilterPlugin.
type Plugin struct {
	h framework.Handle
}

// New returns the plugin.
func New(h framework.Handle) *Plugin { return &Plugin{h: h} }

// Name returns "DefaultPreemption".
func (*Plugin) Name() string { return names.DefaultPreemption }

// Candidate is a node and the pods to evict from it.
type Candidate struct {
	Node    string
	Victims []*framework.PodInfo
}

// PostFilter tries to make room for pod by preempting lower-priority pods.
func (p *Plugin) PostFilter(ctx context.Context, cs *framework.CycleState, pi *framework.PodInfo, snap *framework.Snapshot, statuses map[string]*framework.Status) (*framework.PostFilterResult, *framework.Status) {
	pod := pi.Pod
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return nil, framework.NewStatus(framework.Unschedulable, "not eligible due to preemptionPolicy=Never")
	}
	if !eligible(pod, snap) {
		return nil, framework.NewStatus(framework.Unschedulable, "not eligible: victims on the nominated node are still terminating")
	}
	c := FindCandidate(ctx, p.h.Framework(), cs, pi, snap, statuses)
	if c == nil {
		return nil, framework.NewStatus(framework.Unschedulable, "no preemption victims found for incoming pod")
	}
	client := p.h.ClientSet()
	for _, v := range c.Victims {
		err := client.CoreV1().Pods(v.Pod.Namespace).Delete(ctx, v.Pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &v.Pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return nil, framework.AsStatus(fmt.Errorf("preempt %s/%s: %w", v.Pod.Namespace, v.Pod.Name, err))
		}
	}
	if err := setNominatedNode(ctx, p.h, pod, c.Node); err != nil {
		return nil, framework.AsStatus(err)
	}
	return &framework.PostFilterResult{NominatedNodeName: c.Node}, nil
}

// eligible refuses a second preemption while victims on the pod's
// nominated node are still terminating.
func eligible(pod *v1.Pod, snap *framework.Snapshot) bool {
	nom := pod.Status.NominatedNodeName
	if nom == "" {
		return true
	}
	ni := snap.Get(nom)
	if ni == nil {
		return true
	}
	prio := framework.PodPriority(pod)
	for _, ep := range ni.Pods {
		if ep.Pod.DeletionTimestamp != nil && framework.PodPriority(ep.Pod) < prio {
			return false
		}
	}
	return true
}

func setNominatedNode(ctx context.Context, h framework.Handle, pod *v1.Pod, node string) error {
	pods := h.ClientSet().CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID {
			return apierrors.NewNotFound(v1.Resource("pods"), pod.Name)
		}
		if cur.Status.NominatedNodeName == node {
			return nil
		}
		cur.Status.NominatedNodeName = node
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("set nominatedNodeName of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// FindCandidate evaluates every node rejected as Unschedulable (not
// Unresolvable) and returns the one whose eviction set is cheapest:
// lowest highest-victim priority, then lowest priority sum, then fewest
// victims. It returns nil when no node can be freed.
func FindCandidate(ctx context.Context, fwk *framework.Framework, cs *framework.CycleState, pi *framework.PodInfo, snap *framework.Snapshot, statuses map[string]*framework.Status) *Candidate {
	prio := framework.PodPriority(pi.Pod)
	var best *Candidate
	var bestKey [3]int64
	for name, st := range statuses {
		if st.Code() != framework.Unschedulable {
			continue
		}
		ni := snap.Get(name)
		if ni == nil {
			continue
		}
		victims := selectVictims(ctx, fwk, cs, pi, ni, prio)
		if victims == nil {
			continue
		}
		var hi, sum int64 = -1 << 31, 0
		for _, v := range victims {
			p := int64(framework.PodPriority(v.Pod))
			hi = max(hi, p)
			sum += p
		}
		key := [3]int64{hi, sum, int64(len(victims))}
		if best == nil || less(key, bestKey) || (key == bestKey && name < best.Node) {
			best, bestKey = &Candidate{Node: name, Victims: victims}, key
		}
	}
	return best
}

func less(a, b [3]int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

var errNoFit = errors.New("does not fit")

// selectVictims removes every lower-priority pod, checks the pod then
// fits, and adds back (reprieves) as many as possible, highest priority
// first. It returns nil when the node cannot fit the pod at all.
func selectVictims(ctx context.Context, fwk *framework.Framework, cs *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo, prio int32) []*framework.PodInfo {
	clone := ni.Clone()
	var potential []*framework.PodInfo
	for _, ep := range ni.Pods {
		if framework.PodPriority(ep.Pod) < prio && ep.Pod.DeletionTimestamp == nil {
			potential = append(potential, ep)
			clone.RemovePod(ep.Pod.UID)
		}
	}
	if len(potential) == 0 {
		return nil
	}
	fits := func() error {
		if st := fwk.RunFilters(ctx, cs, pi, clone); !st.IsSuccess() {
			return errNoFit
		}
		return nil
	}
	if fits() != nil {
		return nil
	}
	sort.SliceStable(potential, func(i, j int) bool {
		pi, pj := framework.PodPriority(potential[i].Pod), framework.PodPriority(potential[j].Pod)
		if pi != pj {
			return pi > pj
		}
		return potential[i].Pod.CreationTimestamp.Before(&potential[j].Pod.CreationTimestamp)
	})
	var victims []*framework.PodInfo
	for _, v := range potential {
		clone.AddPodInfo(v)
		if fits() != nil {
			clone.RemovePod(v.Pod.UID)
			victims = append(victims, v)
		}
	}
	return victims
}
