package events

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"

	"skiff.dev/api/testenv"
)

func pod(i int) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("p%d", i), UID: types.UID(fmt.Sprint(i)), ResourceVersion: "7"}}
}

func TestWriterFields(t *testing.T) {
	c := fake.NewClientset()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	w, err := New(Options{Client: c, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	w.Event(pod(1), "default-scheduler", v1.EventTypeNormal, "Scheduled", "Successfully assigned default/p1 to n1")
	w.Close(10 * time.Second)
	l, err := c.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("events: %v, %v", l, err)
	}
	e := l.Items[0]
	want := v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "default", Name: "p1", UID: "1", ResourceVersion: "7"}
	if e.InvolvedObject != want || e.Reason != "Scheduled" || e.Type != v1.EventTypeNormal || e.Count != 1 ||
		e.Source.Component != "default-scheduler" || e.ReportingController != "default-scheduler" ||
		!e.FirstTimestamp.Time.Equal(now) || !e.LastTimestamp.Time.Equal(now) || e.Message != "Successfully assigned default/p1 to n1" ||
		e.Name != fmt.Sprintf("p1.%x", now.UnixNano()) {
		t.Fatalf("event %+v", e)
	}
	if wr, dr, fl := w.Stats(); wr != 1 || dr != 0 || fl != 0 {
		t.Fatalf("stats written %d dropped %d failed %d", wr, dr, fl)
	}
}

func TestWriterErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		failFirst int32 // the first n creates fail with err
		wantCalls int32
		written   int64
		failed    int64
	}{
		{"status error is final", apierrors.NewForbidden(v1.Resource("events"), "x", fmt.Errorf("no")), 1, 1, 0, 1},
		{"already exists is not a failure", apierrors.NewAlreadyExists(v1.Resource("events"), "x"), 1, 1, 0, 0},
		{"transport error is retried", fmt.Errorf("connection reset"), 2, 3, 1, 0},
		{"retries run out", fmt.Errorf("connection reset"), 100, 4, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset()
			var calls atomic.Int32
			c.PrependReactor("create", "events", func(clienttesting.Action) (bool, runtime.Object, error) {
				if calls.Add(1) <= tc.failFirst {
					return true, nil, tc.err
				}
				return false, nil, nil
			})
			w, err := New(Options{Client: c, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			w.Start()
			w.Event(pod(1), "s", v1.EventTypeNormal, "Scheduled", "m")
			w.Close(30 * time.Second)
			if got := calls.Load(); got != tc.wantCalls {
				t.Fatalf("%d create calls, want %d", got, tc.wantCalls)
			}
			if wr, _, fl := w.Stats(); wr != tc.written || fl != tc.failed {
				t.Fatalf("written %d failed %d, want %d %d", wr, fl, tc.written, tc.failed)
			}
		})
	}
}

func TestWriterDropsWhenFullOrClosed(t *testing.T) {
	c := fake.NewClientset()
	w, err := New(Options{Client: c, QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: the queue fills.
	for i := 0; i < 5; i++ {
		w.Event(pod(i), "s", v1.EventTypeNormal, "Scheduled", "m")
	}
	w.Start()
	w.Close(10 * time.Second)
	w.Event(pod(9), "s", v1.EventTypeNormal, "Scheduled", "m") // after Close: dropped, no panic
	if wr, dr, _ := w.Stats(); wr != 2 || dr != 4 {
		t.Fatalf("written %d dropped %d, want 2 and 4", wr, dr)
	}
}

// TestWriterRealAPIServer writes a burst through a real apiserver over
// protobuf, as the scheduler does, and finds every Event.
func TestWriterRealAPIServer(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	cfg := rest.CopyConfig(env.Config)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	const n = 300
	for i := 0; i < n; i++ {
		w.Event(pod(i), "default-scheduler", v1.EventTypeNormal, "Scheduled", fmt.Sprintf("Successfully assigned default/p%d to n1", i))
	}
	w.Close(60 * time.Second)
	if wr, dr, fl := w.Stats(); wr != n || dr != 0 || fl != 0 {
		t.Fatalf("written %d dropped %d failed %d", wr, dr, fl)
	}
	l, err := c.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range l.Items {
		if e.Reason == "Scheduled" {
			seen[e.InvolvedObject.Name]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d pods have Scheduled events, want %d", len(seen), n)
	}
	for name, k := range seen {
		if k != 1 {
			t.Fatalf("pod %s has %d Scheduled events", name, k)
		}
	}
}
