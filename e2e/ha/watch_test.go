package ha

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"skiff.dev/api/failover"
)

// seen is one watch event as a client received it.
type seen struct {
	typ  watch.EventType
	name string
	rv   uint64
	at   time.Time
}

func (s seen) String() string { return fmt.Sprintf("%s %s@%d", s.typ, s.name, s.rv) }

// recorder collects one watcher's events.
type recorder struct {
	mu     sync.Mutex
	events []seen
	errs   []string
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]seen, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.events...), append([]string(nil), r.errs...)
}

// TestAPIServerLossWhileWatching runs two apiservers on one etcd, has
// three clients watch ConfigMaps from a resourceVersion through the
// failover config (client-go's RetryWatcher, which resumes from the last
// resourceVersion it saw), writes a sequence of creates and updates, and
// kills the apiserver every client is connected to with SIGKILL half-way.
// Each watcher must see exactly the events of a reference watch from the
// same resourceVersion on the surviving apiserver: none missed, none
// duplicated, in resourceVersion order.
func TestAPIServerLossWhileWatching(t *testing.T) {
	const (
		ops      = 300 // alternating create cm-k / update cm-k
		watchers = 3
		pace     = 5 * time.Millisecond
	)
	etcd := StartEtcdCluster(t, 1) // the fault here is an apiserver
	apis := StartAPIServers(t, 2, etcd.ClientURLs())
	urls := []string{apis[0].URL, apis[1].URL}
	newClient := func() (kubernetes.Interface, *failover.Endpoints) {
		t.Helper()
		cfg, eps, err := failover.Config(apis[0].Config, urls...)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cs, eps
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const ns = "ha-watch"
	if _, err := apis[1].Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	list, err := apis[0].Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	rv0 := list.ResourceVersion

	recs := make([]*recorder, watchers)
	wEndpoints := make([]*failover.Endpoints, watchers)
	for i := range watchers {
		cs, eps := newClient()
		wEndpoints[i] = eps
		rec := &recorder{}
		recs[i] = rec
		lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return cs.CoreV1().ConfigMaps(ns).Watch(ctx, o)
		}}
		rw, err := watchtools.NewRetryWatcherWithContext(ctx, rv0, lw)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rw.Stop)
		go func() {
			for ev := range rw.ResultChan() {
				at := time.Now()
				if ev.Type == watch.Error {
					rec.mu.Lock()
					rec.errs = append(rec.errs, apierrors.FromObject(ev.Object).Error())
					rec.mu.Unlock()
					continue
				}
				m, err := meta.Accessor(ev.Object)
				if err != nil {
					continue
				}
				rv, _ := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
				rec.add(seen{typ: ev.Type, name: m.GetName(), rv: rv, at: at})
			}
		}()
	}

	// The writer goes through the failover config too, and retries an
	// operation whose outcome it could not learn until it knows.
	writer, writerEps := newClient()
	var killTime time.Time
	var acked []uint64
	var writerStall time.Duration
	lastAck := time.Now()
	for i := range ops {
		if i == ops/2 {
			for _, eps := range append(wEndpoints, writerEps) {
				if eps.Active() != apis[0].URL {
					t.Fatalf("before the kill a client is on %s, want %s", eps.Active(), apis[0].URL)
				}
			}
			killTime = time.Now()
			apis[0].Kill()
		}
		name := fmt.Sprintf("cm-%03d", i/2)
		rv, err := writeWithRetry(ctx, writer, ns, name, i, t.Logf)
		if err != nil {
			t.Fatalf("op %d on %s: %v", i, name, err)
		}
		now := time.Now()
		if !killTime.IsZero() && now.Sub(later(lastAck, killTime)) > writerStall {
			writerStall = now.Sub(later(lastAck, killTime))
		}
		lastAck = now
		acked = append(acked, rv)
		time.Sleep(pace)
	}
	finalRV := acked[len(acked)-1]

	// Wait until every watcher has seen the last write.
	err = pollUntil(60*time.Second, func() bool {
		for _, r := range recs {
			evs, _ := r.snapshot()
			if len(evs) == 0 || evs[len(evs)-1].rv < finalRV {
				return false
			}
		}
		return true
	})
	if err != nil {
		for i, r := range recs {
			evs, errs := r.snapshot()
			t.Logf("watcher %d: %d events, errors %v", i, len(evs), errs)
		}
		t.Fatalf("watchers did not catch up to rv %d: %v", finalRV, err)
	}

	// Reference: a fresh watch from rv0 on the surviving apiserver.
	ref := referenceEvents(t, apis[1].Client, ns, rv0, finalRV)
	for i := 1; i < len(ref); i++ {
		if ref[i].rv <= ref[i-1].rv {
			t.Fatalf("reference watch out of order at %d: %v then %v", i, ref[i-1], ref[i])
		}
	}
	inRef := make(map[uint64]bool, len(ref))
	for _, e := range ref {
		inRef[e.rv] = true
	}
	for i, rv := range acked {
		if !inRef[rv] {
			t.Errorf("acknowledged op %d (rv %d) has no event in the reference watch", i, rv)
		}
	}

	var maxGap, maxResume time.Duration
	var missed, duplicated, outOfOrder int
	for i, r := range recs {
		evs, errs := r.snapshot()
		if got := wEndpoints[i].Active(); got != apis[1].URL {
			t.Errorf("watcher %d ended on %s, want the survivor %s", i, got, apis[1].URL)
		}
		if len(errs) > 0 {
			t.Logf("watcher %d error events (retried): %v", i, errs)
		}
		got := make(map[uint64]int, len(evs))
		for k, e := range evs {
			got[e.rv]++
			if got[e.rv] == 2 {
				duplicated++
			}
			if k > 0 && e.rv < evs[k-1].rv {
				outOfOrder++
			}
		}
		for _, e := range ref {
			if got[e.rv] == 0 {
				missed++
			}
		}
		if len(evs) != len(ref) {
			t.Errorf("watcher %d saw %d events, reference has %d", i, len(evs), len(ref))
		}
		for k := 0; k < min(len(evs), len(ref)); k++ {
			if evs[k].typ != ref[k].typ || evs[k].name != ref[k].name || evs[k].rv != ref[k].rv {
				t.Errorf("watcher %d event %d: %v, reference %v", i, k, evs[k], ref[k])
				break
			}
		}
		// Resume: from the kill to the first event received after it
		// (through the survivor). Gap: the longest time between two
		// consecutive events from shortly before the kill on.
		prev := killTime.Add(-time.Second)
		resumed := false
		for _, e := range evs {
			if e.at.Before(prev) {
				continue
			}
			if !resumed && e.at.After(killTime) {
				maxResume = max(maxResume, e.at.Sub(killTime))
				resumed = true
			}
			maxGap = max(maxGap, e.at.Sub(prev))
			prev = e.at
		}
	}
	if missed+duplicated+outOfOrder > 0 {
		t.Errorf("over %d watchers: missed=%d duplicated=%d out-of-order=%d", watchers, missed, duplicated, outOfOrder)
	}
	t.Logf("apiserver killed after %d of %d writes; %d watchers, reference %d events: missed=%d duplicated=%d out-of-order=%d",
		ops/2, ops, watchers, len(ref), missed, duplicated, outOfOrder)
	t.Logf("watch resumed %s after the kill; longest time without events around the kill %s (writes paced every ~%s); writer stall %s; writer switches %d",
		maxResume.Round(time.Millisecond), maxGap.Round(time.Millisecond), pace, writerStall.Round(time.Millisecond), writerEps.Switches())
}

// writeWithRetry performs op i of the writer (even: create name, odd:
// update it) and retries until the outcome is known, returning the
// resourceVersion of the write.
func writeWithRetry(ctx context.Context, c kubernetes.Interface, ns, name string, i int, logf func(string, ...any)) (uint64, error) {
	cms := c.CoreV1().ConfigMaps(ns)
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var obj *corev1.ConfigMap
		var err error
		if i%2 == 0 {
			obj, err = cms.Create(octx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"op": strconv.Itoa(i)}}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// An earlier attempt landed; its event is the create.
				obj, err = cms.Get(octx, name, metav1.GetOptions{})
			}
		} else {
			patch := fmt.Sprintf(`{"data":{"op":"%d"}}`, i)
			obj, err = cms.Patch(octx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		}
		cancel()
		if err == nil {
			return strconv.ParseUint(obj.ResourceVersion, 10, 64)
		}
		lastErr = err
		logf("op %d on %s: %v (retrying)", i, name, err)
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("no outcome within 30s: %w", lastErr)
}

// referenceEvents watches ns from rv0 and returns every event up to and
// including the one at finalRV.
func referenceEvents(t *testing.T, c kubernetes.Interface, ns, rv0 string, finalRV uint64) []seen {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := c.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv0})
	if err != nil {
		t.Fatalf("reference watch: %v", err)
	}
	defer w.Stop()
	var out []seen
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			t.Fatalf("reference watch: %v", apierrors.FromObject(ev.Object))
		}
		if ev.Type == watch.Bookmark {
			continue
		}
		m, err := meta.Accessor(ev.Object)
		if err != nil {
			t.Fatalf("reference watch: %v", err)
		}
		rv, _ := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
		out = append(out, seen{typ: ev.Type, name: m.GetName(), rv: rv})
		if rv >= finalRV {
			return out
		}
	}
	t.Fatalf("reference watch ended before rv %d (%d events)", finalRV, len(out))
	return nil
}

// pollUntil polls cond every 20ms until it holds or the timeout passes.
func pollUntil(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
