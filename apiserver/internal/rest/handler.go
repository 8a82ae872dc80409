// Package rest serves the Kubernetes REST verbs (create, get, list, watch,
// update, patch, delete, deletecollection) and the status, scale, binding,
// eviction, finalize and WasmModule content subresources for every resource
// in the registry, on top of one storage.Interface per resource. It owns the
// generic "strategy" (system metadata, generation, status/spec separation,
// graceful deletion and finalizers) and runs the admission chain: mutating
// admission, defaulting and validation, validating admission.
package rest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/storage"
)

// Admission is the pluggable admission chain (see the public apiserver
// package for the contract). Errors deny the request; an APIStatus error is
// sent as is, any other error as 403 Forbidden.
type Admission interface {
	Mutate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) (object []byte, warnings []string, err error)
	Validate(ctx context.Context, req *admissionv1.AdmissionRequest, namespaceLabels map[string]string) (warnings []string, err error)
}

// AdmissionFilter is optionally implemented by an Admission to skip
// requests no policy can match before any object is serialized for it.
type AdmissionFilter interface {
	Handles(resource schema.GroupVersionResource, subresource string, operation admissionv1.Operation) bool
}

// ContentStore keeps the bytes of WasmModules.
type ContentStore interface {
	// Put stores the bytes of module name (replacing what was there).
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the bytes of module name; ok is false when none are stored.
	Get(ctx context.Context, name string) (data []byte, ok bool, err error)
	// Delete removes the bytes of module name.
	Delete(ctx context.Context, name string) error
}

// Allocator hands out unique values (Service cluster IPs, node ports).
type Allocator interface {
	// Allocate reserves value (or any free one when value is empty) for
	// owner ("namespace/name") and returns it.
	Allocate(ctx context.Context, value, owner string) (string, error)
	// Release frees value.
	Release(ctx context.Context, value string) error
}

// Proxy forwards streaming subresources to kubelets.
type Proxy interface {
	// ServePod serves pods/<name>/<subresource> (log, exec, attach).
	ServePod(w http.ResponseWriter, r *http.Request, namespace, name, subresource string)
	// ServeNode serves nodes/<name>/proxy/<path>.
	ServeNode(w http.ResponseWriter, r *http.Request, name, path string)
}

// Options configures a Handler.
type Options struct {
	Registry *registry.Registry
	Scheme   *runtime.Scheme
	// Stores holds one store per resource.
	Stores map[schema.GroupVersionResource]storage.Interface
	// Default applies defaults to a decoded object (may be nil).
	Default func(obj runtime.Object)
	// ValidateCreate, ValidateUpdate and ValidateStatusUpdate validate
	// objects (each may be nil).
	ValidateCreate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate       func(obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate func(obj, old runtime.Object) field.ErrorList
	// Admission may be nil.
	Admission Admission
	// Content stores WasmModule bytes (nil disables the content subresource).
	Content ContentStore
	// ServiceIPs allocates Service cluster IPs and NodePorts node ports (nil
	// leaves the values as sent).
	ServiceIPs Allocator
	NodePorts  Allocator
	// Proxy serves pods/log, exec, attach and nodes/proxy (nil: 404).
	Proxy Proxy
	// Creates serves create-only resources and subresources that are not
	// stored (TokenReview, SubjectAccessReview, serviceaccounts/token…),
	// keyed by CreateKey. A Virtual resource without an entry answers 404.
	Creates map[string]CreateHandler
	// ServiceAccounts enables ServiceAccount admission on pod create
	// (serviceaccount.go): default account, existence check, token volume.
	ServiceAccounts bool
	// Logger receives request errors.
	Logger *slog.Logger
	// MinRequestTimeout bounds watches without timeoutSeconds (default 30m,
	// randomized up to twice that).
	MinRequestTimeout time.Duration
}

// Handler serves resource URLs.
type Handler struct {
	opts   Options
	codecs *codecs
	log    *slog.Logger
	// types holds the typeFields of every registered object type (read
	// only after New).
	types map[reflect.Type]typeFields
}

// New builds a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Registry == nil || opts.Scheme == nil {
		return nil, fmt.Errorf("rest: Registry and Scheme are required")
	}
	for _, res := range opts.Registry.All() {
		if opts.Stores[res.GVR] == nil && !res.Virtual {
			return nil, fmt.Errorf("rest: no store for %s", res.GVR)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MinRequestTimeout == 0 {
		opts.MinRequestTimeout = 30 * time.Minute
	}
	types := map[reflect.Type]typeFields{}
	for _, res := range opts.Registry.All() {
		if res.New != nil {
			t := reflect.TypeOf(res.New())
			types[t] = fieldsOfType(t)
		}
	}
	return &Handler{opts: opts, codecs: newCodecs(opts.Scheme), log: opts.Logger, types: types}, nil
}

// ServeHTTP dispatches a resource request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, ok := parseRequest(r)
	if !ok {
		h.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	res, ok := h.opts.Registry.Lookup(info.GV.WithResource(info.Resource))
	if !ok {
		h.notFound(w, r)
		return
	}
	if info.Namespace != "" && !res.Namespaced {
		h.notFound(w, r)
		return
	}
	if info.Verb == "" {
		h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), r.Method))
		return
	}
	if res.Virtual {
		h.serveCreate(w, r, res, info)
		return
	}
	if info.Subresource != "" {
		if _, ok := h.opts.Creates[CreateKey(res.GVR.GroupResource(), info.Subresource)]; ok {
			h.serveCreate(w, r, res, info)
			return
		}
		h.serveSubresource(w, r, res, info)
		return
	}
	if res.Namespaced && info.Name != "" && info.Namespace == "" {
		h.notFound(w, r)
		return
	}
	switch info.Verb {
	case "get":
		h.get(w, r, res, info)
	case "list":
		h.list(w, r, res, info)
	case "watch":
		h.watch(w, r, res, info)
	case "create":
		if info.Name != "" {
			h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), "create on a named resource"))
			return
		}
		if res.Namespaced && info.Namespace == "" {
			h.notFound(w, r)
			return
		}
		h.create(w, r, res, info)
	case "update":
		if info.Name == "" {
			h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), "update on a collection"))
			return
		}
		h.update(w, r, res, info)
	case "patch":
		if info.Name == "" {
			h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), "patch on a collection"))
			return
		}
		h.patch(w, r, res, info)
	case "delete":
		h.delete(w, r, res, info)
	case "deletecollection":
		h.deleteCollection(w, r, res, info)
	}
}

// WriteError sends err to the client as a metav1.Status.
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	h.writeError(w, r, err)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	st := apierrors.NewNotFound(schema.GroupResource{}, "")
	st.ErrStatus.Message = "the server could not find the requested resource"
	st.ErrStatus.Details = nil
	h.writeError(w, r, st)
}

func (h *Handler) store(res *registry.Resource) storage.Interface { return h.opts.Stores[res.GVR] }

func (h *Handler) serveSubresource(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	if res.Namespaced && info.Namespace == "" {
		h.notFound(w, r)
		return
	}
	switch {
	case info.Subresource == "status" && res.Status:
		switch info.Verb {
		case "get":
			h.get(w, r, res, info)
		case "update":
			h.update(w, r, res, info)
		case "patch":
			h.patch(w, r, res, info)
		default:
			h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb+" on status"))
		}
	case info.Subresource == "scale" && res.Scale:
		h.scale(w, r, res, info)
	case info.Subresource == "binding" && res.GVR.Resource == "pods":
		if info.Verb != "create" {
			h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb+" on binding"))
			return
		}
		h.bind(w, r, res, info)
	case info.Subresource == "eviction" && res.GVR.Resource == "pods":
		if info.Verb != "create" {
			h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb+" on eviction"))
			return
		}
		h.evict(w, r, res, info)
	case info.Subresource == "finalize" && res.GVR.Resource == "namespaces":
		if info.Verb != "update" {
			h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb+" on finalize"))
			return
		}
		h.update(w, r, res, info)
	case h.opts.Proxy != nil && res.GVR.Resource == "pods" && res.GVR.Group == "" &&
		(info.Subresource == "log" || info.Subresource == "exec" || info.Subresource == "attach" || info.Subresource == "portforward"):
		h.opts.Proxy.ServePod(w, r, info.Namespace, info.Name, info.Subresource)
	case h.opts.Proxy != nil && res.GVR.Resource == "nodes" && res.GVR.Group == "" && info.Subresource == "proxy":
		h.opts.Proxy.ServeNode(w, r, info.Name, info.ProxyPath)
	case info.Subresource == "content" && res.Kind == "WasmModule" && h.opts.Content != nil:
		h.content(w, r, res, info)
	default:
		h.notFound(w, r)
	}
}

// isGone reports whether err is a 410.
func isGone(err error) bool { return apierrors.IsResourceExpired(err) || apierrors.IsGone(err) }
