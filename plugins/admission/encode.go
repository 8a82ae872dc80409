package admission

import (
	"bytes"
	"encoding/json"
	"sort"
	"sync"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/plugins/abi"
)

// The request payload is built by hand rather than with encoding/json: the
// object and old object are spliced in as the raw JSON the apiserver
// already holds (encoding/json would validate and compact every byte of
// them), the rest is a handful of strings, and the buffers are pooled. The
// output is the JSON encoding/json produces for an AdmissionRequest, minus
// the compaction of the raw objects (the apiserver's encoder emits compact
// JSON anyway).

// bufPool holds a chain's payload and result buffers.
type bufPool struct{ p sync.Pool }

func (bp *bufPool) get() *[]byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

func (bp *bufPool) put(b *[]byte) {
	if cap(*b) > 1<<20 { // let huge buffers go
		return
	}
	*b = (*b)[:0]
	bp.p.Put(b)
}

// appendRequest appends the JSON of an AdmissionRequest.
func appendRequest(b []byte, r *admissionv1.AdmissionRequest) ([]byte, error) {
	b = append(b, `{"uid":`...)
	b = appendString(b, string(r.UID))
	b = append(b, `,"kind":{"group":`...)
	b = appendString(b, r.Kind.Group)
	b = append(b, `,"version":`...)
	b = appendString(b, r.Kind.Version)
	b = append(b, `,"kind":`...)
	b = appendString(b, r.Kind.Kind)
	b = append(b, `},"resource":{"group":`...)
	b = appendString(b, r.Resource.Group)
	b = append(b, `,"version":`...)
	b = appendString(b, r.Resource.Version)
	b = append(b, `,"resource":`...)
	b = appendString(b, r.Resource.Resource)
	b = append(b, '}')
	if r.SubResource != "" {
		b = append(b, `,"subResource":`...)
		b = appendString(b, r.SubResource)
	}
	if k := r.RequestKind; k != nil {
		b = append(b, `,"requestKind":{"group":`...)
		b = appendString(b, k.Group)
		b = append(b, `,"version":`...)
		b = appendString(b, k.Version)
		b = append(b, `,"kind":`...)
		b = appendString(b, k.Kind)
		b = append(b, '}')
	}
	if res := r.RequestResource; res != nil {
		b = append(b, `,"requestResource":{"group":`...)
		b = appendString(b, res.Group)
		b = append(b, `,"version":`...)
		b = appendString(b, res.Version)
		b = append(b, `,"resource":`...)
		b = appendString(b, res.Resource)
		b = append(b, '}')
	}
	if r.RequestSubResource != "" {
		b = append(b, `,"requestSubResource":`...)
		b = appendString(b, r.RequestSubResource)
	}
	if r.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, r.Name)
	}
	if r.Namespace != "" {
		b = append(b, `,"namespace":`...)
		b = appendString(b, r.Namespace)
	}
	b = append(b, `,"operation":`...)
	b = appendString(b, string(r.Operation))
	b = append(b, `,"userInfo":{`...)
	u := &r.UserInfo
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	if u.Username != "" {
		field("username")
		b = appendString(b, u.Username)
	}
	if u.UID != "" {
		field("uid")
		b = appendString(b, u.UID)
	}
	if len(u.Groups) > 0 {
		field("groups")
		b = append(b, '[')
		for i, g := range u.Groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, g)
		}
		b = append(b, ']')
	}
	if len(u.Extra) > 0 {
		field("extra")
		keys := make([]string, 0, len(u.Extra))
		for k := range u.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if u.Extra[k] == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for j, v := range u.Extra[k] {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `},"object":`...)
	var err error
	if b, err = appendRaw(b, &r.Object); err != nil {
		return nil, err
	}
	b = append(b, `,"oldObject":`...)
	if b, err = appendRaw(b, &r.OldObject); err != nil {
		return nil, err
	}
	if r.DryRun != nil {
		if *r.DryRun {
			b = append(b, `,"dryRun":true`...)
		} else {
			b = append(b, `,"dryRun":false`...)
		}
	}
	b = append(b, `,"options":`...)
	if b, err = appendRaw(b, &r.Options); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendRaw appends a RawExtension as encoding/json would (its Raw bytes,
// or null), without re-validating the bytes; an extension holding only a
// decoded Object is marshalled.
func appendRaw(b []byte, re *runtime.RawExtension) ([]byte, error) {
	raw := bytes.TrimSpace(re.Raw)
	switch {
	case len(raw) > 0:
		return append(b, raw...), nil
	case re.Object != nil:
		j, err := json.Marshal(re.Object)
		if err != nil {
			return nil, err
		}
		return append(b, j...), nil
	}
	return append(b, "null"...), nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', byte('8'+r-'\u2028'))
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// allowedJSON is what the SDK, and most hand-written guests, return to
// allow a request; it is recognized without decoding.
const allowedJSON = `{"allowed":true}`

// decodeOutput decodes a guest's admission result.
func decodeOutput(out []byte, res *abi.AdmissionOutput) error {
	if string(out) == allowedJSON {
		*res = abi.AdmissionOutput{Allowed: true}
		return nil
	}
	return json.Unmarshal(out, res)
}
