package rest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// EnsureNamespace creates namespace name unless it exists.
func (h *Handler) EnsureNamespace(ctx context.Context, name string) error {
	return h.ensure(ctx, corev1.SchemeGroupVersion.WithResource("namespaces"), "", &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	})
}

// EnsureKubernetesService creates the default/kubernetes Service with the
// given cluster IP unless it exists.
func (h *Handler) EnsureKubernetesService(ctx context.Context, clusterIP string, port int) error {
	return h.ensure(ctx, corev1.SchemeGroupVersion.WithResource("services"), metav1.NamespaceDefault, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: clusterIP,
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(port))}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	})
}

func (h *Handler) ensure(ctx context.Context, gvr schema.GroupVersionResource, namespace string, obj runtime.Object) error {
	res, ok := h.opts.Registry.Lookup(gvr)
	if !ok {
		return fmt.Errorf("resource %s is not served", gvr)
	}
	m, err := accessor(obj)
	if err != nil {
		return err
	}
	cur := res.New()
	err = h.store(res).Get(ctx, res.Key(namespace, m.GetName()), "", cur)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	if _, _, err := h.createObject(ctx, res, namespace, obj, false); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
