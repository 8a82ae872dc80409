package rest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxObjectBytes is the largest request body accepted for API objects.
const MaxObjectBytes = 3 << 20

// codecs holds the serializers the handler uses.
type codecs struct {
	scheme     *runtime.Scheme
	json       *json.Serializer // lenient
	jsonStrict *json.Serializer
	yaml       *json.Serializer
	yamlStrict *json.Serializer
	pretty     *json.Serializer
	proto      *protobuf.Serializer
	metaProto  *protobuf.Serializer // DeleteOptions and other meta.k8s.io types
}

func newCodecs(s *runtime.Scheme) *codecs {
	ms := runtime.NewScheme()
	metav1.AddToGroupVersion(ms, metav1.SchemeGroupVersion)
	metav1.AddToGroupVersion(ms, schema.GroupVersion{Version: "v1"})
	// Clients send DeleteOptions (and other meta types) tagged with the
	// resource's own group version, e.g. networking.k8s.io/v1.
	for _, gv := range s.PrioritizedVersionsAllGroups() {
		if !ms.IsVersionRegistered(gv) {
			metav1.AddToGroupVersion(ms, gv)
		}
	}
	return &codecs{
		metaProto:  protobuf.NewSerializer(ms, ms),
		scheme:     s,
		json:       json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{}),
		jsonStrict: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Strict: true}),
		yaml:       json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true}),
		yamlStrict: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true}),
		pretty:     json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Pretty: true}),
		proto:      protobuf.NewSerializer(s, s),
	}
}

// readBody reads at most limit bytes of the request body; a larger body
// gives 413.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
	}
	// Size the buffer for the announced length (plus one byte to see the
	// end) rather than grow it from 512 bytes.
	size := r.ContentLength
	if size < 0 {
		size = 511
	}
	b, err := readAll(io.LimitReader(r.Body, limit+1), size)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if int64(len(b)) > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
	}
	return b, nil
}

// readAll is io.ReadAll starting with room for size+1 bytes.
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// mediaType returns the request's content type without parameters.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "application/json"
	}
	if plainMediaType(ct) {
		return ct // what mime.ParseMediaType gives, without its work
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// plainMediaType reports whether ct has no parameters, spaces or upper
// case letters: mime.ParseMediaType returns such a value unchanged (or
// fails, when mediaType returns it as is too).
func plainMediaType(ct string) bool {
	for i := 0; i < len(ct); i++ {
		if c := ct[i]; c == ';' || c <= ' ' || c >= 0x7f || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// decodeOptions says how to treat unknown or duplicate fields.
type fieldValidation string

const (
	fieldValidationIgnore fieldValidation = "Ignore"
	fieldValidationWarn   fieldValidation = "Warn"
	fieldValidationStrict fieldValidation = "Strict"
)

func parseFieldValidation(r *http.Request) (fieldValidation, error) {
	switch v := query(r).Get("fieldValidation"); v {
	case "", "Warn":
		return fieldValidationWarn, nil
	case "Ignore":
		return fieldValidationIgnore, nil
	case "Strict":
		return fieldValidationStrict, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, Strict; got %q", v))
	}
}

// decode decodes body (of the given media type) into a new object of the
// expected kind. Unknown fields are handled as fv says: warnings are
// returned for Warn, an error for Strict.
func (c *codecs) decode(body []byte, media string, gvk schema.GroupVersionKind, into runtime.Object, fv fieldValidation) (runtime.Object, []string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, apierrors.NewBadRequest("the request body is empty")
	}
	var dec runtime.Decoder
	strict := fv != fieldValidationIgnore
	switch media {
	case "application/json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json", "*/*":
		dec = c.json
		if strict {
			dec = c.jsonStrict
		}
	case "application/yaml", "application/apply-patch+yaml":
		dec = c.yaml
		if strict {
			dec = c.yamlStrict
		}
	case "application/vnd.kubernetes.protobuf":
		dec = c.proto
	default:
		return nil, nil, unsupportedMediaType(media)
	}
	obj, actual, err := dec.Decode(body, &gvk, into)
	var warnings []string
	if err != nil {
		if strictErr, ok := runtime.AsStrictDecodingError(err); ok && obj != nil {
			switch fv {
			case fieldValidationStrict:
				return nil, nil, apierrors.NewBadRequest(strictErr.Error())
			case fieldValidationWarn:
				for _, e := range strictErr.Errors() {
					warnings = append(warnings, e.Error())
				}
			}
		} else {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized or malformed: %v", err))
		}
	}
	if actual != nil && *actual != gvk {
		if actual.GroupVersion() != gvk.GroupVersion() {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", actual.GroupVersion(), gvk.GroupVersion()))
		}
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, gvk.Kind))
	}
	return obj, warnings, nil
}

const protobufMedia = "application/vnd.kubernetes.protobuf"

// prefersProtobuf reports whether the client lists protobuf before JSON in
// Accept (client-go does for built-in types).
func prefersProtobuf(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if !strings.Contains(accept, protobufMedia) {
		return false
	}
	for rest := accept; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		mt := strings.TrimSpace(part)
		if i := strings.IndexByte(mt, ';'); i >= 0 {
			if strings.Contains(mt[i:], "as=") {
				continue // Table, PartialObjectMetadata…: not served as protobuf
			}
			mt = strings.TrimSpace(mt[:i])
		}
		switch mt {
		case protobufMedia:
			return true
		case "application/json", "*/*", "application/*":
			return false
		}
	}
	return false
}

// writeObject encodes obj with the given status code: as protobuf when the
// client prefers it and the type supports it, else as JSON. The encoders
// write the whole encoding at once, after any error, so it goes straight
// to w (see headerWriter).
func (h *Handler) writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	if acceptsPartial(r) {
		obj = toPartial(obj)
	}
	hw := &headerWriter{w: w, code: code}
	if prefersProtobuf(r) {
		hw.contentType = protobufMedia
		// One buffer of the right size per response, not pooled: an
		// HTTP/2 write cut short by a closing connection may still read it.
		err := h.codecs.proto.Encode(obj, hw)
		if err == nil {
			hw.header()
		}
		if err == nil || hw.wrote {
			return
		}
	}
	enc := h.codecs.json
	if isTrue(query(r).Get("pretty")) {
		enc = h.codecs.pretty
	}
	hw.contentType = "application/json"
	switch err := enc.Encode(obj, hw); {
	case err == nil:
		hw.header()
	case !hw.wrote:
		h.writeError(w, r, fmt.Errorf("encode %T: %w", obj, err))
	}
}

// headerWriter sends the Content-Type header and the status code before
// the first bytes of the body, so that an encoder that fails before
// writing anything leaves the response untouched.
type headerWriter struct {
	w           http.ResponseWriter
	code        int
	contentType string
	wrote       bool
}

func (hw *headerWriter) Write(p []byte) (int, error) {
	hw.header()
	return hw.w.Write(p)
}

// header sends the header unless it is sent.
func (hw *headerWriter) header() {
	if !hw.wrote {
		hw.wrote = true
		hw.w.Header().Set("Content-Type", hw.contentType)
		hw.w.WriteHeader(hw.code)
	}
}

// toStatus turns any error into a Status.
func toStatus(err error) *metav1.Status {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		return &s
	}
	s := apierrors.NewInternalError(err).Status()
	return &s
}

// writeError sends err as a metav1.Status.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := toStatus(err)
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	if st.Code >= 500 {
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var buf bytes.Buffer
	_ = h.codecs.json.Encode(st, &buf)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(buf.Bytes())
}

// invalid builds a 422 from a field error list.
func invalid(kind schema.GroupKind, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(kind, name, errs)
}

// acceptsTable reports whether the client asked for a meta.k8s.io Table.
func acceptsTable(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if strings.Contains(part, "as=Table") {
			return true
		}
		if strings.TrimSpace(part) != "" {
			// The first acceptable non-table type wins.
			if !strings.Contains(part, "as=") {
				return false
			}
		}
	}
	return false
}

// unsupportedMediaType is a 415 for a body in a format the endpoint does not take.
func unsupportedMediaType(mt string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format: %s", mt),
	}}
}
