package rest

import (
	"context"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/apiserver/internal/registry"
)

// CreateHandler serves POST on a create-only resource or subresource whose
// objects are never stored: reviews (TokenReview, SubjectAccessReview…) and
// subresources such as serviceaccounts/token.
type CreateHandler struct {
	// GVK is the kind of the request body (and of the response unless
	// Create returns another kind).
	GVK schema.GroupVersionKind
	// New returns an empty body object to decode into.
	New func() runtime.Object
	// Create answers the request. namespace and name are from the URL
	// (name is empty for top-level resources). It returns the object to
	// send back with 201 Created, or an error (an APIStatus is sent as is).
	Create func(ctx context.Context, r *http.Request, namespace, name string, obj runtime.Object) (runtime.Object, error)
}

// CreateKey is the key of a CreateHandler in Options.Creates:
// "<group>/<resource>" or "<group>/<resource>/<subresource>" (the core
// group is empty, so "/serviceaccounts/token").
func CreateKey(gr schema.GroupResource, subresource string) string {
	k := gr.Group + "/" + gr.Resource
	if subresource != "" {
		k += "/" + subresource
	}
	return k
}

// serveCreate decodes the body into the handler's kind, calls it and sends
// the result back with 201 Created.
func (h *Handler) serveCreate(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	ch, ok := h.opts.Creates[CreateKey(res.GVR.GroupResource(), info.Subresource)]
	if !ok {
		h.notFound(w, r)
		return
	}
	if info.Verb != "create" {
		h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb))
		return
	}
	if res.Namespaced && info.Namespace == "" {
		h.notFound(w, r)
		return
	}
	if (info.Subresource == "") != (info.Name == "") {
		h.notFound(w, r)
		return
	}
	body, err := readBody(r, MaxObjectBytes)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	obj, _, err := h.codecs.decode(body, mediaType(r), ch.GVK, ch.New(), fieldValidationIgnore)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, err := ch.Create(r.Context(), r, info.Namespace, info.Name, obj)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeObject(w, r, http.StatusCreated, out)
}
