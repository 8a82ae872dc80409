// Package node is the Node authorizer: it confines a kubelet (user
// system:node:<name> in group system:nodes) to its own Node, its own Lease
// in kube-node-lease, the pods bound to it, and the Secrets, ConfigMaps,
// PersistentVolumeClaims and ServiceAccount tokens those pods use. It has
// no opinion on everything else, which the system:node ClusterRole (RBAC)
// decides.
//
// The pods a node may touch are looked up in the pods store (watch cache
// first, then a consistent read); the objects they reference come from a
// Graph fed by the pods watch, with a consistent read of the namespace's
// pods on a miss so that a pod bound a moment ago is not refused.
package node

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"skiff.dev/apiserver/internal/storage"
)

const (
	// NodesGroup is the group every kubelet is in.
	NodesGroup = "system:nodes"
	// UserPrefix starts a kubelet's user name; the node name follows.
	UserPrefix = "system:node:"
	// LeaseNamespace holds the node heartbeat Leases.
	LeaseNamespace = "kube-node-lease"
)

// Options configure the authorizer.
type Options struct {
	// Graph is the pod reference graph (fed by the caller).
	Graph *Graph
	// Pods is the pods store and PodsPrefix its key prefix
	// ("/registry/pods/").
	Pods       storage.Interface
	PodsPrefix string
}

// Authorizer is the Node authorizer.
type Authorizer struct {
	o Options
}

// New returns a Node authorizer.
func New(o Options) *Authorizer { return &Authorizer{o: o} }

var _ authorizer.Authorizer = (*Authorizer)(nil)

// Identity returns the node name of a kubelet user; isNode is true for
// every member of system:nodes (name is "" when the user name lacks the
// system:node: prefix).
func Identity(u user.Info) (name string, isNode bool) {
	if u == nil {
		return "", false
	}
	in := false
	for _, g := range u.GetGroups() {
		if g == NodesGroup {
			in = true
			break
		}
	}
	if !in {
		return "", false
	}
	n, ok := strings.CutPrefix(u.GetName(), UserPrefix)
	if !ok {
		return "", true
	}
	return n, true
}

func allow() (authorizer.Decision, string, error) { return authorizer.DecisionAllow, "", nil }

func deny(format string, args ...any) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, fmt.Sprintf(format, args...), nil
}

func noOpinion() (authorizer.Decision, string, error) { return authorizer.DecisionNoOpinion, "", nil }

// Authorize decides requests of kubelets on the resources it guards and has
// no opinion on the rest.
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	node, isNode := Identity(attrs.GetUser())
	if !isNode || !attrs.IsResourceRequest() {
		return noOpinion()
	}
	group, resource, sub := attrs.GetAPIGroup(), attrs.GetResource(), attrs.GetSubresource()
	guarded := (group == "" && (resource == "nodes" || resource == "pods" || resource == "secrets" ||
		resource == "configmaps" || resource == "persistentvolumeclaims" || (resource == "serviceaccounts" && sub == "token"))) ||
		(group == "coordination.k8s.io" && resource == "leases")
	if !guarded {
		return noOpinion()
	}
	if node == "" {
		return deny("unknown node for user %q", attrs.GetUser().GetName())
	}
	verb, ns, name := attrs.GetVerb(), attrs.GetNamespace(), attrs.GetName()
	switch resource {
	case "nodes":
		return a.nodes(node, verb, sub, name)
	case "leases":
		if ns != LeaseNamespace {
			return deny("node %q can only access leases in the %s namespace", node, LeaseNamespace)
		}
		switch verb {
		case "get", "update", "patch", "delete":
			if name == node {
				return allow()
			}
		case "create":
			if name == "" || name == node { // the name is in the body; admission checks it
				return allow()
			}
		}
		return deny("node %q can only access its own lease", node)
	case "pods":
		return a.pods(ctx, node, verb, sub, ns, name)
	case "serviceaccounts":
		if verb != "create" {
			return deny("node %q can only create tokens of service accounts", node)
		}
		return a.referenced(ctx, node, verb, "serviceaccount", ref{serviceAccountRef, ns, name})
	case "secrets":
		return a.referencedGet(ctx, node, verb, sub, "secret", ref{secretRef, ns, name})
	case "configmaps":
		return a.referencedGet(ctx, node, verb, sub, "configmap", ref{configMapRef, ns, name})
	case "persistentvolumeclaims":
		return a.referencedGet(ctx, node, verb, sub, "persistentvolumeclaim", ref{pvcRef, ns, name})
	}
	return noOpinion()
}

func (a *Authorizer) nodes(node, verb, sub, name string) (authorizer.Decision, string, error) {
	if sub != "" && sub != "status" {
		return deny("node %q cannot access the %s subresource of nodes", node, sub)
	}
	switch verb {
	case "get", "list", "watch":
		return noOpinion() // reads are the system:node ClusterRole's business
	case "create":
		if name == "" || name == node {
			return allow()
		}
	case "update", "patch", "delete":
		if name == node {
			return allow()
		}
	}
	return deny("node %q can only %s its own Node object, not %q", node, verb, name)
}

func (a *Authorizer) pods(ctx context.Context, node, verb, sub, ns, name string) (authorizer.Decision, string, error) {
	switch {
	case sub == "" && (verb == "list" || verb == "watch"):
		return noOpinion()
	case sub != "" && sub != "status":
		return deny("node %q cannot access the %s subresource of pods", node, sub)
	}
	switch verb {
	case "get", "update", "patch", "delete":
	default:
		return deny("node %q cannot %s pods", node, verb)
	}
	bound, err := a.podBound(ctx, ns, name, node)
	switch {
	case err != nil && apierrors.IsNotFound(err) && verb == "get":
		return allow() // the handler answers 404
	case err != nil && apierrors.IsNotFound(err):
		return deny("no relationship found between node %q and this object", node)
	case err != nil:
		return authorizer.DecisionNoOpinion, "", fmt.Errorf("look up pod %s/%s: %w", ns, name, err)
	case bound:
		return allow()
	}
	return deny("no relationship found between node %q and this object", node)
}

// podBound reports whether pod ns/name is bound to node: from the watch
// cache first, confirmed with a consistent read when the cache says no.
func (a *Authorizer) podBound(ctx context.Context, ns, name, node string) (bool, error) {
	key := a.o.PodsPrefix + ns + "/" + name
	var pod corev1.Pod
	if err := a.o.Pods.Get(ctx, key, "0", &pod); err == nil && pod.Spec.NodeName == node {
		return true, nil
	}
	pod = corev1.Pod{}
	if err := a.o.Pods.Get(ctx, key, "", &pod); err != nil {
		return false, err
	}
	return pod.Spec.NodeName == node, nil
}

func (a *Authorizer) referencedGet(ctx context.Context, node, verb, sub, what string, r ref) (authorizer.Decision, string, error) {
	if verb != "get" || sub != "" {
		return deny("node %q can only get individual %ss referenced by pods bound to it", node, what)
	}
	return a.referenced(ctx, node, verb, what, r)
}

// referenced allows the request when a pod bound to node references r.
func (a *Authorizer) referenced(ctx context.Context, node, verb, what string, r ref) (authorizer.Decision, string, error) {
	if r.name == "" || r.namespace == "" {
		return deny("node %q cannot %s %ss without a name", node, verb, what)
	}
	if a.o.Graph.has(node, r) {
		return allow()
	}
	ok, err := a.referencedNow(ctx, node, r)
	if err != nil {
		return authorizer.DecisionNoOpinion, "", fmt.Errorf("list pods in %s: %w", r.namespace, err)
	}
	if ok {
		return allow()
	}
	return deny("no relationship found between node %q and this object", node)
}

// referencedNow checks r against a consistent read of the namespace's pods
// bound to node, for pods the graph has not seen yet.
func (a *Authorizer) referencedNow(ctx context.Context, node string, r ref) (bool, error) {
	var pods corev1.PodList
	err := a.o.Pods.List(ctx, a.o.PodsPrefix+r.namespace+"/", storage.ListOptions{
		Recursive: true,
		Predicate: storage.Predicate{Field: fields.OneTermEqualSelector("spec.nodeName", node)},
	}, &pods)
	if err != nil {
		return false, err
	}
	for i := range pods.Items {
		if pods.Items[i].Spec.NodeName != node {
			continue
		}
		for _, pr := range podRefs(&pods.Items[i]) {
			if pr == r {
				return true, nil
			}
		}
	}
	return false, nil
}

// ConditionsAwareAuthorize is Authorize as a ConditionsAwareDecision.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions is not supported.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}
