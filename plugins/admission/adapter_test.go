package admission_test

import (
	"context"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/plugins/admission"
)

// apiserverAdmission mirrors skiff.dev/apiserver's Admission and
// AdmissionFilter interfaces (not imported: plugins must not depend on a
// component module), so a change on either side breaks this build.
type apiserverAdmission interface {
	Mutate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) (object []byte, warnings []string, err error)
	Validate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) (warnings []string, err error)
	Handles(resource schema.GroupVersionResource, subresource string, operation admissionv1.Operation) bool
}

var _ apiserverAdmission = admission.Adapter{}
