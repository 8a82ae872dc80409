// Package statefulset is the StatefulSet controller: pods get stable names
// <set>-<ordinal>, stable hostnames under spec.serviceName and their own
// PersistentVolumeClaims from volumeClaimTemplates. With OrderedReady,
// ordinal i is created only once 0..i-1 are Running and Ready and scale-down
// removes the highest ordinal first, one at a time; Parallel acts on all at
// once. RollingUpdate replaces pods whose revision is out of date from the
// highest ordinal down to spec.updateStrategy.rollingUpdate.partition;
// template history is kept as ControllerRevisions.
package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/controller"
)

var gvk = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Labels set on every StatefulSet pod, as upstream.
const (
	PodNameLabel  = appsv1.StatefulSetPodNameLabel
	PodIndexLabel = appsv1.PodIndexLabel
)

// Options configures the controller.
type Options struct {
	Client       kubernetes.Interface
	StatefulSets appsinformers.StatefulSetInformer
	Pods         coreinformers.PodInformer
	Recorder     record.EventRecorder
	Log          *slog.Logger
}

// Controller is the StatefulSet controller.
type Controller struct {
	o      Options
	sets   appslisters.StatefulSetLister
	pods   corelisters.PodLister
	queue  *controller.Queue
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{o: o, sets: o.StatefulSets.Lister(), pods: o.Pods.Lister(),
		synced: []cache.InformerSynced{o.StatefulSets.Informer().HasSynced, o.Pods.Informer().HasSynced}}
	c.queue = controller.NewQueue("statefulset", c.Sync, o.Log)
	_, _ = o.StatefulSets.Informer().AddEventHandler(c.queue.Handler())
	podEvent := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "StatefulSet" {
				c.queue.Add(p.Namespace + "/" + ref.Name)
			}
		}
	}
	_, _ = o.Pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: podEvent, UpdateFunc: func(_, n any) { podEvent(n) }, DeleteFunc: podEvent,
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

var ordinalRE = regexp.MustCompile(`^(.+)-(\d+)$`)

// ordinal parses the ordinal from a pod name of set, or -1.
func ordinal(set, pod string) int {
	m := ordinalRE.FindStringSubmatch(pod)
	if m == nil || m[1] != set {
		return -1
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return -1
	}
	return n
}

// Revision is the revision name of set's current template.
func Revision(set *appsv1.StatefulSet) string {
	return set.Name + "-" + controller.HashTemplate(&set.Spec.Template)
}

func runningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && controller.IsPodReady(p) && p.DeletionTimestamp == nil
}

// Sync reconciles the StatefulSet named by key.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	set := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		c.o.Recorder.Event(set, corev1.EventTypeWarning, "SelectingAll", "This statefulset is selecting all pods. A non-empty selector is required.")
		return nil
	}
	all, err := c.pods.Pods(ns).List(sel)
	if err != nil {
		return err
	}
	replicas := 1
	if set.Spec.Replicas != nil {
		replicas = int(*set.Spec.Replicas)
	}
	start := 0
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	rev := Revision(set)
	if set.DeletionTimestamp == nil {
		limit := int32(10)
		if set.Spec.RevisionHistoryLimit != nil {
			limit = *set.Spec.RevisionHistoryLimit
		}
		if _, err := controller.EnsureRevision(ctx, controller.RevisionOptions{
			Client: c.o.Client, Owner: set, OwnerGVK: gvk, Selector: set.Spec.Selector, Template: &set.Spec.Template,
			Hash: controller.HashTemplate(&set.Spec.Template), Limit: limit,
		}); err != nil {
			// History is for `kubectl rollout history`; the rollout itself goes on.
			c.o.Log.Warn("statefulset revision history", slog.String("statefulset", key), slog.Any("err", err))
		}
	}
	byOrdinal := map[int]*corev1.Pod{}
	for _, p := range all {
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.UID != set.UID {
			continue
		}
		if o := ordinal(set.Name, p.Name); o >= 0 {
			byOrdinal[o] = p
		}
	}
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	s := appsv1.StatefulSetStatus{ObservedGeneration: set.Generation, UpdateRevision: rev, CurrentRevision: set.Status.CurrentRevision, CollisionCount: set.Status.CollisionCount}
	if s.CurrentRevision == "" {
		s.CurrentRevision = rev
	}
	for o, p := range byOrdinal {
		if o < start || o >= start+replicas {
			continue
		}
		s.Replicas++
		if runningAndReady(p) {
			s.ReadyReplicas++
			s.AvailableReplicas++
		}
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == rev {
			s.UpdatedReplicas++
		} else {
			s.CurrentReplicas++
		}
	}
	if s.UpdatedReplicas == int32(replicas) && s.ReadyReplicas == int32(replicas) {
		s.CurrentRevision = rev
		s.CurrentReplicas = s.UpdatedReplicas
	} else if s.CurrentRevision == rev {
		s.CurrentReplicas = s.UpdatedReplicas
	}
	actErr := c.act(ctx, set, byOrdinal, start, replicas, rev, parallel)
	if !apiequality.Semantic.DeepEqual(set.Status, s) {
		set.Status = s
		if _, err := c.o.Client.AppsV1().StatefulSets(ns).UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status of statefulset %s: %w", key, err)
		}
	}
	return actErr
}

// act takes at most one ordered step (or every step when parallel).
func (c *Controller) act(ctx context.Context, set *appsv1.StatefulSet, pods map[int]*corev1.Pod, start, replicas int, rev string, parallel bool) error {
	if set.DeletionTimestamp != nil {
		return nil
	}
	// Create missing pods and replace failed ones, in ordinal order.
	for o := start; o < start+replicas; o++ {
		p := pods[o]
		if p != nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) && p.DeletionTimestamp == nil {
			if err := c.deletePod(ctx, set, p); err != nil {
				return err
			}
			if !parallel {
				return nil
			}
			continue
		}
		if p == nil {
			if err := c.createPod(ctx, set, o, rev); err != nil {
				return err
			}
			if !parallel {
				return nil
			}
			continue
		}
		if !parallel && !runningAndReady(p) {
			return nil // wait for this ordinal before the next
		}
	}
	// Scale down: remove ordinals beyond the range, highest first.
	var extra []int
	for o := range pods {
		if o < start || o >= start+replicas {
			extra = append(extra, o)
		}
	}
	if len(extra) > 0 {
		sortDesc(extra)
		for _, o := range extra {
			p := pods[o]
			if p.DeletionTimestamp != nil {
				if !parallel {
					return nil
				}
				continue
			}
			if err := c.deletePod(ctx, set, p); err != nil {
				return err
			}
			if !parallel {
				return nil
			}
		}
		return nil
	}
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return nil
	}
	// Rolling update from the highest ordinal down to the partition, one at a time,
	// only while every pod is running and ready.
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for o := start; o < start+replicas; o++ {
		if p := pods[o]; p == nil || !runningAndReady(p) {
			return nil
		}
	}
	for o := start + replicas - 1; o >= start+partition; o-- {
		p := pods[o]
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] != rev {
			return c.deletePod(ctx, set, p)
		}
	}
	return nil
}

func sortDesc(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] > a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, o int, rev string) error {
	name := fmt.Sprintf("%s-%d", set.Name, o)
	ref := controller.OwnerRef(set, gvk)
	pod := controller.PodFromTemplate(&set.Spec.Template, set.Namespace, "", &ref)
	pod.Name, pod.GenerateName = name, ""
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[PodNameLabel] = name
	pod.Labels[PodIndexLabel] = strconv.Itoa(o)
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = rev
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	for _, tmpl := range set.Spec.VolumeClaimTemplates {
		claim := fmt.Sprintf("%s-%s", tmpl.Name, name)
		if err := c.ensureClaim(ctx, set, tmpl, claim); err != nil {
			return err
		}
		vol := corev1.Volume{Name: tmpl.Name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
		replaced := false
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == tmpl.Name {
				pod.Spec.Volumes[i], replaced = vol, true
			}
		}
		if !replaced {
			pod.Spec.Volumes = append(pod.Spec.Volumes, vol)
		}
	}
	_, err := c.o.Client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if err != nil {
		c.o.Recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", name, set.Name, err)
		return fmt.Errorf("create pod %s: %w", name, err)
	}
	c.o.Recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", name, set.Name)
	return nil
}

func (c *Controller) ensureClaim(ctx context.Context, set *appsv1.StatefulSet, tmpl corev1.PersistentVolumeClaim, name string) error {
	if _, err := c.o.Client.CoreV1().PersistentVolumeClaims(set.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	}
	claim := tmpl.DeepCopy()
	claim.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: set.Namespace, Labels: set.Spec.Selector.MatchLabels, Annotations: tmpl.Annotations}
	claim.Status = corev1.PersistentVolumeClaimStatus{}
	_, err := c.o.Client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		c.o.Recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for StatefulSet %s failed error: %v", name, set.Name, err)
		return fmt.Errorf("create claim %s: %w", name, err)
	}
	return nil
}

func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	err := c.o.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s: %w", p.Name, err)
	}
	if err == nil {
		c.o.Recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	}
	return nil
}
