// Package rootca publishes the cluster's root CA bundle into every active
// namespace as the ConfigMap kube-root-ca.crt (key ca.crt), the way
// Kubernetes' root-ca-cert-publisher does, so that pods can verify the
// apiserver through the projected kube-api-access volume. A deleted
// ConfigMap is recreated and an edited one is put back.
package rootca

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/controlplane/internal/controller"
)

const (
	// Name is the ConfigMap published in every namespace.
	Name = "kube-root-ca.crt"
	// Key is the data key holding the PEM bundle.
	Key = "ca.crt"
	// descriptionAnnotation explains the ConfigMap to whoever reads it.
	descriptionAnnotation = "kubernetes.io/description"
	description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Options configures the controller.
type Options struct {
	Client     kubernetes.Interface
	Namespaces coreinformers.NamespaceInformer
	ConfigMaps coreinformers.ConfigMapInformer
	// RootCA is the PEM bundle to publish.
	RootCA []byte
	Log    *slog.Logger
}

// Controller is the root CA publisher.
type Controller struct {
	client kubernetes.Interface
	ns     corelisters.NamespaceLister
	cms    corelisters.ConfigMapLister
	rootCA string
	queue  *controller.Queue
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) (*Controller, error) {
	if len(o.RootCA) == 0 {
		return nil, errors.New("rootca: RootCA is empty")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c := &Controller{
		client: o.Client, ns: o.Namespaces.Lister(), cms: o.ConfigMaps.Lister(), rootCA: string(o.RootCA),
		synced: []cache.InformerSynced{o.Namespaces.Informer().HasSynced, o.ConfigMaps.Informer().HasSynced},
	}
	c.queue = controller.NewQueue("root-ca-cert-publisher", c.Sync, o.Log)
	_, _ = o.Namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.AddObj,
		UpdateFunc: func(_, n any) { c.queue.AddObj(n) },
	})
	onConfigMap := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == Name {
			c.queue.Add(cm.Namespace)
		}
	}
	_, _ = o.ConfigMaps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, n any) { onConfigMap(n) },
		DeleteFunc: onConfigMap,
	})
	return c, nil
}

// Run waits for the caches and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Run(ctx, workers)
}

// Sync makes the ConfigMap in namespace key match the root CA.
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
	cm, err := c.cms.ConfigMaps(key).Get(Name)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps(key).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: key, Annotations: map[string]string{descriptionAnnotation: description}},
			Data:       map[string]string{Key: c.rootCA},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return fmt.Errorf("create %s/%s: %w", key, Name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if len(cm.Data) == 1 && cm.Data[Key] == c.rootCA && len(cm.BinaryData) == 0 && cm.Annotations[descriptionAnnotation] == description {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = map[string]string{Key: c.rootCA}
	cm.BinaryData = nil
	ann := maps.Clone(cm.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[descriptionAnnotation] = description
	cm.Annotations = ann
	if _, err := c.client.CoreV1().ConfigMaps(key).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile: the delete event requeues
		}
		return fmt.Errorf("update %s/%s: %w", key, Name, err)
	}
	return nil
}
