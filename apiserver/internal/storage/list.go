package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// continueToken is the decoded form of a list continue parameter: the
// revision the first page was read at and the key (relative to the list
// prefix) to resume at. rv -1 means "continue at the latest revision".
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

const continueVersion = "meta.k8s.io/v1"

func encodeContinue(nextKey, prefix string, rev int64) (string, error) {
	rel := strings.TrimPrefix(nextKey, prefix)
	if rel == "" || rel == nextKey && prefix != "" {
		return "", fmt.Errorf("continue key %q is outside prefix %q", nextKey, prefix)
	}
	b, err := json.Marshal(continueToken{APIVersion: continueVersion, ResourceVersion: rev, StartKey: rel})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func decodeContinue(token, prefix string) (startKey string, rev int64, err error) {
	bad := func(why string) (string, int64, error) {
		return "", 0, apierrors.NewBadRequest("invalid continue token: " + why)
	}
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return bad("not base64")
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil {
		return bad("not JSON")
	}
	switch {
	case t.APIVersion != continueVersion:
		return bad(fmt.Sprintf("unknown version %q", t.APIVersion))
	case t.ResourceVersion == 0 || t.ResourceVersion < -1:
		return bad("bad resource version")
	case t.StartKey == "":
		return bad("no start key")
	}
	// The key is joined to the list prefix: refuse anything that would
	// escape it.
	clean := path.Clean("/" + strings.TrimSuffix(t.StartKey, "\x00"))
	if clean != "/"+strings.TrimSuffix(t.StartKey, "\x00") {
		return bad("start key is not a clean path")
	}
	return prefix + t.StartKey, t.ResourceVersion, nil
}

// listPlan says how a List is served.
type listPlan struct {
	fromCache  bool  // serve from the watch cache
	consistent bool  // cache must first catch up with etcd's current revision
	minRev     int64 // cache must have seen at least this revision
	exactRev   int64 // etcd read at this revision (0 = latest)
	startKey   string
	continued  bool
}

func (s *Store) planList(key string, opts ListOptions) (listPlan, error) {
	var p listPlan
	rv, match, cont := opts.ResourceVersion, opts.ResourceVersionMatch, opts.Predicate.Continue
	var n int64
	if rv != "" {
		var err error
		if n, err = parseRV(rv); err != nil {
			return p, err
		}
	}
	if cont != "" {
		if rv != "" && rv != "0" || match != "" {
			return p, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
		}
		start, rev, err := decodeContinue(cont, key)
		if err != nil {
			return p, err
		}
		p.startKey, p.continued = start, true
		if rev > 0 {
			p.exactRev = rev
		}
		return p, nil
	}
	switch metav1.ResourceVersionMatch(match) {
	case "":
		switch {
		case rv == "":
			p.fromCache, p.consistent = true, true
		case n == 0:
			p.fromCache = true
		case opts.Predicate.Limit > 0:
			// Legacy semantics: a paged list at rv=N reads exactly N.
			p.exactRev = n
		default:
			p.fromCache, p.minRev = true, n
		}
	case metav1.ResourceVersionMatchNotOlderThan:
		if rv == "" {
			return p, apierrors.NewBadRequest("resourceVersionMatch=NotOlderThan requires resourceVersion")
		}
		p.fromCache, p.minRev = true, n
	case metav1.ResourceVersionMatchExact:
		if n == 0 {
			return p, apierrors.NewBadRequest("resourceVersionMatch=Exact requires a non-zero resourceVersion")
		}
		p.exactRev = n
	default:
		return p, apierrors.NewBadRequest(fmt.Sprintf("unknown resourceVersionMatch %q", match))
	}
	return p, nil
}

// List implements Interface.
func (s *Store) List(ctx context.Context, key string, opts ListOptions, listObj runtime.Object) error {
	if !strings.HasPrefix(key, s.cfg.Prefix) {
		return s.interpret("list", fmt.Errorf("storage: key %q is outside prefix %q", key, s.cfg.Prefix))
	}
	if opts.Recursive && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	if opts.Predicate.Limit < 0 {
		return apierrors.NewBadRequest("limit must not be negative")
	}
	p, err := s.planList(key, opts)
	if err != nil {
		return err
	}
	// A continued list is served from the cache when the cache is still at
	// the token's revision (nothing changed since the previous page).
	if p.continued && p.exactRev > 0 && s.cache.isReady() {
		if ok, err := s.listCacheAt(key, opts, p, listObj); ok || err != nil {
			return err
		}
	}
	if p.fromCache && s.cache.isReady() {
		switch {
		case p.consistent:
			ok, err := s.cache.waitConsistent(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return s.listEtcd(ctx, key, opts, p, listObj)
			}
		case p.minRev > 0:
			if err := s.cache.waitFresh(ctx, p.minRev); err != nil {
				return err
			}
		}
		ents, rev, next, remaining := s.cache.snapshot(key, opts.Recursive, opts.Predicate, p.startKey, opts.Predicate.Limit)
		return s.fillList(listObj, key, ents, rev, next, remaining)
	}
	return s.listEtcd(ctx, key, opts, p, listObj)
}

// listCacheAt serves a continued page from the cache if the cache is at
// exactly the token's revision.
func (s *Store) listCacheAt(key string, opts ListOptions, p listPlan, listObj runtime.Object) (bool, error) {
	s.cache.mu.RLock()
	at := s.cache.rev == p.exactRev
	s.cache.mu.RUnlock()
	if !at {
		return false, nil
	}
	ents, rev, next, remaining := s.cache.snapshot(key, opts.Recursive, opts.Predicate, p.startKey, opts.Predicate.Limit)
	if rev != p.exactRev {
		return false, nil // moved on between the check and the read
	}
	return true, s.fillList(listObj, key, ents, rev, next, remaining)
}

func (s *Store) fillList(listObj runtime.Object, key string, ents []*entry, rev int64, next string, remaining int64) error {
	objs := make([]runtime.Object, len(ents))
	for i, e := range ents {
		objs[i] = e.obj
	}
	// Cached objects are immutable and the list gets struct copies of
	// them; nested data is shared (see Interface.List).
	if err := setListItems(listObj, objs, false); err != nil {
		return s.interpret("list", err)
	}
	return s.setListMeta(listObj, key, rev, next, remaining)
}

func (s *Store) setListMeta(listObj runtime.Object, key string, rev int64, next string, remaining int64) error {
	lm, err := meta.ListAccessor(listObj)
	if err != nil {
		return s.interpret("list", err)
	}
	lm.SetResourceVersion(strconv.FormatInt(rev, 10))
	lm.SetContinue("")
	lm.SetRemainingItemCount(nil)
	if next != "" {
		tok, err := encodeContinue(next, key, rev)
		if err != nil {
			return s.interpret("list", err)
		}
		lm.SetContinue(tok)
		if remaining > 0 {
			lm.SetRemainingItemCount(&remaining)
		}
	}
	return nil
}

// listEtcd reads the list from etcd at p.exactRev (0 = latest), paging
// through etcd until Limit matching objects are found.
func (s *Store) listEtcd(ctx context.Context, key string, opts ListOptions, p listPlan, listObj runtime.Object) error {
	pred := opts.Predicate
	rev := p.exactRev
	if !opts.Recursive {
		getOpts := []clientv3.OpOption{}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, key, getOpts...)
		if err != nil {
			return s.listError(err, p, key, rev)
		}
		var objs []runtime.Object
		for _, kv := range resp.Kvs {
			ent, err := s.cache.newEntry(string(kv.Key), kv.Value, kv.ModRevision)
			if err != nil {
				return s.interpret("list", err)
			}
			if pred.matches(ent) {
				objs = append(objs, ent.obj)
			}
		}
		if err := setListItems(listObj, objs, false); err != nil {
			return s.interpret("list", err)
		}
		return s.setListMeta(listObj, key, resp.Header.Revision, "", 0)
	}

	start := key
	if p.startKey > start {
		start = p.startKey
	}
	end := clientv3.GetPrefixRangeEnd(key)
	limit := pred.Limit
	pageSize := limit
	if pageSize <= 0 || pageSize > 10000 {
		pageSize = 10000
	}
	if !pred.empty() && pageSize < 100 {
		pageSize = 100 // selectors skip items: read bigger pages
	}
	empty := pred.empty()
	var objs []runtime.Object
	var next string
	var remaining int64
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, start, getOpts...)
		if err != nil {
			return s.listError(err, p, key, rev)
		}
		if rev == 0 {
			rev = resp.Header.Revision // pin later pages to the first one's revision
		}
		stopped := -1
		for i, kv := range resp.Kvs {
			ent, err := s.cache.newEntry(string(kv.Key), kv.Value, kv.ModRevision)
			if err != nil {
				return s.interpret("list", err)
			}
			if !empty && !pred.matches(ent) {
				continue
			}
			objs = append(objs, ent.obj)
			if limit > 0 && int64(len(objs)) == limit {
				stopped = i
				break
			}
		}
		more := resp.More || (stopped >= 0 && stopped < len(resp.Kvs)-1)
		if stopped >= 0 {
			if more {
				next = string(resp.Kvs[stopped].Key) + "\x00"
				if empty {
					remaining = resp.Count - int64(stopped) - 1
				}
			}
			break
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	if err := setListItems(listObj, objs, false); err != nil {
		return s.interpret("list", err)
	}
	return s.setListMeta(listObj, key, rev, next, remaining)
}

// listError maps etcd errors of a list read at rev.
func (s *Store) listError(err error, p listPlan, key string, rev int64) error {
	switch {
	case isCompacted(err) && p.continued:
		// Hand back a token that continues at the latest revision.
		se := apierrors.NewResourceExpired(continueExpiredMsg)
		if tok, terr := encodeContinue(p.startKey, key, -1); terr == nil {
			se.ErrStatus.ListMeta.Continue = tok
		}
		return se
	case isCompacted(err):
		return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rev))
	case isFutureRev(err):
		s.cache.mu.RLock()
		cur := s.cache.rev
		s.cache.mu.RUnlock()
		return errTooLarge(rev, cur)
	}
	return s.interpret("list", err)
}
