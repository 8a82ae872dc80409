package admission

import (
	"encoding/json"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"skiff.dev/api/plugins/v1alpha1"
)

// matcher decides whether a policy sees a request.
type matcher struct {
	rules     []admissionregistrationv1.RuleWithOperations
	nsSel     labels.Selector // nil: everything
	objSel    labels.Selector // nil: everything
	hasNSSel  bool
	hasObjSel bool
}

func newMatcher(spec v1alpha1.AdmissionPolicySpec) (*matcher, error) {
	if len(spec.Rules) == 0 {
		return nil, fmt.Errorf("rules: at least one rule is required")
	}
	for i, r := range spec.Rules {
		if len(r.Operations) == 0 || len(r.APIGroups) == 0 || len(r.APIVersions) == 0 || len(r.Resources) == 0 {
			return nil, fmt.Errorf("rules[%d]: operations, apiGroups, apiVersions and resources must not be empty", i)
		}
		if r.Scope != nil {
			switch *r.Scope {
			case admissionregistrationv1.AllScopes, admissionregistrationv1.ClusterScope, admissionregistrationv1.NamespacedScope:
			default:
				return nil, fmt.Errorf("rules[%d]: scope %q is not one of *, Cluster, Namespaced", i, *r.Scope)
			}
		}
	}
	m := &matcher{rules: spec.Rules}
	var err error
	if spec.NamespaceSelector != nil {
		if m.nsSel, err = metav1.LabelSelectorAsSelector(spec.NamespaceSelector); err != nil {
			return nil, fmt.Errorf("namespaceSelector: %w", err)
		}
		m.hasNSSel = true
	}
	if spec.ObjectSelector != nil {
		if m.objSel, err = metav1.LabelSelectorAsSelector(spec.ObjectSelector); err != nil {
			return nil, fmt.Errorf("objectSelector: %w", err)
		}
		m.hasObjSel = true
	}
	return m, nil
}

// matches reports whether the request is in the policy's scope.
func (m *matcher) matches(a *Attributes, meta *objectMeta) bool {
	req := a.Request
	matched := false
	for i := range m.rules {
		if ruleMatches(&m.rules[i], req) {
			matched = true
			break
		}
	}
	if !matched {
		return false
	}
	if m.hasNSSel && !m.nsSel.Empty() && !m.namespaceMatches(a, meta) {
		return false
	}
	if m.hasObjSel && !m.objSel.Empty() {
		if !m.objSel.Matches(labels.Set(meta.object.Labels)) && !m.objSel.Matches(labels.Set(meta.old.Labels)) {
			return false
		}
	}
	return true
}

// namespaceMatches applies the namespaceSelector as webhooks do: a
// Namespace is matched by its own labels, other cluster-scoped objects
// always match, namespaced ones by their namespace's labels.
func (m *matcher) namespaceMatches(a *Attributes, meta *objectMeta) bool {
	req := a.Request
	switch {
	case req.Resource.Group == "" && req.Resource.Resource == "namespaces" && req.SubResource == "":
		return m.nsSel.Matches(labels.Set(meta.labels()))
	case req.Namespace == "":
		return true
	default:
		return m.nsSel.Matches(labels.Set(a.NamespaceLabels))
	}
}

func contains[T ~string](list []T, v T) bool {
	for _, x := range list {
		if x == v || x == "*" {
			return true
		}
	}
	return false
}

func ruleMatches(r *admissionregistrationv1.RuleWithOperations, req *admissionv1.AdmissionRequest) bool {
	op := admissionregistrationv1.OperationType(req.Operation)
	if !contains(r.Operations, admissionregistrationv1.OperationAll) && !contains(r.Operations, op) {
		return false
	}
	if !contains(r.APIGroups, req.Resource.Group) || !contains(r.APIVersions, req.Resource.Version) {
		return false
	}
	if r.Scope != nil {
		switch *r.Scope {
		case admissionregistrationv1.ClusterScope:
			if req.Namespace != "" {
				return false
			}
		case admissionregistrationv1.NamespacedScope:
			if req.Namespace == "" {
				return false
			}
		}
	}
	secret := isSecret(req)
	for _, pattern := range r.Resources {
		if resourceMatches(pattern, req.Resource.Resource, req.SubResource, secret) {
			return true
		}
	}
	return false
}

// isSecret reports whether a request carries Secret data: its resource is
// core/v1 secrets, or its object (or the object it was made as) is a core
// Secret or SecretList whatever the resource says. Such requests are only
// shown to rules that name "secrets" explicitly.
func isSecret(req *admissionv1.AdmissionRequest) bool {
	secretKind := func(k metav1.GroupVersionKind) bool {
		return k.Group == "" && (k.Kind == "Secret" || k.Kind == "SecretList")
	}
	if req.Resource.Group == "" && req.Resource.Resource == "secrets" {
		return true
	}
	if req.RequestResource != nil && req.RequestResource.Group == "" && req.RequestResource.Resource == "secrets" {
		return true
	}
	return secretKind(req.Kind) || (req.RequestKind != nil && secretKind(*req.RequestKind))
}

// resourceMatches matches "res", "res/sub", "*", "*/*", "res/*", "*/sub".
// For Secrets the resource part must be named ("secrets", "secrets/*"), not
// a wildcard; apiGroups and apiVersions wildcards do not matter.
func resourceMatches(pattern, resource, sub string, secret bool) bool {
	pr, ps, hasSub := strings.Cut(pattern, "/")
	if pr == "*" {
		if secret {
			return false
		}
	} else if pr != resource {
		return false
	}
	if !hasSub {
		return sub == ""
	}
	return ps == "*" || ps == sub
}

// objectMeta is the labels part of the request's objects, decoded lazily.
type objectMeta struct {
	object, old struct {
		Labels map[string]string
	}
}

func (m *objectMeta) labels() map[string]string {
	if m.object.Labels != nil {
		return m.object.Labels
	}
	return m.old.Labels
}

type metaOnly struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
}

func decodeMeta(req *admissionv1.AdmissionRequest) *objectMeta {
	m := &objectMeta{}
	var o metaOnly
	if len(req.Object.Raw) > 0 && json.Unmarshal(req.Object.Raw, &o) == nil {
		m.object.Labels = o.Metadata.Labels
	}
	o = metaOnly{}
	if len(req.OldObject.Raw) > 0 && json.Unmarshal(req.OldObject.Raw, &o) == nil {
		m.old.Labels = o.Metadata.Labels
	}
	return m
}
