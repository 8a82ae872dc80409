package events

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/apiserver/internal/etcd"
	"skiff.dev/apiserver/internal/storage"
)

func TestConversionRoundTrip(t *testing.T) {
	now := metav1.NewMicroTime(time.Unix(1700000000, 123000).UTC())
	in := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns", Labels: map[string]string{"a": "b"}},
		EventTime:  now, Series: &eventsv1.EventSeries{Count: 3, LastObservedTime: now},
		ReportingController: "c", ReportingInstance: "i", Action: "A", Reason: "R", Note: "N", Type: "Warning",
		Regarding:                corev1.ObjectReference{Kind: "Pod", Name: "p", UID: "u"},
		Related:                  &corev1.ObjectReference{Kind: "Node", Name: "n"},
		DeprecatedSource:         corev1.EventSource{Component: "kubelet", Host: "h"},
		DeprecatedFirstTimestamp: metav1.NewTime(now.Time), DeprecatedLastTimestamp: metav1.NewTime(now.Time), DeprecatedCount: 2,
	}
	if out := FromCore(ToCore(in)); !equality.Semantic.DeepEqual(in, out) {
		t.Fatalf("round trip changed the event:\n%+v\n%+v", in, out)
	}
}

func TestExpire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := etcd.Start(ctx, etcd.Options{DataDir: filepath.Join(t.TempDir(), "etcd")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const prefix = "/registry/events/"
	st, err := storage.New(e.Client(), storage.Config{
		GroupResource: schema.GroupResource{Resource: "events"}, Prefix: prefix,
		NewFunc: func() runtime.Object { return &corev1.Event{} }, NewListFunc: func() runtime.Object { return &corev1.EventList{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	now := time.Now()
	for _, tc := range []struct {
		name string
		last time.Time
	}{{"old", now.Add(-2 * time.Hour)}, {"fresh", now.Add(-10 * time.Minute)}} {
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: "ns", UID: types.UID("uid-" + tc.name),
			CreationTimestamp: metav1.NewTime(now.Add(-3 * time.Hour))}, LastTimestamp: metav1.NewTime(tc.last)}
		if err := st.Create(ctx, prefix+"ns/"+tc.name, ev, &corev1.Event{}); err != nil {
			t.Fatal(err)
		}
	}
	exp := &Expirer{Store: st, Prefix: prefix, TTL: time.Hour}
	// The cache may lag the creates by a moment: poll.
	deleted := 0
	for deadline := time.Now().Add(20 * time.Second); deleted == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		n, err := exp.Once(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
	}
	if deleted != 1 {
		t.Fatalf("expired %d events, want 1", deleted)
	}
	var list corev1.EventList
	if err := st.List(ctx, prefix, storage.ListOptions{Recursive: true}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "fresh" {
		t.Fatalf("left: %+v", list.Items)
	}
}
