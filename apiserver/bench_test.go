package apiserver_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkCreateConfigMap measures the create path end to end (client-go,
// HTTP, admission, etcd) against the in-process server, with parallel
// clients. Run with -cpuprofile to see where a create's time goes.
func BenchmarkCreateConfigMap(b *testing.B) {
	ctx := context.Background()
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
			_, err := shared.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
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
