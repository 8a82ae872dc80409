package controller

import (
	"sync"
	"time"
)

// ExpectationsTTL is how long unmet expectations are trusted before a
// controller acts again anyway (a watch event may have been lost).
const ExpectationsTTL = 5 * time.Minute

// Expectations records, per controller key, how many creates it still waits
// to observe and which deletions (by UID) it still waits to observe, so a
// controller never acts twice on its own in-flight writes.
type Expectations struct {
	mu  sync.Mutex
	m   map[string]*expectation
	now func() time.Time
}

type expectation struct {
	adds int
	dels map[string]struct{}
	at   time.Time
}

// NewExpectations returns empty expectations.
func NewExpectations() *Expectations {
	return &Expectations{m: map[string]*expectation{}, now: time.Now}
}

// ExpectCreations records that key is about to create n objects.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.adds += n
	x.at = e.now()
}

// ExpectDeletions records that key is about to delete the objects with uids.
func (e *Expectations) ExpectDeletions(key string, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	for _, u := range uids {
		x.dels[u] = struct{}{}
	}
	x.at = e.now()
}

// CreationObserved lowers the pending creations of key by one.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved marks the deletion of uid as seen for key.
func (e *Expectations) DeletionObserved(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.dels, uid)
	}
}

// Satisfied reports whether key has no pending writes (or they expired).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.dels) == 0 {
		return true
	}
	return e.now().Sub(x.at) > ExpectationsTTL
}

// Delete forgets key.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

func (e *Expectations) get(key string) *expectation {
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && len(x.dels) == 0) {
		x = &expectation{dels: map[string]struct{}{}}
		e.m[key] = x
	}
	return x
}
