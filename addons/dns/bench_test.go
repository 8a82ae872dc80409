package dns

import (
	"fmt"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkQueries measures A-record queries per second over UDP on
// loopback against a server holding 1,000 Services, with 16 concurrent
// clients (a bounded Go load generator).
func BenchmarkQueries(b *testing.B) {
	var objs []runtime.Object
	for i := 0; i < 1000; i++ {
		objs = append(objs, &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i)},
			Spec:       v1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), Ports: []v1.ServicePort{{Port: 80}}},
		})
	}
	addr := startB(b, fake.NewSimpleClientset(objs...))
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
		conn, err := c.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		i := 0
		for pb.Next() {
			m := new(mdns.Msg)
			m.SetQuestion(fmt.Sprintf("svc-%d.bench.svc.cluster.local.", i%1000), mdns.TypeA)
			i++
			r, _, err := c.ExchangeWithConn(m, conn)
			if err != nil || len(r.Answer) != 1 {
				b.Errorf("query: %v %v", err, r)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}
