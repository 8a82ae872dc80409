package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// decodeEnvelope decodes {"request": {...}, "settings": ...} without
// reflection: the admission request's scalar fields are read directly and
// object, oldObject, options and settings are kept as raw spans of in (valid
// for the call). In a Go guest this is several times faster than
// encoding/json, which validates and decodes every byte twice. Anything it
// does not understand falls back to encoding/json.
func decodeEnvelope(in []byte) (admissionInput, error) {
	var out admissionInput
	if err := scanEnvelope(in, &out); err != nil {
		out = admissionInput{}
		if jerr := json.Unmarshal(in, &out); jerr != nil {
			return out, jerr
		}
	}
	return out, nil
}

var errScan = errors.New("unsupported JSON")

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return errScan
	}
	s.i++
	return nil
}

// str reads a string without escapes (escapes fall back to encoding/json).
func (s *scanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, nil
		case '\\':
			return "", errScan
		}
		s.i++
	}
	return "", errScan
}

// key reads an object key without escapes as a string aliasing the input:
// valid only until the callback that receives it returns (clone to keep).
func (s *scanner) key() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			v := unsafe.String(unsafe.SliceData(s.b[start:]), s.i-start)
			s.i++
			return v, nil
		case '\\':
			return "", errScan
		}
		s.i++
	}
	return "", errScan
}

// skip skips one value and returns its span. It relies on the host's
// JSON being well-formed (the policy's own decoding validates what it reads).
func (s *scanner) skip() ([]byte, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return nil, errScan
	}
	switch s.b[s.i] {
	case '"':
		if err := s.skipString(); err != nil {
			return nil, err
		}
		return s.b[start:s.i], nil
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if err := s.skipString(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return s.b[start:s.i], nil
				}
			}
			s.i++
		}
		return nil, errScan
	}
	// A number or a literal.
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.b[start:s.i], nil
		}
		s.i++
	}
	return s.b[start:s.i], nil
}

// skipString moves past the string starting at s.i.
func (s *scanner) skipString() error {
	s.i++
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			return errScan
		}
		end := s.i + j
		// The quote ends the string unless an odd number of backslashes
		// precedes it.
		bs := 0
		for k := end - 1; k >= s.i && s.b[k] == '\\'; k-- {
			bs++
		}
		s.i = end + 1
		if bs%2 == 0 {
			return nil
		}
	}
}

// object calls field for each key; field must consume the value. The key
// aliases the input (see key).
func (s *scanner) object(field func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.key()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(k); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errScan
		}
	}
}

// raw returns a value's span, or nil for null.
func (s *scanner) raw() (json.RawMessage, error) {
	v, err := s.skip()
	if err != nil || string(v) == "null" {
		return nil, err
	}
	return v, nil
}

func (s *scanner) strings3(a, b, c *string, ka, kb, kc string) error {
	return s.object(func(k string) error {
		var err error
		switch k {
		case ka:
			*a, err = s.str()
		case kb:
			*b, err = s.str()
		case kc:
			*c, err = s.str()
		default:
			_, err = s.skip()
		}
		return err
	})
}

func scanEnvelope(in []byte, out *admissionInput) error {
	s := &scanner{b: in}
	err := s.object(func(k string) error {
		switch k {
		case "request":
			return scanRequest(s, &out.Request)
		case "settings":
			v, err := s.raw()
			out.Settings = v
			return err
		}
		_, err := s.skip()
		return err
	})
	if err != nil {
		return err
	}
	if s.peek() != 0 {
		return errScan
	}
	return nil
}

func scanRequest(s *scanner, r *AdmissionRequest) error {
	return s.object(func(k string) error {
		var err error
		switch k {
		case "uid":
			r.UID, err = s.str()
		case "name":
			r.Name, err = s.str()
		case "namespace":
			r.Namespace, err = s.str()
		case "operation":
			r.Operation, err = s.str()
		case "subResource":
			r.SubResource, err = s.str()
		case "kind":
			err = s.strings3(&r.Kind.Group, &r.Kind.Version, &r.Kind.Kind, "group", "version", "kind")
		case "resource":
			err = s.strings3(&r.Resource.Group, &r.Resource.Version, &r.Resource.Resource, "group", "version", "resource")
		case "object":
			r.Object, err = s.raw()
		case "oldObject":
			r.OldObject, err = s.raw()
		case "options":
			r.Options, err = s.raw()
		case "userInfo":
			err = scanUserInfo(s, &r.UserInfo)
		case "dryRun":
			var v []byte
			if v, err = s.skip(); err == nil {
				switch string(v) {
				case "true", "false":
					b := string(v) == "true"
					r.DryRun = &b
				case "null":
				default:
					err = fmt.Errorf("dryRun: %w", errScan)
				}
			}
		default:
			_, err = s.skip()
		}
		return err
	})
}

func scanUserInfo(s *scanner, u *UserInfo) error {
	return s.object(func(k string) error {
		var err error
		switch k {
		case "username":
			u.Username, err = s.str()
		case "uid":
			u.UID, err = s.str()
		case "groups":
			if s.peek() == 'n' {
				_, err = s.skip()
				return err
			}
			if err = s.expect('['); err != nil {
				return err
			}
			if s.peek() == ']' {
				s.i++
				u.Groups = []string{}
				return nil
			}
			for {
				g, err := s.str()
				if err != nil {
					return err
				}
				u.Groups = append(u.Groups, g)
				switch s.peek() {
				case ',':
					s.i++
				case ']':
					s.i++
					return nil
				default:
					return errScan
				}
			}
		default:
			var v []byte
			if v, err = s.skip(); err == nil && k == "extra" {
				err = json.Unmarshal(v, &u.Extra)
			}
		}
		return err
	})
}

// stringMap reads an object of strings (labels, annotations).
func (s *scanner) stringMap() (map[string]string, error) {
	if s.peek() == 'n' {
		_, err := s.skip()
		return nil, err
	}
	m := map[string]string{}
	err := s.object(func(k string) error {
		v, err := s.str()
		m[strings.Clone(k)] = v
		return err
	})
	return m, err
}

// scanMeta reads metadata's name, generateName, namespace, labels and
// annotations from an object, skipping everything else.
func scanMeta(obj []byte, meta *ObjectMeta) error {
	s := &scanner{b: obj}
	return s.object(func(k string) error {
		if k != "metadata" {
			_, err := s.skip()
			return err
		}
		return s.object(func(k string) error {
			var err error
			switch k {
			case "name":
				meta.Name, err = s.str()
			case "generateName":
				meta.GenerateName, err = s.str()
			case "namespace":
				meta.Namespace, err = s.str()
			case "labels":
				meta.Labels, err = s.stringMap()
			case "annotations":
				meta.Annotations, err = s.stringMap()
			default:
				_, err = s.skip()
			}
			return err
		})
	})
}

// ObjectMeta returns the object's metadata (name, generateName, namespace,
// labels, annotations) — or the old object's for a DELETE — reading only
// those fields, much faster in a guest than decoding the object.
func (r *AdmissionRequest) ObjectMeta() (ObjectMeta, error) {
	obj := r.Object
	if len(obj) == 0 {
		obj = r.OldObject
	}
	if len(obj) == 0 {
		return ObjectMeta{}, errors.New("request has no object")
	}
	var meta ObjectMeta
	if err := scanMeta(obj, &meta); err != nil {
		var o Object
		if jerr := json.Unmarshal(obj, &o); jerr != nil {
			return ObjectMeta{}, jerr
		}
		return o.Metadata, nil
	}
	return meta, nil
}
