package admission

import (
	"context"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Adapter presents a Chain through the apiserver's admission interface
// (skiff.dev/apiserver Admission and AdmissionFilter), which passes the
// request and namespace labels as separate arguments:
//
//	opts.Admission = admission.Adapter{Chain: chain}
type Adapter struct{ Chain *Chain }

// Mutate runs the mutating policies.
func (a Adapter) Mutate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) ([]byte, []string, error) {
	return a.Chain.Mutate(ctx, Attributes{Request: req, NamespaceLabels: namespaceLabels})
}

// Validate runs the validating policies.
func (a Adapter) Validate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) ([]string, error) {
	return a.Chain.Validate(ctx, Attributes{Request: req, NamespaceLabels: namespaceLabels})
}

// Handles reports whether any policy's rules could match the request.
func (a Adapter) Handles(resource schema.GroupVersionResource, subresource string, operation admissionv1.Operation) bool {
	return a.Chain.Handles(resource, subresource, operation)
}

// Handles reports cheaply, before any object is serialized, whether any
// policy's rules (operations, groups, versions, resources) could match a
// request; selectors and scope are not considered.
func (c *Chain) Handles(resource schema.GroupVersionResource, subresource string, operation admissionv1.Operation) bool {
	snap := c.current.Load()
	req := admissionv1.AdmissionRequest{SubResource: subresource, Operation: operation}
	req.Resource.Group, req.Resource.Version, req.Resource.Resource = resource.Group, resource.Version, resource.Resource
	for _, list := range [][]*policy{snap.mutating, snap.validating} {
		for _, p := range list {
			for i := range p.spec.Rules {
				r := p.spec.Rules[i]
				r.Scope = nil
				if ruleMatches(&r, &req) {
					return true
				}
			}
		}
	}
	return false
}
