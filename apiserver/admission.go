package apiserver

import (
	"context"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Admission is the extension point for admission control (skiff's Wasm
// policies). The chain for every write is: mutating admission (Mutate),
// then built-in defaulting and validation, then validating admission
// (Validate); the object is stored only if all pass. With ?dryRun=All
// everything runs except the write (req.DryRun is true).
//
// Only standard library and k8s.io types appear in the signatures, so an
// implementation (e.g. skiff.dev/plugins/admission) satisfies the interface
// without importing this module.
//
// req carries uid, kind, resource, subResource, name, namespace, operation
// (CREATE, UPDATE, DELETE), userInfo, object and oldObject (JSON), dryRun.
// namespaceLabels are the labels of the object's namespace (for a
// Namespace, its own labels; nil for other cluster-scoped objects).
//
// Mutate returns the full JSON of the mutated object, or nil when it did
// not change it. Both return an error to deny the request: an
// apierrors.APIStatus error (e.g. apierrors.NewForbidden) is sent to the
// client as is, any other error becomes 403 Forbidden. Warnings are sent to
// the client as HTTP Warning headers.
type Admission interface {
	Mutate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) (object []byte, warnings []string, err error)
	Validate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) (warnings []string, err error)
}

// AdmissionFilter may be implemented by an Admission to say cheaply, before
// any object is serialized, whether it wants a request at all.
type AdmissionFilter interface {
	Handles(resource schema.GroupVersionResource, subresource string, operation admissionv1.Operation) bool
}
