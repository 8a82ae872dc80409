// Package audit writes an audit log of mutating API requests: one JSON
// line per request in the audit.k8s.io/v1 Event shape at the Metadata
// level (who, what, when, from where, and the response code). Request and
// response bodies are never recorded, nor are credentials.
package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// HeaderAuditID is the response header carrying the audit ID, as in
// Kubernetes.
const HeaderAuditID = "Audit-ID"

// Log appends audit events to a file. It is safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	now func() time.Time
}

// Open opens (creating or appending to) the audit log at path.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &Log{f: f, w: bufio.NewWriterSize(f, 64<<10), now: time.Now}, nil
}

// Close flushes and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Mutating reports whether an HTTP method changes state.
func Mutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// Wrap records every mutating request served by next. It expects the user
// (request.WithUser) and request info (request.WithRequestInfo) in the
// context.
func (l *Log) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Mutating(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		received := l.now()
		id := types.UID(uuid.NewString())
		w.Header().Set(HeaderAuditID, string(id))
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		info, _ := request.RequestInfoFrom(r.Context())
		if r.Method == http.MethodPost && info != nil && info.IsResourceRequest && info.Name == "" {
			rec.head = make([]byte, 0, headBytes) // creates: learn the name from the response
		}
		defer func() {
			ev := newEvent(r, id, rec.code, received, l.now())
			if ev.ObjectRef != nil && rec.head != nil && rec.code < 300 {
				ev.ObjectRef.Name, ev.ObjectRef.UID = objectName(rec.head)
			}
			l.write(ev)
		}()
		next.ServeHTTP(rec, r)
	})
}

// authenticatedUserKey holds the authenticated user in a request context
// before impersonation replaces it.
type authenticatedUserKey struct{}

// RememberUser keeps the authenticated user for the audit event; put it
// between authentication and impersonation.
func RememberUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := request.UserFrom(r.Context()); ok {
			r = r.WithContext(context.WithValue(r.Context(), authenticatedUserKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

func userInfo(u user.Info) authenticationv1.UserInfo {
	out := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if extra := u.GetExtra(); len(extra) > 0 {
		out.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range extra {
			out.Extra[k] = v
		}
	}
	return out
}

func newEvent(r *http.Request, id types.UID, code int, received, done time.Time) *auditv1.Event {
	ev := &auditv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: auditv1.SchemeGroupVersion.String(), Kind: "Event"},
		Level:                    auditv1.LevelMetadata,
		AuditID:                  id,
		Stage:                    auditv1.StageResponseComplete,
		RequestURI:               r.URL.RequestURI(),
		Verb:                     strings.ToLower(r.Method),
		SourceIPs:                sourceIPs(r),
		UserAgent:                r.UserAgent(),
		ResponseStatus:           &metav1.Status{Code: int32(code)},
		RequestReceivedTimestamp: metav1.NewMicroTime(received),
		StageTimestamp:           metav1.NewMicroTime(done),
	}
	if code < 400 {
		ev.ResponseStatus.Status = metav1.StatusSuccess
	} else {
		ev.ResponseStatus.Status = metav1.StatusFailure
	}
	if u, ok := request.UserFrom(r.Context()); ok {
		ev.User = userInfo(u)
		// Under impersonation, user is who authenticated and
		// impersonatedUser whom the request ran as, as upstream logs it.
		if orig, ok := r.Context().Value(authenticatedUserKey{}).(user.Info); ok && orig != u {
			imp := ev.User
			ev.User, ev.ImpersonatedUser = userInfo(orig), &imp
		}
	}
	if info, ok := request.RequestInfoFrom(r.Context()); ok {
		ev.Verb = info.Verb
		if info.IsResourceRequest {
			ev.ObjectRef = &auditv1.ObjectReference{
				Resource:    info.Resource,
				Namespace:   info.Namespace,
				Name:        info.Name,
				APIGroup:    info.APIGroup,
				APIVersion:  info.APIVersion,
				Subresource: info.Subresource,
			}
		}
	}
	return ev
}

// sourceIPs is the client address (X-Forwarded-For is not trusted).
func sourceIPs(r *http.Request) []string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if host == "" {
		return nil
	}
	return []string{host}
}

func (l *Log) write(ev *auditv1.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(append(b, '\n'))
	// Flush per event: the log must survive a crash and be readable by
	// tail -f; the buffer only batches the two writes.
	_ = l.w.Flush()
}

// headBytes is how much of a create's response is kept to find the name.
const headBytes = 1024

// recorder remembers the response code (and the start of the body when
// head is not nil).
type recorder struct {
	http.ResponseWriter
	code    int
	written bool
	head    []byte
}

func (w *recorder) WriteHeader(code int) {
	if !w.written {
		w.code, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.written = true
	if w.head != nil && len(w.head) < headBytes {
		w.head = append(w.head, b[:min(len(b), headBytes-len(w.head))]...)
	}
	return w.ResponseWriter.Write(b)
}

// protoMagic starts every Kubernetes protobuf body.
var protoMagic = []byte("k8s\x00")

// objectName finds metadata.name and metadata.uid at the start of a JSON
// or Kubernetes protobuf response (both put the metadata first); the rest
// of the body may be cut off. Other bodies give empty values.
func objectName(head []byte) (name string, uid types.UID) {
	if bytes.HasPrefix(head, protoMagic) {
		// runtime.Unknown{raw: 2} → object{metadata: 1} → ObjectMeta{name: 1, uid: 5}
		meta := protoField(protoField(head[len(protoMagic):], 2, false), 1, false)
		return string(protoField(meta, 1, true)), types.UID(protoField(meta, 5, true))
	}
	dec := json.NewDecoder(bytes.NewReader(head))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", ""
	}
	for depth := 0; ; {
		t, err := dec.Token()
		if err != nil {
			return name, uid
		}
		switch v := t.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
			continue
		case string:
			if depth != 0 {
				continue
			}
			if v != "metadata" {
				if err := skipValue(dec); err != nil {
					return name, uid
				}
				continue
			}
		default:
			continue
		}
		// Inside metadata.
		if t, err := dec.Token(); err != nil || t != json.Delim('{') {
			return name, uid
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return name, uid
			}
			var val any
			if err := dec.Decode(&val); err != nil {
				return name, uid
			}
			switch k {
			case "name":
				name, _ = val.(string)
			case "uid":
				s, _ := val.(string)
				uid = types.UID(s)
			}
		}
		return name, uid
	}
}

// protoField returns the first length-delimited field num of a protobuf
// message that may be cut off; a cut-off value is returned as far as it
// goes unless whole is set.
func protoField(b []byte, num protowire.Number, whole bool) []byte {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil
		}
		b = b[l:]
		if typ != protowire.BytesType {
			if l = protowire.ConsumeFieldValue(n, typ, b); l < 0 {
				return nil
			}
			b = b[l:]
			continue
		}
		size, l := protowire.ConsumeVarint(b)
		if l < 0 {
			return nil
		}
		b = b[l:]
		if n == num {
			if size > uint64(len(b)) {
				if whole {
					return nil
				}
				return b
			}
			return b[:size]
		}
		if size > uint64(len(b)) {
			return nil
		}
		b = b[size:]
	}
	return nil
}

// skipValue consumes the next JSON value.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	return dec.Decode(&raw)
}

// Flush keeps streaming responses streaming.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (exec, attach).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
