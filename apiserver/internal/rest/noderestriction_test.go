package rest

import (
	"context"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

func TestAdmitNodeCreate(t *testing.T) {
	t.Parallel()
	nodeA := &user.DefaultInfo{Name: "system:node:a", Groups: []string{"system:nodes", "system:authenticated"}}
	admin := &user.DefaultInfo{Name: "admin", Groups: []string{"system:masters"}}
	mirror := map[string]string{mirrorPodAnnotation: "x"}
	tests := []struct {
		name    string
		user    user.Info
		obj     runtime.Object
		allowed bool
	}{
		{"own node", nodeA, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, true},
		{"other node", nodeA, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, false},
		{"admin creates any node", admin, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, true},
		{"own lease", nodeA, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-node-lease", Name: "a"}}, true},
		{"other node's lease", nodeA, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-node-lease", Name: "b"}}, false},
		{"mirror pod bound to itself", nodeA, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: mirror}, Spec: corev1.PodSpec{NodeName: "a"}}, true},
		{"mirror pod bound elsewhere", nodeA, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: mirror}, Spec: corev1.PodSpec{NodeName: "b"}}, false},
		{"ordinary pod", nodeA, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: "a"}}, false},
		{"events are not restricted", nodeA, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}}, true},
		{"no user in context", nil, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.user != nil {
				ctx = request.WithUser(ctx, tt.user)
			}
			err := admitNodeCreate(ctx, tt.obj)
			if tt.allowed && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.allowed && !apierrors.IsForbidden(err) {
				t.Fatalf("got %v, want 403 Forbidden", err)
			}
		})
	}
}
