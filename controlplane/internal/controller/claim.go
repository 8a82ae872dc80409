package controller

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PatchFunc applies a JSON merge patch to the named object.
type PatchFunc func(ctx context.Context, namespace, name string, patch []byte) error

// Claimer adopts orphans that match an owner's selector and releases owned
// objects that no longer match, the way upstream's ControllerRefManager does.
type Claimer struct {
	Owner    metav1.Object
	OwnerGVK schema.GroupVersionKind
	Selector labels.Selector
	Patch    PatchFunc
	// CanAdopt re-reads the owner from the API server and fails when it is
	// gone or being deleted; it is called once, before the first adoption.
	CanAdopt func(ctx context.Context) error

	adoptChecked bool
	adoptErr     error
}

// Claim returns the objects the owner controls after adopting and releasing.
func Claim[T metav1.Object](ctx context.Context, c *Claimer, objs []T) ([]T, error) {
	var out []T
	var errs []error
	for _, o := range objs {
		ref := metav1.GetControllerOf(o)
		matches := c.Selector.Matches(labels.Set(o.GetLabels()))
		switch {
		case ref != nil && ref.UID == c.Owner.GetUID():
			if matches || c.Owner.GetDeletionTimestamp() != nil {
				out = append(out, o)
				continue
			}
			if o.GetDeletionTimestamp() != nil {
				continue
			}
			if err := c.release(ctx, o); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case ref != nil:
			// Controlled by someone else.
		default:
			if !matches || c.Owner.GetDeletionTimestamp() != nil || o.GetDeletionTimestamp() != nil {
				continue
			}
			if err := c.adopt(ctx, o); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
				continue
			}
			out = append(out, o)
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("claim: %w", errs[0])
	}
	return out, nil
}

func (c *Claimer) adopt(ctx context.Context, o metav1.Object) error {
	if !c.adoptChecked {
		c.adoptChecked = true
		if c.CanAdopt != nil {
			c.adoptErr = c.CanAdopt(ctx)
		}
	}
	if c.adoptErr != nil {
		return fmt.Errorf("cannot adopt %s: %w", o.GetName(), c.adoptErr)
	}
	refs := append([]metav1.OwnerReference{}, o.GetOwnerReferences()...)
	refs = append(refs, OwnerRef(c.Owner, c.OwnerGVK))
	return c.patchRefs(ctx, o, refs)
}

func (c *Claimer) release(ctx context.Context, o metav1.Object) error {
	var refs []metav1.OwnerReference
	for _, r := range o.GetOwnerReferences() {
		if r.UID != c.Owner.GetUID() {
			refs = append(refs, r)
		}
	}
	return c.patchRefs(ctx, o, refs)
}

func (c *Claimer) patchRefs(ctx context.Context, o metav1.Object, refs []metav1.OwnerReference) error {
	b, err := OwnerRefsPatch(o, refs)
	if err != nil {
		return err
	}
	return c.Patch(ctx, o.GetNamespace(), o.GetName(), b)
}

// OwnerRefsPatch builds a JSON merge patch that sets o's ownerReferences to
// refs, guarded by o's resourceVersion and UID.
func OwnerRefsPatch(o metav1.Object, refs []metav1.OwnerReference) ([]byte, error) {
	meta := map[string]any{
		"ownerReferences": refs,
		"uid":             o.GetUID(),
	}
	if refs == nil {
		meta["ownerReferences"] = nil
	}
	if rv := o.GetResourceVersion(); rv != "" {
		meta["resourceVersion"] = rv
	}
	return json.Marshal(map[string]any{"metadata": meta})
}
