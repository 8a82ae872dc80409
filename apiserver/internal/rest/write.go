package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/storage"
)

// readWrite reads what a write request with a body brings: the body (at
// most MaxObjectBytes), its fieldValidation directive and whether it is a
// dry run.
func readWrite(r *http.Request) (body []byte, fv fieldValidation, dryRun bool, err error) {
	if body, err = readBody(r, MaxObjectBytes); err != nil {
		return nil, fv, false, err
	}
	if fv, err = parseFieldValidation(r); err != nil {
		return nil, fv, false, err
	}
	if dryRun, err = isDryRun(r); err != nil {
		return nil, fv, false, err
	}
	return body, fv, dryRun, nil
}

func isDryRun(r *http.Request) (bool, error) {
	vals := query(r)["dryRun"]
	for _, v := range vals {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q (only \"All\")", v))
		}
	}
	return len(vals) > 0, nil
}

func setWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
	}
}

// checkNamespace refuses writes into a missing or terminating namespace.
func (h *Handler) checkNamespace(ctx context.Context, ns string) error {
	nsRes, ok := h.opts.Registry.Lookup(corev1.SchemeGroupVersion.WithResource("namespaces"))
	if !ok {
		return nil
	}
	// From the watch cache; the store confirms a miss with etcd, so a
	// namespace created a moment ago is found.
	obj, err := h.peekNamespace(ctx, nsRes, ns)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return apierrors.NewNotFound(nsRes.GroupResource(), ns)
		}
		return err
	}
	if obj.DeletionTimestamp != nil || obj.Status.Phase == corev1.NamespaceTerminating {
		e := apierrors.NewForbidden(nsRes.GroupResource(), ns,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		e.ErrStatus.Details.Causes = append(e.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: "NamespaceTerminating", Field: "metadata.namespace",
			Message: fmt.Sprintf("namespace %s is being terminated", ns)})
		return e
	}
	return nil
}

// peekNamespace reads namespace ns for checkNamespace: read-only, without
// a copy when the store can show its cached object.
func (h *Handler) peekNamespace(ctx context.Context, nsRes *registry.Resource, ns string) (*corev1.Namespace, error) {
	st, key := h.store(nsRes), nsRes.Key("", ns)
	if p, ok := st.(storage.Peeker); ok {
		obj, err := p.Peek(ctx, key)
		if err != nil {
			return nil, err
		}
		if nsObj, ok := obj.(*corev1.Namespace); ok {
			return nsObj, nil
		}
		return nil, apierrors.NewInternalError(fmt.Errorf("namespace store returned %T", obj))
	}
	var obj corev1.Namespace
	if err := st.Get(ctx, key, "0", &obj); err != nil {
		return nil, err
	}
	return &obj, nil
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	ctx := r.Context()
	obj, warnings, err := h.decodeBody(r, res)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, moreWarnings, err := h.createObject(ctx, res, info.Namespace, obj, dryRun)
	setWarnings(w, append(warnings, moreWarnings...))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeObject(w, r, http.StatusCreated, out)
}

func (h *Handler) decodeBody(r *http.Request, res *registry.Resource) (runtime.Object, []string, error) {
	body, err := readBody(r, MaxObjectBytes)
	if err != nil {
		return nil, nil, err
	}
	fv, err := parseFieldValidation(r)
	if err != nil {
		return nil, nil, err
	}
	return h.codecs.decode(body, mediaType(r), res.GVK(), res.New(), fv)
}

// createObject runs the create strategy and admission chain, then stores obj.
func (h *Handler) createObject(ctx context.Context, res *registry.Resource, namespace string, obj runtime.Object, dryRun bool) (runtime.Object, []string, error) {
	m, err := accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	if res.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(namespace)
		} else if m.GetNamespace() != namespace {
			return nil, nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if err := prepareCreate(res, obj, h.fieldsOf(obj), m, time.Now()); err != nil {
		return nil, nil, err
	}
	if m.GetName() == "" {
		return nil, nil, invalid(res.GVK().GroupKind(), "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if res.Namespaced {
		if err := h.checkNamespace(ctx, namespace); err != nil {
			return nil, nil, err
		}
	}
	if err := admitNodeCreate(ctx, obj); err != nil {
		return nil, nil, err
	}
	if err := h.admitServiceAccount(ctx, obj); err != nil {
		return nil, nil, err
	}
	obj, warnings, err := h.admit(ctx, admissionv1.Create, res, "", obj, nil, dryRun)
	if err != nil {
		return nil, warnings, err
	}
	if svc, ok := obj.(*corev1.Service); ok && !dryRun {
		if err := h.allocateServiceIPs(ctx, svc, nil); err != nil {
			return nil, warnings, err
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	if dryRun {
		return obj, warnings, nil
	}
	// obj is this request's own: the store sets its resourceVersion in
	// place rather than copying it into a new object.
	if err := h.store(res).Create(ctx, res.Key(m.GetNamespace(), m.GetName()), obj, obj); err != nil {
		if svc, ok := obj.(*corev1.Service); ok {
			h.releaseServiceIPs(ctx, svc)
		}
		return nil, warnings, err
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	return obj, warnings, nil
}

// admit runs defaulting, mutating admission, validation and validating
// admission on obj (old is nil on create).
func (h *Handler) admit(ctx context.Context, op admissionv1.Operation, res *registry.Resource, sub string, obj, old runtime.Object, dryRun bool) (runtime.Object, []string, error) {
	if h.opts.Default != nil && sub == "" {
		h.opts.Default(obj)
	}
	var warnings []string
	if h.admissionHandles(res, sub, op) {
		mutated, w, err := h.mutate(ctx, op, res, sub, obj, old, dryRun)
		warnings = append(warnings, w...)
		if err != nil {
			return nil, warnings, err
		}
		obj = mutated
		if h.opts.Default != nil && sub == "" {
			h.opts.Default(obj)
		}
	}
	var errs field.ErrorList
	switch {
	case old == nil && h.opts.ValidateCreate != nil:
		errs = h.opts.ValidateCreate(obj)
	case old != nil && sub == "" && h.opts.ValidateUpdate != nil:
		errs = h.opts.ValidateUpdate(obj, old)
	case old != nil && sub == "status" && h.opts.ValidateStatusUpdate != nil:
		errs = h.opts.ValidateStatusUpdate(obj, old)
	case old != nil && h.opts.ValidateUpdate != nil:
		errs = h.opts.ValidateUpdate(obj, old)
	}
	if len(errs) > 0 {
		m, _ := accessor(obj)
		return nil, warnings, invalid(res.GVK().GroupKind(), m.GetName(), errs)
	}
	if h.admissionHandles(res, sub, op) {
		w, err := h.validateAdmission(ctx, op, res, sub, obj, old, dryRun)
		warnings = append(warnings, w...)
		if err != nil {
			return nil, warnings, err
		}
	}
	return obj, warnings, nil
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	obj, warnings, err := h.decodeBody(r, res)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := checkIdentity(obj, res, info); err != nil {
		h.writeError(w, r, err)
		return
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, created, more, err := h.updateObject(r.Context(), res, info, dryRun, func(current runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	setWarnings(w, append(warnings, more...))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	h.writeObject(w, r, code, out)
}

// checkIdentity makes sure the body names the object of the URL.
func checkIdentity(obj runtime.Object, res *registry.Resource, info requestInfo) error {
	m, err := accessor(obj)
	if err != nil {
		return err
	}
	if m.GetName() == "" {
		m.SetName(info.Name)
	} else if m.GetName() != info.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.Name))
	}
	if res.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(info.Namespace)
		} else if m.GetNamespace() != info.Namespace {
			return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	return nil
}

// newObjectFunc computes the object a client wants from the current one.
type newObjectFunc func(current runtime.Object) (runtime.Object, error)

// updateObject runs an update (main resource or status/finalize
// subresource) through the strategy and admission with optimistic
// concurrency. created is true when the object did not exist and
// create-on-update made it.
func (h *Handler) updateObject(ctx context.Context, res *registry.Resource, info requestInfo, dryRun bool, next newObjectFunc) (out runtime.Object, created bool, warnings []string, err error) {
	key := res.Key(info.Namespace, info.Name)
	allowCreate := res.AllowCreateOnUpdate && info.Subresource == ""
	tryUpdate := func(current runtime.Object) (runtime.Object, error) {
		warnings = warnings[:0]
		created = false
		cur, err := accessor(current)
		if err != nil {
			return nil, err
		}
		obj, err := next(current)
		if err != nil {
			return nil, err
		}
		m, err := accessor(obj)
		if err != nil {
			return nil, err
		}
		if cur.GetResourceVersion() == "" && cur.GetUID() == "" {
			// The object does not exist: create-on-update.
			if !allowCreate {
				return nil, apierrors.NewNotFound(res.GroupResource(), info.Name)
			}
			m.SetResourceVersion("")
			if err := prepareCreate(res, obj, h.fieldsOf(obj), m, time.Now()); err != nil {
				return nil, err
			}
			if res.Namespaced {
				if err := h.checkNamespace(ctx, info.Namespace); err != nil {
					return nil, err
				}
			}
			created = true
			obj, w, err := h.admit(ctx, admissionv1.Create, res, "", obj, nil, dryRun)
			warnings = append(warnings, w...)
			return obj, err
		}
		if rv := m.GetResourceVersion(); rv == "" {
			m.SetResourceVersion(cur.GetResourceVersion())
		} else if rv != cur.GetResourceVersion() {
			return nil, apierrors.NewConflict(res.GroupResource(), info.Name, errors.New(registryOptimisticLockMsg))
		}
		if uid := m.GetUID(); uid != "" && uid != cur.GetUID() {
			return nil, apierrors.NewConflict(res.GroupResource(), info.Name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, cur.GetUID()))
		}
		switch info.Subresource {
		case "":
			prepareUpdate(res, obj, current, m, cur)
		case "status":
			prepareStatusUpdate(obj, current, m, cur)
		case "finalize":
			ns := obj.(*corev1.Namespace)
			fin := ns.Spec.Finalizers
			obj = current.DeepCopyObject()
			obj.(*corev1.Namespace).Spec.Finalizers = fin
			m, _ = accessor(obj)
		default:
			prepareUpdate(res, obj, current, m, cur)
		}
		obj, w, err := h.admit(ctx, admissionv1.Update, res, info.Subresource, obj, current, dryRun)
		warnings = append(warnings, w...)
		if err != nil {
			return nil, err
		}
		if svc, ok := obj.(*corev1.Service); ok && !dryRun {
			if err := h.allocateServiceIPs(ctx, svc, current.(*corev1.Service)); err != nil {
				return nil, err
			}
		}
		obj.GetObjectKind().SetGroupVersionKind(res.GVK())
		return obj, nil
	}
	out = res.New()
	if dryRun {
		current := res.New()
		if err := h.store(res).Get(ctx, key, "", current); err != nil {
			if !apierrors.IsNotFound(err) || !allowCreate {
				return nil, false, warnings, err
			}
		}
		obj, err := tryUpdate(current)
		return obj, created, warnings, err
	}
	if err := h.store(res).GuaranteedUpdate(ctx, key, out, allowCreate, nil, tryUpdate); err != nil {
		return nil, false, warnings, err
	}
	out.GetObjectKind().SetGroupVersionKind(res.GVK())
	m, err := accessor(out)
	if err != nil {
		return nil, false, warnings, err
	}
	if shouldDeleteAfterUpdate(m) {
		uid := m.GetUID()
		gone := res.New()
		if err := h.store(res).Delete(ctx, key, gone, &storage.Preconditions{UID: &uid}, nil); err != nil && !apierrors.IsNotFound(err) {
			return nil, false, warnings, err
		}
		h.afterDelete(ctx, res, out)
	}
	return out, created, warnings, nil
}

const registryOptimisticLockMsg = "the object has been modified; please apply your changes to the latest version and try again"

func (h *Handler) patch(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	ctx := r.Context()
	body, fv, dryRun, err := readWrite(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	pt := mediaType(r)
	if pt == "application/apply-patch+yaml" {
		// Server-side apply, approximated: the applied configuration is
		// merged into the live object (or creates it). Field ownership is
		// not tracked.
		if body, err = yaml.YAMLToJSON(body); err != nil {
			h.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid apply configuration: %v", err)))
			return
		}
		if info.Subresource == "" {
			cur := res.New()
			if err := h.store(res).Get(ctx, res.Key(info.Namespace, info.Name), "", cur); apierrors.IsNotFound(err) {
				obj, warnings, err := h.codecs.decode(body, "application/json", res.GVK(), res.New(), fv)
				if err == nil {
					err = checkIdentity(obj, res, info)
				}
				if err != nil {
					h.writeError(w, r, err)
					return
				}
				out, more, err := h.createObject(ctx, res, info.Namespace, obj, dryRun)
				setWarnings(w, append(warnings, more...))
				if err != nil {
					h.writeError(w, r, err)
					return
				}
				h.writeObject(w, r, http.StatusCreated, out)
				return
			}
		}
		pt = "application/merge-patch+json"
	}
	var decodeWarnings []string
	out, _, warnings, err := h.updateObject(ctx, res, info, dryRun, func(current runtime.Object) (runtime.Object, error) {
		patched, err := h.applyPatch(pt, body, current, res)
		if err != nil {
			return nil, err
		}
		obj, w, err := h.codecs.decode(patched, "application/json", res.GVK(), res.New(), fv)
		decodeWarnings = w
		if err != nil {
			return nil, err
		}
		if err := checkIdentity(obj, res, info); err != nil {
			return nil, err
		}
		return obj, nil
	})
	setWarnings(w, append(decodeWarnings, warnings...))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeObject(w, r, http.StatusOK, out)
}

// applyPatch applies a patch of media type pt to the JSON of current.
func (h *Handler) applyPatch(pt string, patch []byte, current runtime.Object, res *registry.Resource) ([]byte, error) {
	current.GetObjectKind().SetGroupVersionKind(res.GVK())
	cur, err := runtime.Encode(h.codecs.json, current)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return patchJSON(pt, cur, patch, res.New())
}

// maxJSONPatchOperations bounds the operations of one JSON patch (as
// kube-apiserver does).
const maxJSONPatchOperations = 10000

func init() {
	// "copy" operations can double a document with each operation; bound
	// what a whole patch may copy (the library's knob; kube-apiserver sets
	// it the same way). Found by FuzzPatch/TestJSONPatchCopyBomb.
	jsonpatch.AccumulatedCopySizeLimit = MaxObjectBytes
}

// checkJSONPatch rejects operations the patch library cannot apply safely:
// add, replace and test need a value (RFC 6902 §4); without one the
// library dereferences nil on a whole-document replace. Found by FuzzPatch.
func checkJSONPatch(p jsonpatch.Patch) error {
	for i, op := range p {
		switch k := op.Kind(); k {
		case "add", "replace", "test":
			if _, ok := op["value"]; !ok {
				return apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: operation %d (%s) has no value", i, k))
			}
		}
	}
	return nil
}

// patchJSON applies a patch of media type pt to cur. The patch libraries
// panic on some malformed patches (e.g. a strategic merge patch whose merge
// key is a list, found by FuzzPatch): a panic is a bad request.
func patchJSON(pt string, cur, patch []byte, schemaObj any) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, apierrors.NewBadRequest(fmt.Sprintf("the patch could not be applied: %v", p))
		}
	}()
	return applyPatchBytes(pt, cur, patch, schemaObj)
}

func applyPatchBytes(pt string, cur, patch []byte, schemaObj any) ([]byte, error) {
	switch pt {
	case "application/json-patch+json":
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: %v", err))
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the JSON patch has %d operations, more than the allowed %d", len(p), maxJSONPatchOperations))
		}
		if err := checkJSONPatch(p); err != nil {
			return nil, err
		}
		out, err := p.Apply(cur)
		var tooBig *jsonpatch.AccumulatedCopySizeError
		if errors.As(err, &tooBig) {
			return nil, apierrors.NewRequestEntityTooLargeError(err.Error())
		}
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "", fmt.Sprintf("the JSON patch could not be applied: %v", err), 0, false)
		}
		return out, nil
	case "application/merge-patch+json":
		out, err := jsonpatch.MergePatch(cur, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid merge patch: %v", err))
		}
		return out, nil
	case "application/strategic-merge-patch+json":
		out, err := strategicpatch.StrategicMergePatch(cur, patch, schemaObj)
		if err != nil {
			if strings.Contains(err.Error(), "unable to find api field") {
				// Types without patch metadata (skiff's own): a merge patch.
				if out, err2 := jsonpatch.MergePatch(cur, patch); err2 == nil {
					return out, nil
				}
			}
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid strategic merge patch: %v", err))
		}
		return out, nil
	default:
		return nil, unsupportedMediaType(pt)
	}
}
