// Package serviceaccount makes sure every active namespace has a "default"
// ServiceAccount, recreating it if it is deleted.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/controlplane/internal/controller"
)

// Name is the ServiceAccount every namespace gets.
const Name = "default"

// Options configures the controller.
type Options struct {
	Client          kubernetes.Interface
	Namespaces      coreinformers.NamespaceInformer
	ServiceAccounts coreinformers.ServiceAccountInformer
	Log             *slog.Logger
}

// Controller is the ServiceAccount controller.
type Controller struct {
	client kubernetes.Interface
	ns     corelisters.NamespaceLister
	sa     corelisters.ServiceAccountLister
	queue  *controller.Queue
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{
		client: o.Client, ns: o.Namespaces.Lister(), sa: o.ServiceAccounts.Lister(),
		synced: []cache.InformerSynced{o.Namespaces.Informer().HasSynced, o.ServiceAccounts.Informer().HasSynced},
	}
	c.queue = controller.NewQueue("serviceaccount", c.Sync, o.Log)
	_, _ = o.Namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.AddObj,
		UpdateFunc: func(_, n any) { c.queue.AddObj(n) },
	})
	_, _ = o.ServiceAccounts.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == Name {
				c.queue.Add(sa.Namespace)
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

// Sync creates the default ServiceAccount in namespace key if missing.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, err := c.ns.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		return nil
	}
	if _, err := c.sa.ServiceAccounts(key).Get(Name); err == nil {
		return nil
	}
	_, err = c.client.CoreV1().ServiceAccounts(key).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: key},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return fmt.Errorf("create default serviceaccount in %s: %w", key, err)
	}
	return nil
}
