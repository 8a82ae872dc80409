package rest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/storage"
)

// memStore is an in-memory storage.Interface for driving the Handler in
// fuzz tests without etcd. It keeps deep copies, bumps one revision shared
// by every store of a memStores set, filters lists with the resource's
// attributes and answers watches with a watch that ends at once.
type memStore struct {
	all  *memStores
	res  *registry.Resource
	objs map[string]runtime.Object
}

// memStores is one "etcd": the stores of every resource and a revision.
type memStores struct {
	mu     sync.Mutex
	rev    uint64
	stores map[schema.GroupVersionResource]storage.Interface
	byRes  []*memStore
}

func newMemStores(reg *registry.Registry) *memStores {
	s := &memStores{stores: map[schema.GroupVersionResource]storage.Interface{}}
	for _, res := range reg.All() {
		if res.Virtual {
			continue
		}
		ms := &memStore{all: s, res: res, objs: map[string]runtime.Object{}}
		s.stores[res.GVR] = ms
		s.byRes = append(s.byRes, ms)
	}
	return s
}

// size returns how many objects are stored in all.
func (s *memStores) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ms := range s.byRes {
		n += len(ms.objs)
	}
	return n
}

// copyInto sets *out = *src (deep copied); both are pointers to the same type.
func copyInto(out, src runtime.Object) error {
	dv, sv := reflect.ValueOf(out), reflect.ValueOf(src.DeepCopyObject())
	if dv.Kind() != reflect.Pointer || dv.Type() != sv.Type() {
		return fmt.Errorf("memstore: cannot copy %T into %T", src, out)
	}
	dv.Elem().Set(sv.Elem())
	return nil
}

func (m *memStore) notFound(key string) error {
	return apierrors.NewNotFound(m.res.GroupResource(), key[strings.LastIndexByte(key, '/')+1:])
}

func (m *memStore) setRV(obj runtime.Object) error {
	m.all.rev++
	a, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	a.SetResourceVersion(strconv.FormatUint(m.all.rev, 10))
	return nil
}

func (m *memStore) Create(_ context.Context, key string, obj, out runtime.Object) error {
	m.all.mu.Lock()
	defer m.all.mu.Unlock()
	if _, ok := m.objs[key]; ok {
		return apierrors.NewAlreadyExists(m.res.GroupResource(), key[strings.LastIndexByte(key, '/')+1:])
	}
	c := obj.DeepCopyObject()
	if err := m.setRV(c); err != nil {
		return err
	}
	m.objs[key] = c
	return copyInto(out, c)
}

func (m *memStore) Get(_ context.Context, key, _ string, out runtime.Object) error {
	m.all.mu.Lock()
	defer m.all.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return m.notFound(key)
	}
	return copyInto(out, o)
}

func (m *memStore) List(_ context.Context, key string, opts storage.ListOptions, listObj runtime.Object) error {
	m.all.mu.Lock()
	defer m.all.mu.Unlock()
	var keys []string
	for k := range m.objs {
		if k == key || (opts.Recursive && strings.HasPrefix(k, key)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var items []runtime.Object
	for _, k := range keys {
		o := m.objs[k]
		ls, fs, err := m.res.Attrs(o)
		if err != nil {
			return err
		}
		if p := opts.Predicate; (p.Label != nil && !p.Label.Matches(ls)) || (p.Field != nil && !p.Field.Matches(fs)) {
			continue
		}
		items = append(items, o.DeepCopyObject())
	}
	if err := meta.SetList(listObj, items); err != nil {
		return err
	}
	la, err := meta.ListAccessor(listObj)
	if err != nil {
		return err
	}
	la.SetResourceVersion(strconv.FormatUint(m.all.rev, 10))
	return nil
}

func checkPreconditions(p *storage.Preconditions, a metav1.Object) error {
	if p == nil {
		return nil
	}
	if p.UID != nil && *p.UID != a.GetUID() {
		return apierrors.NewConflict(schema.GroupResource{}, a.GetName(), fmt.Errorf("precondition failed: UID"))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != a.GetResourceVersion() {
		return apierrors.NewConflict(schema.GroupResource{}, a.GetName(), fmt.Errorf("precondition failed: resourceVersion"))
	}
	return nil
}

func (m *memStore) GuaranteedUpdate(_ context.Context, key string, out runtime.Object, ignoreNotFound bool, p *storage.Preconditions, tryUpdate storage.UpdateFunc) error {
	m.all.mu.Lock()
	defer m.all.mu.Unlock()
	cur, ok := m.objs[key]
	if !ok {
		if !ignoreNotFound {
			return m.notFound(key)
		}
		cur = m.res.New()
	} else {
		cur = cur.DeepCopyObject()
	}
	ca, err := meta.Accessor(cur)
	if err != nil {
		return err
	}
	if ok {
		if err := checkPreconditions(p, ca); err != nil {
			return err
		}
	}
	// tryUpdate may read other stores (namespaces): run it unlocked.
	m.all.mu.Unlock()
	updated, err := tryUpdate(cur)
	m.all.mu.Lock()
	if err != nil {
		return err
	}
	ua, err := meta.Accessor(updated)
	if err != nil {
		return err
	}
	if rv := ua.GetResourceVersion(); ok && rv != "" && rv != ca.GetResourceVersion() {
		return apierrors.NewConflict(m.res.GroupResource(), ua.GetName(), fmt.Errorf("resourceVersion changed"))
	}
	c := updated.DeepCopyObject()
	if err := m.setRV(c); err != nil {
		return err
	}
	m.objs[key] = c
	return copyInto(out, c)
}

func (m *memStore) Delete(ctx context.Context, key string, out runtime.Object, p *storage.Preconditions, validate storage.ValidateDeletionFunc) error {
	m.all.mu.Lock()
	cur, ok := m.objs[key]
	if !ok {
		m.all.mu.Unlock()
		return m.notFound(key)
	}
	cur = cur.DeepCopyObject()
	m.all.mu.Unlock()
	ca, err := meta.Accessor(cur)
	if err != nil {
		return err
	}
	if err := checkPreconditions(p, ca); err != nil {
		return err
	}
	if validate != nil {
		if err := validate(ctx, cur); err != nil {
			return err
		}
	}
	m.all.mu.Lock()
	delete(m.objs, key)
	m.all.mu.Unlock()
	return copyInto(out, cur)
}

func (m *memStore) Watch(context.Context, string, storage.ListOptions) (watch.Interface, error) {
	return watch.NewEmptyWatch(), nil
}

func (m *memStore) Count(_ context.Context, key string) (int64, error) {
	m.all.mu.Lock()
	defer m.all.mu.Unlock()
	var n int64
	for k := range m.objs {
		if strings.HasPrefix(k, key) {
			n++
		}
	}
	return n, nil
}

var _ storage.Interface = (*memStore)(nil)
