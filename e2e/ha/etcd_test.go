package ha

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// writeResult is the outcome of one ConfigMap create.
type writeResult struct {
	name       string
	uid        string
	server     int
	start, end time.Time
	err        error
}

// TestEtcdMemberLoss writes 1,000 ConfigMaps with 8 concurrent workers
// spread over two apiservers on a 3-member etcd cluster, kills one etcd
// member with SIGKILL after 300 acknowledged writes, and checks that every
// acknowledged write is readable afterwards through both apiservers.
// It runs once killing a follower and once killing the raft leader.
func TestEtcdMemberLoss(t *testing.T) {
	for _, victim := range []string{"follower", "leader"} {
		t.Run("kill-"+victim, func(t *testing.T) {
			runEtcdMemberLoss(t, victim == "leader")
		})
	}
}

func runEtcdMemberLoss(t *testing.T, killLeader bool) {
	const (
		writes    = 1000
		workers   = 8
		killAfter = 300
	)
	etcd := StartEtcdCluster(t, 3)
	apis := StartAPIServers(t, 2, etcd.ClientURLs())
	leader, err := etcd.Leader(30 * time.Second)
	if err != nil {
		t.Fatalf("no etcd leader: %v", err)
	}
	victim := leader
	if !killLeader {
		for _, m := range etcd.Members {
			if m != leader {
				victim = m
				break
			}
		}
	}
	clients := []kubernetes.Interface{apis[0].Client, apis[1].Client}

	results := make([]writeResult, writes)
	jobs := make(chan int)
	var acked atomic.Int64
	var killOnce sync.Once
	var killTime time.Time
	killed := make(chan struct{})
	kill := func() {
		killOnce.Do(func() {
			go func() {
				killTime = time.Now()
				victim.Kill()
				close(killed)
			}()
		})
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			server := w % len(clients)
			for i := range jobs {
				r := writeResult{name: fmt.Sprintf("ha-%04d", i), server: server, start: time.Now()}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: r.name},
					Data:       map[string]string{"i": fmt.Sprint(i), "worker": fmt.Sprint(w)},
				}
				created, err := clients[server].CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
				cancel()
				r.end, r.err = time.Now(), err
				if err == nil {
					r.uid = string(created.UID)
					if acked.Add(1) == killAfter {
						kill()
					}
				}
				results[i] = r
			}
		}()
	}
	begin := time.Now()
	for i := range writes {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(begin)
	kill() // in case fewer than killAfter writes succeeded
	<-killed

	// Every acknowledged write must be readable through both apiservers.
	var ackd, failed, ambiguousLanded, lost int
	for s, c := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		list, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		cancel()
		if err != nil {
			t.Fatalf("list through apiserver %d after the kill: %v", s, err)
		}
		have := make(map[string]string, len(list.Items))
		for _, cm := range list.Items {
			have[cm.Name] = string(cm.UID)
		}
		ackd, failed, ambiguousLanded, lost = 0, 0, 0, 0
		for _, r := range results {
			uid, ok := have[r.name]
			switch {
			case r.err == nil && (!ok || uid != r.uid):
				lost++
				t.Errorf("apiserver %d: acknowledged write %s (uid %s) is missing (found %q)", s, r.name, r.uid, uid)
			case r.err == nil:
				ackd++
			case ok:
				failed++
				ambiguousLanded++
			default:
				failed++
			}
		}
	}
	var errSamples []string
	for _, r := range results {
		if r.err != nil && len(errSamples) < 3 {
			errSamples = append(errSamples, fmt.Sprintf("%s via apiserver %d: %v", r.name, r.server, r.err))
		}
		if apierrors.IsAlreadyExists(r.err) {
			t.Errorf("%s: AlreadyExists on a first create", r.name)
		}
	}
	st := stallAround(results, killTime)
	t.Logf("etcd %s %s killed after %d acks: acknowledged=%d failed=%d (of which landed anyway=%d) lost=%d in %s",
		map[bool]string{true: "leader", false: "follower"}[killLeader], victim.Name, killAfter,
		ackd, failed, ambiguousLanded, lost, elapsed.Round(time.Millisecond))
	t.Logf("write stall: longest gap between acks after the kill %s (before it %s); slowest write in flight at the kill %s; throughput before %.0f/s, after %.0f/s",
		st.gapAfter.Round(time.Millisecond), st.gapBefore.Round(time.Millisecond), st.inFlight.Round(time.Millisecond), st.rateBefore, st.rateAfter)
	if len(errSamples) > 0 {
		t.Logf("sample errors: %v", errSamples)
	}
	if lost != 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
	if ackd < writes/2 {
		t.Fatalf("only %d of %d writes acknowledged: the cluster did not keep serving with 2 of 3 members", ackd, writes)
	}
	// The surviving quorum keeps accepting writes.
	for s, c := range clients {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("after-%d", s)}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		cancel()
		if err != nil {
			t.Fatalf("write through apiserver %d with 2 of 3 etcd members: %v", s, err)
		}
	}
}

// stall summarises acknowledgements around a kill.
type stall struct {
	gapBefore, gapAfter   time.Duration // longest time without an ack
	inFlight              time.Duration // slowest write in flight at the kill
	rateBefore, rateAfter float64       // acks per second
}

func stallAround(results []writeResult, kill time.Time) stall {
	var acks []time.Time
	var first time.Time
	var st stall
	for _, r := range results {
		if first.IsZero() || r.start.Before(first) {
			first = r.start
		}
		if r.start.Before(kill) && r.end.After(kill) {
			st.inFlight = max(st.inFlight, r.end.Sub(r.start))
		}
		if r.err == nil {
			acks = append(acks, r.end)
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	prev := first
	var before, after int
	for _, a := range acks {
		if a.Before(kill) {
			st.gapBefore = max(st.gapBefore, a.Sub(prev))
			before++
		} else {
			st.gapAfter = max(st.gapAfter, a.Sub(later(prev, kill)))
			after++
		}
		prev = a
	}
	if d := kill.Sub(first).Seconds(); d > 0 {
		st.rateBefore = float64(before) / d
	}
	if len(acks) > 0 {
		if d := acks[len(acks)-1].Sub(kill).Seconds(); d > 0 {
			st.rateAfter = float64(after) / d
		}
	}
	return st
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
