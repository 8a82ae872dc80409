// Package fakeapi is for unit tests: a client-go fake clientset that, like
// the real API server, assigns UIDs and creation timestamps on create.
package fakeapi

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// NewClientset returns a fake clientset holding objs.
func NewClientset(objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	c.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ca, ok := a.(k8stesting.CreateAction); ok && ca.GetSubresource() == "" {
			if m, err := meta.Accessor(ca.GetObject()); err == nil && m.GetUID() == "" {
				m.SetUID(uuid.NewUUID())
				m.SetCreationTimestamp(metav1.Now())
			}
		}
		return false, nil, nil
	})
	return c
}
