package rootca

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func configMap(ns string, data map[string]string, ann map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns, Annotations: ann}, Data: data}
}

func TestSync(t *testing.T) {
	good := map[string]string{descriptionAnnotation: description}
	cases := []struct {
		name    string
		objects []runtime.Object
		// want is the ConfigMap's data after Sync; nil means no ConfigMap.
		want       map[string]string
		wantWrites int
		wantAnn    map[string]string
	}{
		{
			name:       "missing is created",
			objects:    []runtime.Object{namespace("a", corev1.NamespaceActive)},
			want:       map[string]string{Key: testCA},
			wantWrites: 1,
			wantAnn:    good,
		},
		{
			name:    "up to date is left alone",
			objects: []runtime.Object{namespace("a", corev1.NamespaceActive), configMap("a", map[string]string{Key: testCA}, good)},
			want:    map[string]string{Key: testCA},
		},
		{
			name: "edited is fixed, other annotations kept",
			objects: []runtime.Object{namespace("a", corev1.NamespaceActive),
				configMap("a", map[string]string{Key: "forged", "extra": "x"}, map[string]string{"team": "blue"})},
			want:       map[string]string{Key: testCA},
			wantWrites: 1,
			wantAnn:    map[string]string{descriptionAnnotation: description, "team": "blue"},
		},
		{
			name:    "terminating namespace is skipped",
			objects: []runtime.Object{namespace("a", corev1.NamespaceTerminating)},
		},
		{
			name: "missing namespace is skipped",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := fake.NewClientset(tc.objects...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := New(Options{
				Client: client, Namespaces: factory.Core().V1().Namespaces(), ConfigMaps: factory.Core().V1().ConfigMaps(),
				RootCA: []byte(testCA), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			factory.Start(ctx.Done())
			defer factory.Shutdown()
			defer cancel() // before Shutdown, which waits for the informers to stop
			factory.WaitForCacheSync(ctx.Done())
			before := len(client.Actions())
			if err := c.Sync(ctx, "a"); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			writes := 0
			for _, a := range client.Actions()[before:] {
				if a.GetVerb() == "create" || a.GetVerb() == "update" {
					writes++
				}
			}
			if writes != tc.wantWrites {
				t.Errorf("%d writes, want %d", writes, tc.wantWrites)
			}
			cm, err := client.CoreV1().ConfigMaps("a").Get(ctx, Name, metav1.GetOptions{})
			if tc.want == nil {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("ConfigMap exists (err %v), want none", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cm.Data) != len(tc.want) || cm.Data[Key] != tc.want[Key] {
				t.Errorf("data = %v, want %v", cm.Data, tc.want)
			}
			for k, v := range tc.wantAnn {
				if cm.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, cm.Annotations[k], v)
				}
			}
		})
	}
}

// TestRecreatesDeleted runs the controller and deletes its ConfigMap.
func TestRecreatesDeleted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := fake.NewClientset(namespace("a", corev1.NamespaceActive), namespace("b", corev1.NamespaceActive))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Options{
		Client: client, Namespaces: factory.Core().V1().Namespaces(), ConfigMaps: factory.Core().V1().ConfigMaps(),
		RootCA: []byte(testCA), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { c.Run(ctx, 1); close(done) }()
	defer func() { cancel(); <-done; factory.Shutdown() }()

	waitFor := func(ns string) {
		t.Helper()
		for {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, Name, metav1.GetOptions{})
			if err == nil && cm.Data[Key] == testCA {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("ConfigMap %s/%s not published", ns, Name)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor("a")
	waitFor("b")
	if err := client.CoreV1().ConfigMaps("b").Delete(ctx, Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("b")
}

func TestNewNeedsCA(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	if _, err := New(Options{Client: client, Namespaces: factory.Core().V1().Namespaces(), ConfigMaps: factory.Core().V1().ConfigMaps()}); err == nil {
		t.Fatal("New without RootCA succeeded")
	}
}
