// Package namespace is the namespace lifecycle controller: when a namespace
// is deleted it stays Terminating while the controller deletes every
// namespaced object in it (every resource found by discovery); once nothing
// is left it removes the "kubernetes" finalizer so the API server can remove
// the namespace.
package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/controlplane/internal/apiresources"
	"skiff.dev/controlplane/internal/controller"
)

// Options configures the controller.
type Options struct {
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	Discovery  discovery.DiscoveryInterface
	Namespaces coreinformers.NamespaceInformer
	Log        *slog.Logger
	// RecheckPeriod is how soon a namespace with content left is looked at
	// again; 1s by default.
	RecheckPeriod time.Duration
}

// Controller is the namespace lifecycle controller.
type Controller struct {
	client  kubernetes.Interface
	dyn     dynamic.Interface
	disc    discovery.DiscoveryInterface
	lister  corelisters.NamespaceLister
	log     *slog.Logger
	recheck time.Duration
	queue   *controller.Queue
	synced  cache.InformerSynced
}

// New wires the controller to its informer.
func New(o Options) *Controller {
	c := &Controller{
		client: o.Client, dyn: o.Dynamic, disc: o.Discovery, lister: o.Namespaces.Lister(), log: o.Log,
		recheck: o.RecheckPeriod, synced: o.Namespaces.Informer().HasSynced,
	}
	if c.recheck == 0 {
		c.recheck = time.Second
	}
	c.queue = controller.NewQueue("namespace", c.Sync, o.Log)
	_, _ = o.Namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.AddObj,
		UpdateFunc: func(_, n any) { c.queue.AddObj(n) },
	})
	return c
}

// Run waits for the cache and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	c.queue.Run(ctx, workers)
}

// Sync empties and finalizes the namespace named key if it is being deleted.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, err := c.lister.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		cp := ns.DeepCopy()
		cp.Status.Phase = corev1.NamespaceTerminating
		updated, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark namespace %s terminating: %w", key, err)
		}
		if err == nil {
			ns = updated
		}
	}
	remaining, err := c.deleteContent(ctx, key)
	if err != nil {
		return err
	}
	if len(remaining) > 0 {
		if err := c.setContentCondition(ctx, ns, remaining); err != nil {
			c.log.Debug("namespace condition", slog.Any("err", err))
		}
		c.queue.AddAfter(key, c.recheck)
		return nil
	}
	return c.finalize(ctx, ns)
}

// deleteContent deletes everything in the namespace and returns, per
// resource, how many objects are still there.
func (c *Controller) deleteContent(ctx context.Context, ns string) (map[string]int, error) {
	res, err := apiresources.Deletable(c.disc)
	if err != nil {
		return nil, err
	}
	remaining := map[string]int{}
	var errs []string
	for _, r := range res {
		if !r.Namespaced {
			continue
		}
		cl := c.dyn.Resource(r.GVR).Namespace(ns)
		if r.Has("deletecollection") {
			err := cl.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			if err == nil {
				goto count
			}
			if !apierrors.IsMethodNotSupported(err) && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Sprintf("%s: %v", r.GVR.Resource, err))
			}
		}
		{
			list, err := cl.List(ctx, metav1.ListOptions{})
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", r.GVR.Resource, err))
				continue
			}
			for _, it := range list.Items {
				if it.GetDeletionTimestamp() != nil {
					continue
				}
				if err := cl.Delete(ctx, it.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Sprintf("%s/%s: %v", r.GVR.Resource, it.GetName(), err))
				}
			}
		}
	count:
		list, err := cl.List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", r.GVR.Resource, err))
			continue
		}
		if n := len(list.Items); n > 0 {
			name := r.GVR.Resource
			if r.GVR.Group != "" {
				name += "." + r.GVR.Group
			}
			remaining[name] = n
		}
	}
	if len(errs) > 0 {
		return remaining, fmt.Errorf("delete content of namespace %s: %s", ns, strings.Join(errs, "; "))
	}
	return remaining, nil
}

func (c *Controller) setContentCondition(ctx context.Context, ns *corev1.Namespace, remaining map[string]int) error {
	var parts []string
	for k, n := range remaining {
		parts = append(parts, fmt.Sprintf("%s has %d resource instances", k, n))
	}
	sort.Strings(parts)
	msg := "Some resources are remaining: " + strings.Join(parts, ", ")
	cond := corev1.NamespaceCondition{
		Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.Now(), Reason: "SomeResourcesRemain", Message: msg,
	}
	cp := ns.DeepCopy()
	i := slices.IndexFunc(cp.Status.Conditions, func(x corev1.NamespaceCondition) bool { return x.Type == cond.Type })
	if i >= 0 {
		if cp.Status.Conditions[i].Message == msg {
			return nil
		}
		cp.Status.Conditions[i] = cond
	} else {
		cp.Status.Conditions = append(cp.Status.Conditions, cond)
	}
	_, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	return err
}

func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	cp := ns.DeepCopy()
	cp.Spec.Finalizers = slices.DeleteFunc(cp.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	out, err := c.client.CoreV1().Namespaces().Finalize(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	if len(out.Spec.Finalizers) == 0 && len(out.Finalizers) == 0 {
		// Nothing else holds it: make sure it goes away.
		err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete finalized namespace %s: %w", ns.Name, err)
		}
	}
	c.log.Info("namespace finalized", slog.String("namespace", ns.Name))
	return nil
}
