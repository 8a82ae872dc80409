package apiserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/apiserver/internal/etcd"
)

// BenchmarkCreateConfigMap measures the create path end to end (client-go,
// HTTP, admission, etcd) against the in-process server, with parallel
// clients. Run with -cpuprofile to see where a create's time goes.
func BenchmarkCreateConfigMap(b *testing.B) {
	ctx := context.Background()
	// An unthrottled client: the shared one's QPS limit would cap the rate.
	cfg := rest.CopyConfig(shared.config)
	cfg.QPS = -1
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ns := fmt.Sprintf("bench-%d", b.N)
	if _, err := shared.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)},
				Data:       map[string]string{"key": "value"},
			}, metav1.CreateOptions{})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkList2000 lists 2,000 ConfigMaps through client-go, consistently
// (resourceVersion "") and from the watch cache (resourceVersion "0").
func BenchmarkList2000(b *testing.B) {
	ctx := context.Background()
	ns := fmt.Sprintf("list-%d", b.N)
	if _, err := shared.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		if _, err := shared.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"key": "value"},
		}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, rv := range []string{"", "0"} {
		b.Run("rv="+rv, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l, err := shared.client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{ResourceVersion: rv})
				if err != nil || len(l.Items) != 2000 {
					b.Fatalf("list: %d items, %v", len(l.Items), err)
				}
			}
		})
	}
}

// BenchmarkEtcdCreateTxn is the floor under a create: the same
// create-if-absent etcd transaction the store issues, with 8 parallel
// clients, against a fresh embedded etcd and no apiserver in between.
func BenchmarkEtcdCreateTxn(b *testing.B) {
	ctx := context.Background()
	e, err := etcd.Start(ctx, etcd.Options{DataDir: filepath.Join(b.TempDir(), "etcd"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	value := strings.Repeat("v", 300)
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("/registry/configmaps/bench/cm-%d", n.Add(1))
			_, err := e.Client().Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
				Then(clientv3.OpPut(key, value)).
				Commit()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
