// Package daemonset is the DaemonSet controller: it runs one pod on every
// node the pod template may run on (nodeSelector, required node affinity,
// taints), removes pods from nodes that stopped qualifying, replaces failed
// pods, and rolls out template changes node by node within maxUnavailable
// (RollingUpdate) or only when pods are deleted (OnDelete). Template history
// is kept as ControllerRevisions (kubectl rollout history/undo). Pods are
// placed by setting spec.nodeName directly.
package daemonset

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
	"k8s.io/apimachinery/pkg/util/intstr"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/controller"
)

var gvk = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Options configures the controller.
type Options struct {
	Client     kubernetes.Interface
	DaemonSets appsinformers.DaemonSetInformer
	Nodes      coreinformers.NodeInformer
	Pods       coreinformers.PodInformer
	Recorder   record.EventRecorder
	Log        *slog.Logger
}

// Controller is the DaemonSet controller.
type Controller struct {
	o      Options
	dss    appslisters.DaemonSetLister
	nodes  corelisters.NodeLister
	pods   corelisters.PodLister
	exp    *controller.Expectations
	queue  *controller.Queue
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{o: o, dss: o.DaemonSets.Lister(), nodes: o.Nodes.Lister(), pods: o.Pods.Lister(), exp: controller.NewExpectations(),
		synced: []cache.InformerSynced{o.DaemonSets.Informer().HasSynced, o.Nodes.Informer().HasSynced, o.Pods.Informer().HasSynced}}
	c.queue = controller.NewQueue("daemonset", c.Sync, o.Log)
	_, _ = o.DaemonSets.Informer().AddEventHandler(c.queue.Handler())
	all := func(any) {
		dss, _ := c.dss.List(labels.Everything())
		for _, ds := range dss {
			c.queue.AddObj(ds)
		}
	}
	_, _ = o.Nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if !apiequality.Semantic.DeepEqual(o.Labels, n.Labels) || !apiequality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) {
				all(cur)
			}
		},
		DeleteFunc: all,
	})
	ownerUID := func(namespace, name string) (types.UID, bool) {
		ds, err := c.dss.DaemonSets(namespace).Get(name)
		if err != nil {
			return "", false
		}
		return ds.UID, true
	}
	_, _ = o.Pods.Informer().AddEventHandler(controller.OwnedPodHandler("DaemonSet", ownerUID, c.exp, c.queue))
	return c
}

// Run waits for the caches and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Run(ctx, workers)
}

// daemonTolerations are added to every daemon pod, as upstream, so daemons
// survive node conditions that evict ordinary pods.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

func podSpecWithTolerations(ds *appsv1.DaemonSet) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	for _, tol := range daemonTolerations {
		if !slices.ContainsFunc(t.Spec.Tolerations, func(x corev1.Toleration) bool { return x.Key == tol.Key && x.Effect == tol.Effect }) {
			t.Spec.Tolerations = append(t.Spec.Tolerations, tol)
		}
	}
	return t
}

// Sync reconciles the DaemonSet named by key.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dss.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		c.o.Recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	hash := controller.HashTemplate(&ds.Spec.Template)
	if ds.DeletionTimestamp == nil {
		limit := int32(10)
		if ds.Spec.RevisionHistoryLimit != nil {
			limit = *ds.Spec.RevisionHistoryLimit
		}
		if _, err := controller.EnsureRevision(ctx, controller.RevisionOptions{
			Client: c.o.Client, Owner: ds, OwnerGVK: gvk, Selector: ds.Spec.Selector, Template: &ds.Spec.Template, Hash: hash, Limit: limit,
		}); err != nil {
			// History is for `kubectl rollout history`; the rollout itself goes on.
			c.o.Log.Warn("daemonset revision history", slog.String("daemonset", key), slog.Any("err", err))
		}
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	claimer := &controller.Claimer{Owner: ds, OwnerGVK: gvk, Selector: sel,
		Patch: func(ctx context.Context, ns, name string, b []byte) error {
			_, err := c.o.Client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
			return err
		}}
	pods, claimErr := controller.Claim(ctx, claimer, all)
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		}
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	tmpl := podSpecWithTolerations(ds)
	var create []string
	var remove []*corev1.Pod
	var oldAvailable []*corev1.Pod
	s := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount}
	unavailable := 0
	now := time.Now()
	for _, n := range nodes {
		wants := controller.NodeMatches(&tmpl.Spec, n)
		have := byNode[n.Name]
		delete(byNode, n.Name)
		if wants {
			s.DesiredNumberScheduled++
		}
		if !wants {
			if len(have) > 0 {
				s.NumberMisscheduled++
			}
			remove = append(remove, have...)
			continue
		}
		// Failed pods are replaced; extra pods (oldest kept) are removed.
		var live []*corev1.Pod
		for _, p := range have {
			if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				remove = append(remove, p)
				continue
			}
			live = append(live, p)
		}
		slices.SortFunc(live, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
		if len(live) > 1 {
			remove = append(remove, live[1:]...)
			live = live[:1]
		}
		if len(live) == 0 {
			create = append(create, n.Name)
			unavailable++
			continue
		}
		p := live[0]
		s.CurrentNumberScheduled++
		updated := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash
		if updated {
			s.UpdatedNumberScheduled++
		}
		if controller.IsPodReady(p) {
			s.NumberReady++
		}
		if controller.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) {
			s.NumberAvailable++
			if !updated {
				oldAvailable = append(oldAvailable, p)
			}
		} else {
			unavailable++
			if !updated && ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
				// An old pod that is not available anyway can go right away.
				remove = append(remove, p)
			}
		}
	}
	for _, orphaned := range byNode { // pods on nodes that no longer exist
		remove = append(remove, orphaned...)
	}
	s.NumberUnavailable = max(0, s.DesiredNumberScheduled-s.NumberAvailable)

	var manageErr error
	if c.exp.Satisfied(key) && ds.DeletionTimestamp == nil {
		if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
			maxUnavail := intstr.FromInt32(1)
			if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
				maxUnavail = *ru.MaxUnavailable
			}
			budget, _ := intstr.GetScaledValueFromIntOrPercent(&maxUnavail, int(s.DesiredNumberScheduled), true)
			budget = max(budget, 1) - unavailable
			slices.SortFunc(oldAvailable, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
			for i := 0; i < budget && i < len(oldAvailable); i++ {
				remove = append(remove, oldAvailable[i])
			}
		}
		manageErr = c.manage(ctx, ds, tmpl, hash, create, remove)
	}
	if !apiequality.Semantic.DeepEqual(ds.Status, s) {
		ds.Status = s
		if _, err := c.o.Client.AppsV1().DaemonSets(ns).UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status of daemonset %s: %w", key, err)
		}
	}
	if ds.Spec.MinReadySeconds > 0 && s.NumberReady != s.NumberAvailable {
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if manageErr != nil {
		return manageErr
	}
	return claimErr
}

func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, tmpl *corev1.PodTemplateSpec, hash string, create []string, remove []*corev1.Pod) error {
	key := ds.Namespace + "/" + ds.Name
	uids := make([]string, len(remove))
	for i, p := range remove {
		uids[i] = string(p.UID)
	}
	c.exp.ExpectDeletions(key, uids)
	c.exp.ExpectCreations(key, len(create))
	var first error
	for _, p := range remove {
		err := c.o.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil {
			c.exp.DeletionObserved(key, string(p.UID))
			if !apierrors.IsNotFound(err) && first == nil {
				first = fmt.Errorf("delete daemon pod %s: %w", p.Name, err)
			}
			continue
		}
		c.o.Recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	ref := controller.OwnerRef(ds, gvk)
	created, err := controller.SlowStartBatch(len(create), 1, func(i int) error {
		pod := controller.PodFromTemplate(tmpl, ds.Namespace, ds.Name+"-", &ref)
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
		pod.Spec.NodeName = create[i]
		_, err := c.o.Client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			c.o.Recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return err
		}
		c.o.Recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
		return nil
	})
	for range len(create) - created {
		c.exp.CreationObserved(key)
	}
	if err != nil && first == nil {
		first = fmt.Errorf("create daemon pods: %w", err)
	}
	return first
}
