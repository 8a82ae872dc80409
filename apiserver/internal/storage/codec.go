package storage

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// encode returns the stored form of obj: its JSON with resourceVersion
// cleared (the revision is etcd's, not part of the value).
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
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return data, nil
}

// decode parses stored bytes into a new object and stamps rev on it.
func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	obj := s.cfg.NewFunc()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", s.cfg.GroupResource, err)
	}
	if err := setRV(obj, rev); err != nil {
		return nil, err
	}
	return obj, nil
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
