package rest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/storage"
)

func (h *Handler) get(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	out := res.New()
	rv := r.URL.Query().Get("resourceVersion")
	if err := h.store(res).Get(r.Context(), res.Key(info.Namespace, info.Name), rv, out); err != nil {
		h.writeError(w, r, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(res.GVK())
	if acceptsTable(r) {
		h.writeObject(w, r, http.StatusOK, toTable(res, out, r))
		return
	}
	h.writeObject(w, r, http.StatusOK, out)
}

// listOptions parses list/watch query parameters.
func listOptions(r *http.Request, res *registry.Resource) (storage.ListOptions, error) {
	q := r.URL.Query()
	opts := storage.ListOptions{
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: q.Get("resourceVersionMatch"),
		Recursive:            true,
		AllowWatchBookmarks:  isTrue(q.Get("allowWatchBookmarks")),
		Predicate:            storage.Predicate{Continue: q.Get("continue")},
	}
	switch opts.ResourceVersionMatch {
	case "", string(metav1.ResourceVersionMatchNotOlderThan), string(metav1.ResourceVersionMatchExact):
	default:
		return opts, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch: unsupported value %q", opts.ResourceVersionMatch))
	}
	watching := isTrue(q.Get("watch")) || strings.Contains(r.URL.Path, "/watch/")
	if !watching && opts.ResourceVersionMatch != "" && opts.ResourceVersion == "" {
		return opts, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		if _, err := strconv.ParseUint(opts.ResourceVersion, 10, 64); err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: must be a decimal number", opts.ResourceVersion))
		}
	}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return opts, apierrors.NewBadRequest(err.Error())
		}
		opts.Predicate.Label = sel
	}
	if s := q.Get("fieldSelector"); s != "" {
		sel, err := fields.ParseSelector(s)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		for _, req := range sel.Requirements() {
			if !res.HasField(req.Field) {
				return opts, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		opts.Predicate.Field = sel
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", s))
		}
		opts.Predicate.Limit = n
	}
	if opts.Predicate.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return opts, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	if s := q.Get("sendInitialEvents"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid sendInitialEvents %q", s))
		}
		opts.SendInitialEvents = &b
	}
	switch {
	case !watching && opts.SendInitialEvents != nil:
		return opts, apierrors.NewBadRequest("sendInitialEvents is forbidden for list")
	case watching && opts.SendInitialEvents != nil && opts.ResourceVersionMatch != string(metav1.ResourceVersionMatchNotOlderThan):
		return opts, apierrors.NewBadRequest("resourceVersionMatch must be NotOlderThan when sendInitialEvents is provided")
	case watching && opts.SendInitialEvents == nil && opts.ResourceVersionMatch != "":
		return opts, apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
	case watching && opts.SendInitialEvents != nil && *opts.SendInitialEvents && !opts.AllowWatchBookmarks:
		return opts, apierrors.NewBadRequest("allowWatchBookmarks must be true when sendInitialEvents is true")
	}
	return opts, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	opts, err := listOptions(r, res)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := res.NewList()
	if err := h.store(res).List(r.Context(), res.CollectionKey(info.Namespace), opts, out); err != nil {
		h.writeError(w, r, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(res.GVR.GroupVersion().WithKind(res.ListKind))
	if acceptsTable(r) {
		h.writeObject(w, r, http.StatusOK, listToTable(res, out, r))
		return
	}
	h.writeObject(w, r, http.StatusOK, out)
}

func (h *Handler) watch(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	opts, err := listOptions(r, res)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	key := res.CollectionKey(info.Namespace)
	if info.Name != "" {
		// A watch of one object is a field selector on its name.
		sel := fields.OneTermEqualSelector("metadata.name", info.Name)
		if opts.Predicate.Field != nil {
			sel = fields.AndSelectors(sel, opts.Predicate.Field)
		}
		opts.Predicate.Field = sel
	}
	timeout := h.opts.MinRequestTimeout + rand.N(h.opts.MinRequestTimeout)
	if s := r.URL.Query().Get("timeoutSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			h.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", s)))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	wi, err := h.store(res).Watch(ctx, key, opts)
	flusher, _ := w.(http.Flusher)
	if err != nil {
		if isGone(err) {
			// Like upstream: a 200 with one ERROR event, so clients relist.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			st := toStatus(err)
			st.Kind, st.APIVersion = "Status", "v1"
			_ = h.jsonEvent(w, watch.Error, st, &bytes.Buffer{})
			return
		}
		h.writeError(w, r, err)
		return
	}
	defer wi.Stop()
	table := acceptsTable(r)
	partial := !table && acceptsPartial(r)
	enc := h.jsonEvent
	contentType := "application/json"
	if !table && !partial && prefersProtobuf(r) {
		if probe := res.New(); h.codecs.proto.Encode(probe, io.Discard) == nil {
			enc, contentType = h.protoEvent, protobufMedia+";stream=watch"
		}
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	gvk := res.GVK()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return
			}
			obj := ev.Object
			if ev.Type == watch.Error {
				if st, ok := obj.(*metav1.Status); ok {
					st.Kind, st.APIVersion = "Status", "v1"
				}
			} else if obj != nil {
				obj.GetObjectKind().SetGroupVersionKind(gvk)
				if table && ev.Type != watch.Bookmark {
					obj = toTable(res, obj, r)
				} else if partial {
					obj = toPartial(obj)
				}
			}
			if err := enc(w, ev.Type, obj, &buf); err != nil {
				return
			}
			// Drain whatever is already queued before flushing.
			if len(wi.ResultChan()) == 0 && flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// eventEncoder writes one watch event.
type eventEncoder func(w io.Writer, typ watch.EventType, obj runtime.Object, buf *bytes.Buffer) error

// jsonEvent writes one JSON watch event (one line).
func (h *Handler) jsonEvent(w io.Writer, typ watch.EventType, obj runtime.Object, buf *bytes.Buffer) error {
	buf.Reset()
	buf.WriteString(`{"type":"`)
	buf.WriteString(string(typ))
	buf.WriteString(`","object":`)
	if obj == nil {
		buf.WriteString("null")
	} else if err := h.codecs.json.Encode(obj, buf); err != nil {
		return err
	}
	// The encoder ends with a newline; close the event before it.
	b := bytes.TrimRight(buf.Bytes(), "\n")
	b = append(b, "}\n"...)
	_, err := w.Write(b)
	return err
}

// protoEvent writes one length-delimited protobuf metav1.WatchEvent whose
// object is the protobuf encoding of obj, as client-go's protobuf watch
// decoder expects.
func (h *Handler) protoEvent(w io.Writer, typ watch.EventType, obj runtime.Object, buf *bytes.Buffer) error {
	buf.Reset()
	if obj != nil {
		if err := h.codecs.proto.Encode(obj, buf); err != nil {
			return err
		}
	}
	ev := metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: buf.Bytes()}}
	data, err := ev.Marshal()
	if err != nil {
		return err
	}
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], uint32(len(data)))
	if _, err := w.Write(size[:]); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
