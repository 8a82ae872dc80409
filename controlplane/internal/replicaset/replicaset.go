// Package replicaset is the ReplicaSet controller: it creates and deletes
// pods so that each ReplicaSet has spec.replicas active pods, adopts orphans
// that match its selector, releases pods that stop matching, and writes the
// replica counts to status. Expectations keep it from over-creating while its
// own writes are still in flight.
package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/controller"
)

// BurstReplicas caps the pods created or deleted in one sync.
const BurstReplicas = 500

var gvk = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Options configures the controller.
type Options struct {
	Client      kubernetes.Interface
	ReplicaSets appsinformers.ReplicaSetInformer
	Pods        coreinformers.PodInformer
	Recorder    record.EventRecorder
	Log         *slog.Logger
	// Now is the clock (tests); time.Now by default.
	Now func() time.Time
}

// Controller is the ReplicaSet controller.
type Controller struct {
	client   kubernetes.Interface
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	exp    *controller.Expectations
	queue  *controller.Queue
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{
		client:   o.Client,
		rsLister: o.ReplicaSets.Lister(),
		pods:     o.Pods.Lister(),
		recorder: o.Recorder,
		log:      o.Log,
		now:      o.Now,
		exp:      controller.NewExpectations(),
		synced:   []cache.InformerSynced{o.ReplicaSets.Informer().HasSynced, o.Pods.Informer().HasSynced},
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.queue = controller.NewQueue("replicaset", c.Sync, o.Log)
	_, _ = o.ReplicaSets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.AddObj,
		UpdateFunc: func(_, n any) { c.queue.AddObj(n) },
		DeleteFunc: func(obj any) {
			if rs, ok := tombstone[*appsv1.ReplicaSet](obj); ok {
				c.exp.Delete(key(rs))
			}
			c.queue.AddObj(obj)
		},
	})
	_, _ = o.Pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run waits for the caches and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Run(ctx, workers)
}

func key(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func tombstone[T any](obj any) (T, bool) {
	if t, ok := obj.(T); ok {
		return t, true
	}
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		t, ok := d.Obj.(T)
		return t, ok
	}
	var zero T
	return zero, false
}

// owner resolves a pod's controller reference to a ReplicaSet in the cache.
func (c *Controller) owner(ns string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

func (c *Controller) matching(p *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.rsLister.ReplicaSets(p.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		c.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		if rs := c.owner(p.Namespace, ref); rs != nil {
			c.exp.CreationObserved(key(rs))
			c.queue.Add(key(rs))
		}
		return
	}
	for _, rs := range c.matching(p) {
		c.queue.Add(key(rs))
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion != "" && old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// Graceful deletion started: the pod no longer counts, treat it as deleted.
		c.deletePod(cur)
		if !apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) {
			c.deletePod(old)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if rs := c.owner(old.Namespace, oldRef); rs != nil {
			c.queue.Add(key(rs))
		}
	}
	if curRef != nil {
		if rs := c.owner(cur.Namespace, curRef); rs != nil {
			c.queue.Add(key(rs))
			if !controller.IsPodReady(old) && controller.IsPodReady(cur) && rs.Spec.MinReadySeconds > 0 {
				c.queue.AddAfter(key(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if !apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) || curRef == nil {
		for _, rs := range c.matching(cur) {
			c.queue.Add(key(rs))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	p, ok := tombstone[*corev1.Pod](obj)
	if !ok {
		return
	}
	rs := c.owner(p.Namespace, metav1.GetControllerOf(p))
	if rs == nil {
		return
	}
	c.exp.DeletionObserved(key(rs), string(p.UID))
	c.queue.Add(key(rs))
}

// Sync reconciles the ReplicaSet named by key ("namespace/name").
func (c *Controller) Sync(ctx context.Context, k string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(k)
		return nil
	}
	if err != nil {
		return err
	}
	satisfied := c.exp.Satisfied(k)
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(rs, corev1.EventTypeWarning, "InvalidSelector", "invalid selector: %v", err)
		return nil
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var candidates []*corev1.Pod
	for _, p := range all {
		if controller.IsPodActive(p) {
			candidates = append(candidates, p)
		}
	}
	claimer := &controller.Claimer{
		Owner: rs, OwnerGVK: gvk, Selector: sel,
		Patch: func(ctx context.Context, ns, name string, b []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
			return err
		},
		CanAdopt: func(ctx context.Context) error {
			fresh, err := c.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if fresh.UID != rs.UID || fresh.DeletionTimestamp != nil {
				return fmt.Errorf("replicaset %s is gone or being deleted", k)
			}
			return nil
		},
	}
	pods, claimErr := controller.Claim(ctx, claimer, candidates)

	var manageErr error
	if satisfied && rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, rs, pods)
	}
	status := c.status(rs, pods, manageErr)
	if err := c.writeStatus(ctx, rs, status); err != nil {
		return err
	}
	if manageErr == nil && rs.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
		c.queue.AddAfter(k, time.Duration(rs.Spec.MinReadySeconds)*time.Second)
	}
	if manageErr != nil {
		return manageErr
	}
	return claimErr
}

func desired(rs *appsv1.ReplicaSet) int {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return int(*rs.Spec.Replicas)
}

func (c *Controller) manage(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	k := key(rs)
	diff := len(pods) - desired(rs)
	switch {
	case diff < 0:
		n := min(-diff, BurstReplicas)
		c.log.Debug("creating pods", slog.String("replicaset", k), slog.Int("have", len(pods)), slog.Int("want", desired(rs)), slog.String("rv", rs.ResourceVersion))
		c.exp.ExpectCreations(k, n)
		ref := controller.OwnerRef(rs, gvk)
		created, err := controller.SlowStartBatch(n, 1, func(int) error {
			pod := controller.PodFromTemplate(&rs.Spec.Template, rs.Namespace, rs.Name+"-", &ref)
			_, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				return err
			}
			c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
			return nil
		})
		if err != nil {
			// Creates that never happened will never be observed.
			for range n - created {
				c.exp.CreationObserved(k)
			}
			return fmt.Errorf("create pods for %s: %w", k, err)
		}
	case diff > 0:
		n := min(diff, BurstReplicas)
		c.log.Debug("deleting pods", slog.String("replicaset", k), slog.Int("have", len(pods)), slog.Int("want", desired(rs)), slog.String("rv", rs.ResourceVersion))
		victims := PodsToDelete(pods, n)
		uids := make([]string, len(victims))
		for i, p := range victims {
			uids[i] = string(p.UID)
		}
		c.exp.ExpectDeletions(k, uids)
		_, err := controller.SlowStartBatch(len(victims), len(victims), func(i int) error {
			p := victims[i]
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &p.UID},
			})
			if err != nil {
				c.exp.DeletionObserved(k, string(p.UID))
				if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
					return nil
				}
				c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				return err
			}
			c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete pods of %s: %w", k, err)
		}
	}
	return nil
}

// PodsToDelete picks the n pods that are cheapest to lose: unscheduled
// before scheduled, pending before running, not ready before ready, recently
// ready before long ready, more restarts first, newer first.
func PodsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	sorted := slices.Clone(pods)
	slices.SortStableFunc(sorted, func(a, b *corev1.Pod) int {
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			if a.Spec.NodeName == "" {
				return -1
			}
			return 1
		}
		if pa, pb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); pa != pb {
			return pa - pb
		}
		ra, rb := controller.IsPodReady(a), controller.IsPodReady(b)
		if ra != rb {
			if !ra {
				return -1
			}
			return 1
		}
		if ra && rb {
			ta, tb := controller.PodReadyCondition(a).LastTransitionTime, controller.PodReadyCondition(b).LastTransitionTime
			if !ta.Equal(&tb) {
				if tb.Before(&ta) {
					return -1
				}
				return 1
			}
		}
		if xa, xb := restarts(a), restarts(b); xa != xb {
			return int(xb - xa)
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			if b.CreationTimestamp.Before(&a.CreationTimestamp) {
				return -1
			}
			return 1
		}
		return 0
	})
	return sorted[:min(n, len(sorted))]
}

func phaseRank(p corev1.PodPhase) int {
	switch p {
	case corev1.PodPending:
		return 0
	case corev1.PodUnknown:
		return 1
	case corev1.PodRunning:
		return 2
	}
	return 3
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}

func (c *Controller) status(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) appsv1.ReplicaSetStatus {
	s := *rs.Status.DeepCopy()
	s.Replicas = int32(len(pods))
	tmpl := labels.Set(rs.Spec.Template.Labels)
	s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas = 0, 0, 0
	now := c.now()
	for _, p := range pods {
		if labels.SelectorFromSet(tmpl).Matches(labels.Set(p.Labels)) {
			s.FullyLabeledReplicas++
		}
		if controller.IsPodReady(p) {
			s.ReadyReplicas++
			if controller.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				s.AvailableReplicas++
			}
		}
	}
	s.ObservedGeneration = rs.Generation
	cond := -1
	for i, c := range s.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure {
			cond = i
		}
	}
	switch {
	case manageErr != nil && cond < 0:
		reason := "FailedCreate"
		if len(pods) > desired(rs) {
			reason = "FailedDelete"
		}
		s.Conditions = append(s.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && cond >= 0:
		s.Conditions = slices.Delete(s.Conditions, cond, cond+1)
	}
	return s
}

func (c *Controller) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, s appsv1.ReplicaSetStatus) error {
	if apiequality.Semantic.DeepEqual(rs.Status, s) {
		return nil
	}
	cp := rs.DeepCopy()
	cp.Status = s
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of %s: %w", key(rs), err)
	}
	return nil
}
