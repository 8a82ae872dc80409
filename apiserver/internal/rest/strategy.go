package rest

import (
	"crypto/rand"
	"fmt"
	"reflect"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/apiserver/internal/registry"
)

// structField returns the named top-level field of a pointer-to-struct
// object, or an invalid Value when it has none.
func structField(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// typeFields locates the top-level Spec and Status fields of an object
// type, as structField finds them (nil: the type has none).
type typeFields struct{ spec, status []int }

func fieldsOfType(t reflect.Type) typeFields {
	var tf typeFields
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return tf
	}
	if f, ok := t.Elem().FieldByName("Spec"); ok {
		tf.spec = f.Index
	}
	if f, ok := t.Elem().FieldByName("Status"); ok {
		tf.status = f.Index
	}
	return tf
}

// fieldsOf returns the typeFields of obj's type: computed once per
// registered type in New (a lookup by name walks the embedded structs and
// allocates), else now.
func (h *Handler) fieldsOf(obj runtime.Object) typeFields {
	t := reflect.TypeOf(obj)
	if tf, ok := h.types[t]; ok {
		return tf
	}
	return fieldsOfType(t)
}

// copyField sets dst.<name> = src.<name> when both have it.
func copyField(dst, src runtime.Object, name string) {
	d, s := structField(dst, name), structField(src, name)
	if d.IsValid() && s.IsValid() && d.CanSet() && d.Type() == s.Type() {
		d.Set(s)
	}
}

// specChanged reports whether the spec of two objects differs.
func specChanged(a, b runtime.Object) bool {
	x, y := structField(a, "Spec"), structField(b, "Spec")
	if !x.IsValid() || !y.IsValid() {
		return false
	}
	return !equality.Semantic.DeepEqual(x.Interface(), y.Interface())
}

const nameChars = "bcdfghjklmnpqrstvwxz2456789"

func randomSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = nameChars[int(b[i])%len(nameChars)]
	}
	return string(b)
}

// prepareCreate fills system metadata and resets what clients may not set on
// create; tf locates obj's spec and status.
func prepareCreate(res *registry.Resource, obj runtime.Object, tf typeFields, m metav1.Object, now time.Time) error {
	if m.GetResourceVersion() != "" {
		return apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + randomSuffix())
	}
	m.SetUID(types.UID(uuid.NewString()))
	m.SetCreationTimestamp(metav1.NewTime(now))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetManagedFields(nil)
	m.SetSelfLink("")
	if tf.spec != nil {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	// Status is the controllers' to write, except a Node's: the kubelet
	// registers its node with status, as upstream allows.
	if _, isNode := obj.(*corev1.Node); res.Status && !isNode && tf.status != nil {
		if st := reflect.ValueOf(obj).Elem().FieldByIndex(tf.status); st.CanSet() {
			st.Set(reflect.Zero(st.Type()))
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status.Phase = corev1.PodPending
	case *corev1.Namespace:
		o.Status.Phase = corev1.NamespaceActive
		if len(o.Spec.Finalizers) == 0 {
			o.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
		}
	}
	return nil
}

// prepareUpdate carries over what a main-resource update may not change.
func prepareUpdate(res *registry.Resource, obj, old runtime.Object, m, oldMeta metav1.Object) {
	carrySystemMeta(m, oldMeta)
	if res.Status {
		copyField(obj, old, "Status")
	}
	if svc, ok := obj.(*corev1.Service); ok {
		carryServiceAllocations(svc, old.(*corev1.Service))
	}
	if ns, ok := obj.(*corev1.Namespace); ok {
		// spec.finalizers change only through the finalize subresource.
		ns.Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
	}
	m.SetGeneration(oldMeta.GetGeneration())
	if specChanged(obj, old) {
		m.SetGeneration(oldMeta.GetGeneration() + 1)
	}
}

// prepareStatusUpdate keeps everything but status from the current object.
func prepareStatusUpdate(obj, old runtime.Object, m, oldMeta metav1.Object) {
	carrySystemMeta(m, oldMeta)
	copyField(obj, old, "Spec")
	m.SetGeneration(oldMeta.GetGeneration())
	m.SetLabels(oldMeta.GetLabels())
	m.SetAnnotations(oldMeta.GetAnnotations())
	m.SetFinalizers(oldMeta.GetFinalizers())
	m.SetOwnerReferences(oldMeta.GetOwnerReferences())
}

func carrySystemMeta(m, oldMeta metav1.Object) {
	m.SetUID(oldMeta.GetUID())
	m.SetCreationTimestamp(oldMeta.GetCreationTimestamp())
	m.SetDeletionTimestamp(oldMeta.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(oldMeta.GetDeletionGracePeriodSeconds())
	m.SetSelfLink("")
	m.SetManagedFields(nil)
	if m.GetName() == "" {
		m.SetName(oldMeta.GetName())
	}
	if m.GetNamespace() == "" {
		m.SetNamespace(oldMeta.GetNamespace())
	}
	if m.GetGenerateName() == "" {
		m.SetGenerateName(oldMeta.GetGenerateName())
	}
}

// shouldDeleteAfterUpdate reports whether an update left a deleted object
// with no finalizers and no grace period, so it must now be removed.
func shouldDeleteAfterUpdate(m metav1.Object) bool {
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return false
	}
	if ns, ok := m.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return false
	}
	return true
}

func accessor(obj runtime.Object) (metav1.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("object %T has no metadata: %w", obj, err))
	}
	return m, nil
}

// carryServiceAllocations keeps allocated values a client omitted on update
// (as kubectl apply does), like upstream.
func carryServiceAllocations(svc, old *corev1.Service) {
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 && old.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.Type != corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = old.Spec.ClusterIPs
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = old.Spec.IPFamilies
	}
	if svc.Spec.IPFamilyPolicy == nil {
		svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
	}
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].NodePort != 0 {
			continue
		}
		for _, op := range old.Spec.Ports {
			if op.Port == svc.Spec.Ports[i].Port && op.Protocol == svc.Spec.Ports[i].Protocol {
				svc.Spec.Ports[i].NodePort = op.NodePort
			}
		}
	}
}
