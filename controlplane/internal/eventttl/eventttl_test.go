package eventttl

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestSweep(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ev := func(name string, last time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: metav1.NewTime(now.Add(-48 * time.Hour))},
			LastTimestamp: metav1.NewTime(last)}
	}
	client := fake.NewClientset(ev("old", now.Add(-2*time.Hour)), ev("recent", now.Add(-10*time.Minute)), ev("series", now.Add(-3*time.Hour)))
	series, _ := client.CoreV1().Events("default").Get(context.Background(), "series", metav1.GetOptions{})
	series.Series = &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(now.Add(-time.Minute))}
	if _, err := client.CoreV1().Events("default").Update(context.Background(), series, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := New(Options{Client: client, TTL: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	n, err := c.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 deleted", n, err)
	}
	left, _ := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if len(left.Items) != 2 {
		t.Fatalf("%d events left, want 2 (recent, series)", len(left.Items))
	}
}
