package rest

// Node restriction on create, the part of Kubernetes' NodeRestriction
// admission plugin the Node authorizer cannot do because it never sees the
// request body: a kubelet (system:node:<name>) may create only its own Node,
// its own Lease in kube-node-lease, and mirror pods bound to itself.

import (
	"context"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/endpoints/request"

	"skiff.dev/apiserver/internal/authz/node"
)

// nodeLeaseNamespace holds the kubelets' heartbeat Leases.
const nodeLeaseNamespace = "kube-node-lease"

// admitNodeCreate refuses a create by a node identity of an object that is
// not its own. Requests from other users pass untouched.
func admitNodeCreate(ctx context.Context, obj runtime.Object) error {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return nil
	}
	self, isNode := node.Identity(u)
	if !isNode {
		return nil
	}
	deny := func(gr, name, format string, args ...any) error {
		return apierrors.NewForbidden(corev1.Resource(gr), name, fmt.Errorf("node %q "+format, append([]any{self}, args...)...))
	}
	switch o := obj.(type) {
	case *corev1.Node:
		if o.Name != self {
			return deny("nodes", o.Name, "is not allowed to create node %q", o.Name)
		}
	case *coordinationv1.Lease:
		if o.Namespace == nodeLeaseNamespace && o.Name != self {
			return apierrors.NewForbidden(coordinationv1.Resource("leases"), o.Name,
				fmt.Errorf("node %q is not allowed to create lease %s/%s", self, o.Namespace, o.Name))
		}
	case *corev1.Pod:
		if _, mirror := o.Annotations[mirrorPodAnnotation]; !mirror {
			return deny("pods", o.Name, "can only create mirror pods")
		}
		if o.Spec.NodeName != self {
			return deny("pods", o.Name, "can only create pods bound to itself, not to %q", o.Spec.NodeName)
		}
	}
	return nil
}
