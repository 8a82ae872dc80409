package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Stored values come in two formats. Objects whose Go type has generated
// protobuf methods (every k8s.io/api type) are stored as kube-apiserver
// stores them: protoMagic followed by a protobuf runtime.Unknown whose
// TypeMeta carries the object's apiVersion and kind and whose Raw is the
// object's protobuf encoding. Everything else (skiff's own API types,
// unstructured objects) is stored as JSON. decode accepts either for any
// type, so values written as JSON by earlier versions stay readable and
// are rewritten as protobuf by their next update.
//
// Both formats keep the same information: metav1.Time is stored to the
// second and metav1.MicroTime to the microsecond in both, and the
// apiVersion/kind an object had when stored is what decode restores. The
// one difference is that protobuf cannot tell a nil slice or map from an
// empty one, so an empty list in a field without omitempty reads back as
// null rather than [] (as with kube-apiserver's protobuf storage), and a
// runtime.RawExtension keeps the bytes the client sent where JSON storage
// compacted them.

// protoMagic starts every protobuf value ("k8s" and a NUL byte, as in
// k8s.io/apimachinery/pkg/runtime/serializer/protobuf). A JSON value
// starts with '{' or whitespace, so the two cannot be confused.
const protoMagic = "k8s\x00"

// protoObject is an object with gogo-generated protobuf methods.
type protoObject interface {
	runtime.Object
	runtime.ProtobufMarshaller
	runtime.ProtobufReverseMarshaller
	Unmarshal(data []byte) error
}

// encode returns the stored form of obj with its resourceVersion cleared
// (the revision is etcd's, not part of the value): protobuf when obj's
// type has protobuf methods, JSON otherwise.
func encode(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	rv := m.GetResourceVersion()
	if rv != "" {
		m.SetResourceVersion("")
		defer m.SetResourceVersion(rv)
	}
	if p, ok := obj.(protoObject); ok {
		return encodeProto(p)
	}
	return encodeJSON(obj)
}

func encodeJSON(obj runtime.Object) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T as JSON: %w", obj, err)
	}
	return data, nil
}

// encodeProto writes protoMagic and the Unknown envelope around obj into
// one buffer of exactly the right size.
func encodeProto(obj protoObject) ([]byte, error) {
	var unk runtime.Unknown
	unk.APIVersion, unk.Kind = typeMeta(obj)
	size := obj.Size()
	n := unk.Size() + 1 + uvarintLen(uint64(size)) + size // + Raw: tag, length, bytes
	data := make([]byte, len(protoMagic)+n)
	copy(data, protoMagic)
	w, err := unk.NestedMarshalTo(data[len(protoMagic):], obj, uint64(size))
	if err != nil {
		return nil, fmt.Errorf("encode %T as protobuf: %w", obj, err)
	}
	if w != n {
		return nil, fmt.Errorf("encode %T as protobuf: wrote %d bytes, expected %d", obj, w, n)
	}
	return data, nil
}

// typeMeta returns obj's apiVersion and kind as set on it, without
// parsing them when obj embeds metav1.TypeMeta (all k8s.io/api types do).
func typeMeta(obj runtime.Object) (apiVersion, kind string) {
	if tm, ok := obj.GetObjectKind().(*metav1.TypeMeta); ok {
		return tm.APIVersion, tm.Kind
	}
	return obj.GetObjectKind().GroupVersionKind().ToAPIVersionAndKind()
}

func setTypeMeta(obj runtime.Object, apiVersion, kind string) {
	if tm, ok := obj.GetObjectKind().(*metav1.TypeMeta); ok {
		tm.APIVersion, tm.Kind = apiVersion, kind
		return
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
}

func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// decode parses stored bytes (either format) into a new object and
// stamps rev on it.
func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	obj := s.cfg.NewFunc()
	if err := decodeInto(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", s.cfg.GroupResource, err)
	}
	if err := setRV(obj, rev); err != nil {
		return nil, err
	}
	return obj, nil
}

// decodeInto parses a stored value into obj, a new object.
func decodeInto(data []byte, obj runtime.Object) error {
	if !bytes.HasPrefix(data, []byte(protoMagic)) {
		return json.Unmarshal(data, obj)
	}
	p, ok := obj.(protoObject)
	if !ok {
		return fmt.Errorf("protobuf value, but %T has no protobuf form", obj)
	}
	var unk runtime.Unknown
	if err := unk.Unmarshal(data[len(protoMagic):]); err != nil {
		return fmt.Errorf("protobuf envelope: %w", err)
	}
	if unk.ContentEncoding != "" || (unk.ContentType != "" && unk.ContentType != runtime.ContentTypeProtobuf) {
		return fmt.Errorf("protobuf envelope: unsupported content type %q encoding %q", unk.ContentType, unk.ContentEncoding)
	}
	if err := p.Unmarshal(unk.Raw); err != nil {
		return fmt.Errorf("protobuf %s: %w", unk.Kind, err)
	}
	setTypeMeta(obj, unk.APIVersion, unk.Kind)
	return nil
}

func setRV(obj runtime.Object, rev int64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("set resourceVersion: %w", err)
	}
	if rev == 0 {
		m.SetResourceVersion("")
	} else {
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	return nil
}

func getRV(obj runtime.Object) (string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return "", fmt.Errorf("get resourceVersion: %w", err)
	}
	return m.GetResourceVersion(), nil
}

// parseRV parses a non-empty resourceVersion.
func parseRV(rv string) (int64, error) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadResourceVersion(rv)
	}
	return n, nil
}

// assign copies src into dst (both pointers to the same struct type)
// without sharing memory when copy is true.
func assign(dst, src runtime.Object, deep bool) error {
	if dst == src {
		return nil
	}
	if deep {
		src = src.DeepCopyObject()
	}
	dv, sv := reflect.ValueOf(dst), reflect.ValueOf(src)
	if dv.Kind() != reflect.Pointer || dv.IsNil() || dv.Type() != sv.Type() {
		return fmt.Errorf("storage: cannot store %T into %T", src, dst)
	}
	dv.Elem().Set(sv.Elem())
	return nil
}

// shallowCopy returns a new object whose top-level fields are copies of
// obj's and whose nested maps, slices and pointers are shared with it.
// Callers may set top-level fields (TypeMeta, say) without touching obj.
// Unstructured objects keep everything in one map, so they are deep
// copied.
func shallowCopy(obj runtime.Object) runtime.Object {
	if _, ok := obj.(runtime.Unstructured); ok {
		return obj.DeepCopyObject()
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return obj.DeepCopyObject()
	}
	n := reflect.New(v.Elem().Type())
	n.Elem().Set(v.Elem())
	return n.Interface().(runtime.Object)
}

// setListItems fills listObj's Items with objs: deep copies when deep is
// set, otherwise struct copies sharing nested data (see shallowCopy).
func setListItems(listObj runtime.Object, objs []runtime.Object, deep bool) error {
	itemsPtr, err := meta.GetItemsPtr(listObj)
	if err != nil {
		return fmt.Errorf("storage: list %T: %w", listObj, err)
	}
	items := reflect.ValueOf(itemsPtr).Elem()
	if items.Kind() != reflect.Slice {
		return fmt.Errorf("storage: list %T: Items is not a slice", listObj)
	}
	elemType := items.Type().Elem()
	slice := reflect.MakeSlice(items.Type(), len(objs), len(objs))
	for i, o := range objs {
		if _, ok := o.(runtime.Unstructured); deep || ok {
			o = o.DeepCopyObject()
		}
		v := reflect.ValueOf(o)
		switch {
		case v.Type() == elemType:
			slice.Index(i).Set(v)
		case v.Kind() == reflect.Pointer && v.Elem().Type() == elemType:
			slice.Index(i).Set(v.Elem())
		default:
			return fmt.Errorf("storage: list %T cannot hold %T", listObj, o)
		}
	}
	items.Set(slice)
	return nil
}
