package rest

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/endpoints/request"

	"skiff.dev/apiserver/internal/registry"
)

// admissionHandles reports whether the admission chain wants a request.
func (h *Handler) admissionHandles(res *registry.Resource, sub string, op admissionv1.Operation) bool {
	if h.opts.Admission == nil {
		return false
	}
	if f, ok := h.opts.Admission.(AdmissionFilter); ok {
		return f.Handles(res.GVR, sub, op)
	}
	return true
}

// admissionRequest builds the AdmissionRequest for a write, on behalf of
// the user in ctx (request.WithUser).
func (h *Handler) admissionRequest(ctx context.Context, op admissionv1.Operation, res *registry.Resource, sub string, obj, old runtime.Object, dryRun bool) (*admissionv1.AdmissionRequest, string, error) {
	var name, namespace string
	src := obj
	if src == nil {
		src = old
	}
	if src != nil {
		m, err := accessor(src)
		if err != nil {
			return nil, "", err
		}
		name, namespace = m.GetName(), m.GetNamespace()
	}
	gvk := res.GVK()
	req := &admissionv1.AdmissionRequest{
		UID:         types.UID(uuid.NewString()),
		Kind:        metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Resource:    metav1.GroupVersionResource{Group: res.GVR.Group, Version: res.GVR.Version, Resource: res.GVR.Resource},
		SubResource: sub,
		Name:        name,
		Namespace:   namespace,
		Operation:   op,
		UserInfo:    admissionUser(ctx),
		DryRun:      &dryRun,
	}
	req.RequestKind, req.RequestResource, req.RequestSubResource = &req.Kind, &req.Resource, sub
	for _, pair := range []struct {
		o   runtime.Object
		dst *runtime.RawExtension
	}{{obj, &req.Object}, {old, &req.OldObject}} {
		if pair.o == nil {
			continue
		}
		pair.o.GetObjectKind().SetGroupVersionKind(gvk)
		raw, err := runtime.Encode(h.codecs.json, pair.o)
		if err != nil {
			return nil, "", apierrors.NewInternalError(fmt.Errorf("encode object for admission: %w", err))
		}
		pair.dst.Raw = raw
	}
	return req, namespace, nil
}

// admissionUser is the requesting user as admission sees it (empty when
// the context carries none, e.g. bootstrap writes).
func admissionUser(ctx context.Context) authenticationv1.UserInfo {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return authenticationv1.UserInfo{}
	}
	out := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if extra := u.GetExtra(); len(extra) > 0 {
		out.Extra = make(map[string]authenticationv1.ExtraValue, len(extra))
		for k, v := range extra {
			out.Extra[k] = v
		}
	}
	return out
}

// namespaceLabels returns the labels of a namespace (nil when cluster-scoped
// or missing).
func (h *Handler) namespaceLabels(ctx context.Context, res *registry.Resource, namespace string, obj runtime.Object) map[string]string {
	if res.GVR.Resource == "namespaces" && res.GVR.Group == "" {
		if m, err := accessor(obj); err == nil {
			return m.GetLabels()
		}
	}
	if !res.Namespaced || namespace == "" {
		return nil
	}
	nsRes, ok := h.opts.Registry.Lookup(corev1.SchemeGroupVersion.WithResource("namespaces"))
	if !ok {
		return nil
	}
	var ns corev1.Namespace
	if err := h.store(nsRes).Get(ctx, nsRes.Key("", namespace), "0", &ns); err != nil {
		return nil
	}
	return ns.Labels
}

func admissionDenied(err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return err
	}
	return apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("admission denied the request: %w", err))
}

// mutate runs mutating admission and returns the (possibly new) object.
func (h *Handler) mutate(ctx context.Context, op admissionv1.Operation, res *registry.Resource, sub string, obj, old runtime.Object, dryRun bool) (runtime.Object, []string, error) {
	req, ns, err := h.admissionRequest(ctx, op, res, sub, obj, old, dryRun)
	if err != nil {
		return nil, nil, err
	}
	patched, warnings, err := h.opts.Admission.Mutate(ctx, req, h.namespaceLabels(ctx, res, ns, obj))
	if err != nil {
		return nil, warnings, admissionDenied(err)
	}
	if len(patched) == 0 {
		return obj, warnings, nil
	}
	out, _, err := h.codecs.decode(patched, "application/json", res.GVK(), res.New(), fieldValidationIgnore)
	if err != nil {
		return nil, warnings, apierrors.NewInternalError(fmt.Errorf("mutating admission returned an invalid object: %w", err))
	}
	// System metadata is not the policy's to change.
	before, _ := accessor(obj)
	after, err := accessor(out)
	if err != nil {
		return nil, warnings, err
	}
	after.SetUID(before.GetUID())
	after.SetCreationTimestamp(before.GetCreationTimestamp())
	after.SetResourceVersion(before.GetResourceVersion())
	after.SetName(before.GetName())
	after.SetNamespace(before.GetNamespace())
	after.SetDeletionTimestamp(before.GetDeletionTimestamp())
	after.SetGeneration(before.GetGeneration())
	return out, warnings, nil
}

// validateAdmission runs validating admission.
func (h *Handler) validateAdmission(ctx context.Context, op admissionv1.Operation, res *registry.Resource, sub string, obj, old runtime.Object, dryRun bool) ([]string, error) {
	req, ns, err := h.admissionRequest(ctx, op, res, sub, obj, old, dryRun)
	if err != nil {
		return nil, err
	}
	src := obj
	if src == nil {
		src = old
	}
	warnings, err := h.opts.Admission.Validate(ctx, req, h.namespaceLabels(ctx, res, ns, src))
	if err != nil {
		return warnings, admissionDenied(err)
	}
	return warnings, nil
}
