package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"skiff.dev/scheduler/internal/fixture"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newQueue() (*Queue, *clock) {
	c := &clock{t: time.Unix(1000, 0)}
	return New(Options{InitialBackoff: time.Second, MaxBackoff: 4 * time.Second, Now: c.Now}), c
}

func pop(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qp, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("pop: %v", err)
	}
	return qp
}

func TestPriorityOrder(t *testing.T) {
	q, c := newQueue()
	q.Add(fixture.Pod("low").Priority(1).Obj())
	c.Step(time.Millisecond)
	q.Add(fixture.Pod("high").Priority(100).Obj())
	c.Step(time.Millisecond)
	q.Add(fixture.Pod("low2").Priority(1).Obj())
	for _, want := range []string{"high", "low", "low2"} {
		if got := pop(t, q).Pod.Name; got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
	}
}

func TestUnschedulableWaitsForEvent(t *testing.T) {
	q, c := newQueue()
	q.Add(fixture.Pod("p").Obj())
	qp := pop(t, q)
	qp.UnschedulablePlugins = sets.New("NodeResourcesFit")
	q.Requeue(qp, q.SchedulingCycle(), true)
	if a, b, u := q.Lengths(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("lengths %d %d %d, want 0 0 1", a, b, u)
	}
	c.Step(time.Hour)
	q.flush()
	if a, _, _ := q.Lengths(); a != 0 {
		t.Fatal("unschedulable pod became active without an event")
	}
	// An event for other plugins does not move it.
	if n := q.Move(Event{Name: "AssignedPodAdd", Plugins: sets.New("InterPodAffinity")}); n != 0 {
		t.Fatalf("irrelevant event moved %d pods", n)
	}
	if n := q.Move(Event{Name: "NodeAdd"}); n != 1 {
		t.Fatalf("NodeAdd moved %d pods, want 1", n)
	}
	if got := pop(t, q); got.Pod.Name != "p" || got.Attempts != 2 {
		t.Fatalf("popped %s attempts %d", got.Pod.Name, got.Attempts)
	}
}

func TestBackoffIsExponentialAndCapped(t *testing.T) {
	q, c := newQueue()
	q.Add(fixture.Pod("p").Obj())
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, d := range want {
		qp := pop(t, q)
		q.Requeue(qp, q.SchedulingCycle(), false) // error: straight to backoff
		c.Step(d - time.Millisecond)
		q.flush()
		if a, b, _ := q.Lengths(); a != 0 || b != 1 {
			t.Fatalf("attempt %d: active %d backoff %d before %s elapsed", i+1, a, b, d)
		}
		c.Step(time.Millisecond)
		q.flush()
		if a, _, _ := q.Lengths(); a != 1 {
			t.Fatalf("attempt %d: not active after %s", i+1, d)
		}
	}
}

func TestMoveDuringAttemptGoesToBackoff(t *testing.T) {
	q, _ := newQueue()
	q.Add(fixture.Pod("p").Obj())
	qp := pop(t, q)
	cycle := q.SchedulingCycle()
	q.Move(Event{Name: "NodeAdd"}) // arrives while p is being scheduled
	q.Requeue(qp, cycle, true)
	if _, b, u := q.Lengths(); b != 1 || u != 0 {
		t.Fatalf("backoff %d unschedulable %d, want 1 0", b, u)
	}
}

func TestStatusOnlyUpdateDoesNotRequeue(t *testing.T) {
	q, _ := newQueue()
	p := fixture.Pod("p").Obj()
	q.Add(p)
	qp := pop(t, q)
	q.Requeue(qp, q.SchedulingCycle(), true)
	withStatus := p.DeepCopy()
	withStatus.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
	withStatus.ResourceVersion = "2"
	q.Update(p, withStatus)
	if _, _, u := q.Lengths(); u != 1 {
		t.Fatal("status-only update requeued the pod")
	}
	relabelled := withStatus.DeepCopy()
	relabelled.Labels["x"] = "y"
	q.Update(withStatus, relabelled)
	if _, b, u := q.Lengths(); u != 0 || b != 1 {
		t.Fatalf("spec/label update: backoff %d unschedulable %d, want 1 0", b, u)
	}
}

func TestDeleteAndDone(t *testing.T) {
	q, _ := newQueue()
	p := fixture.Pod("p").Obj()
	q.Add(p)
	q.Delete(p)
	if a, _, _ := q.Lengths(); a != 0 {
		t.Fatal("deleted pod still active")
	}
	q.Add(p)
	qp := pop(t, q)
	q.Done(qp.Pod.UID)
	q.Requeue(qp, q.SchedulingCycle(), false)
	if a, b, u := q.Lengths(); a+b+u != 0 {
		t.Fatal("pod requeued after Done")
	}
}

func TestPopBlocksUntilAddOrClose(t *testing.T) {
	q, _ := newQueue()
	got := make(chan string, 1)
	go func() {
		qp, err := q.Pop(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- qp.Pod.Name
	}()
	select {
	case g := <-got:
		t.Fatalf("Pop returned %q on an empty queue", g)
	case <-time.After(50 * time.Millisecond):
	}
	q.Add(fixture.Pod("p").Obj())
	select {
	case g := <-got:
		if g != "p" {
			t.Fatalf("got %q", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not wake up")
	}
	q.Close()
	if _, err := q.Pop(context.Background()); err != ErrClosed {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q2, _ := newQueue()
	go cancel()
	if _, err := q2.Pop(ctx); err == nil {
		t.Fatal("Pop ignored context cancellation")
	}
}
