// Package deployment is the Deployment controller: it owns one ReplicaSet
// per pod template revision and moves replicas from old to new ReplicaSets
// according to the RollingUpdate (maxSurge/maxUnavailable) or Recreate
// strategy, keeps revision history in the deployment.kubernetes.io/revision
// annotation (what `kubectl rollout history/undo` read), honours paused
// deployments and the progress deadline, and writes the status and
// conditions that `kubectl rollout status` waits for.
package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

var gvk = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Options configures the controller.
type Options struct {
	Client      kubernetes.Interface
	Deployments appsinformers.DeploymentInformer
	ReplicaSets appsinformers.ReplicaSetInformer
	Pods        coreinformers.PodInformer
	Recorder    record.EventRecorder
	Log         *slog.Logger
	// Now is the clock (tests); time.Now by default.
	Now func() time.Time
}

// Controller is the Deployment controller.
type Controller struct {
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	queue    *controller.Queue
	synced   []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{
		client:   o.Client,
		dLister:  o.Deployments.Lister(),
		rsLister: o.ReplicaSets.Lister(),
		pods:     o.Pods.Lister(),
		recorder: o.Recorder,
		log:      o.Log,
		now:      o.Now,
		synced: []cache.InformerSynced{
			o.Deployments.Informer().HasSynced, o.ReplicaSets.Informer().HasSynced, o.Pods.Informer().HasSynced,
		},
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.queue = controller.NewQueue("deployment", c.Sync, o.Log)
	_, _ = o.Deployments.Informer().AddEventHandler(c.queue.Handler())
	_, _ = o.ReplicaSets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.rsChanged,
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
			if o.ResourceVersion != "" && o.ResourceVersion == n.ResourceVersion {
				return
			}
			if or, nr := metav1.GetControllerOf(o), metav1.GetControllerOf(n); or != nil && (nr == nil || nr.UID != or.UID) {
				c.rsChanged(o)
			}
			c.rsChanged(n)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if rs, ok := obj.(*appsv1.ReplicaSet); ok {
				c.rsChanged(rs)
			}
		},
	})
	_, _ = o.Pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		// Recreate waits for old pods to be gone.
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			p, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			ref := metav1.GetControllerOf(p)
			if ref == nil || ref.Kind != "ReplicaSet" {
				return
			}
			rs, err := c.rsLister.ReplicaSets(p.Namespace).Get(ref.Name)
			if err == nil && rs.UID == ref.UID {
				c.rsChanged(rs)
			}
		},
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

func (c *Controller) rsChanged(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if ref.Kind != "Deployment" {
			return
		}
		d, err := c.dLister.Deployments(rs.Namespace).Get(ref.Name)
		if err == nil && d.UID == ref.UID {
			c.queue.AddObj(d)
		}
		return
	}
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			c.queue.AddObj(d)
		}
	}
}

// Sync reconciles the Deployment named by key ("namespace/name").
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Event(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	if isScalingEvent(d, rsList) {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList)
	default:
		return c.rolloutRolling(ctx, d, rsList)
	}
}

func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	cl := &controller.Claimer{
		Owner: d, OwnerGVK: gvk, Selector: sel,
		Patch: func(ctx context.Context, ns, name string, b []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(ns).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
			return err
		},
		CanAdopt: func(ctx context.Context) error {
			fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if fresh.UID != d.UID || fresh.DeletionTimestamp != nil {
				return fmt.Errorf("deployment %s/%s is gone or being deleted", d.Namespace, d.Name)
			}
			return nil
		},
	}
	return controller.Claim(ctx, cl, all)
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}
