package metricsapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const summaryJSON = `{"node":{"nodeName":"n1","cpu":{"time":"2026-11-25T18:00:00Z","usageNanoCores":250000000},"memory":{"time":"2026-11-25T18:00:00Z","workingSetBytes":1048576}},
"pods":[{"podRef":{"name":"web","namespace":"shop"},"containers":[{"name":"app","cpu":{"time":"2026-11-25T18:00:00Z","usageNanoCores":5000000},"memory":{"workingSetBytes":2097152}}]},
{"podRef":{"name":"other","namespace":"default"},"containers":[{"name":"c","cpu":{"usageNanoCores":1}}]}]}`

func TestHandler(t *testing.T) {
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats/summary" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(summaryJSON))
	}))
	defer kubelet.Close()
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(kubelet.URL, "https://"))
	port, _ := strconv.Atoi(portStr)
	node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	silent := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}} // no kubelet port: left out
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}}, Spec: corev1.PodSpec{NodeName: "n1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "n1"}},
	}
	h := New(Options{
		ListNodes: func(context.Context) ([]corev1.Node, error) { return []corev1.Node{node, silent}, nil },
		ListPods: func(_ context.Context, ns string) ([]corev1.Pod, error) {
			var out []corev1.Pod
			for _, p := range pods {
				if ns == "" || p.Namespace == ns {
					out = append(out, p)
				}
			}
			return out, nil
		},
		ErrorWriter: func(w http.ResponseWriter, _ *http.Request, err error) {
			st := err.(apierrors.APIStatus).Status()
			w.WriteHeader(int(st.Code))
			_ = json.NewEncoder(w).Encode(st)
		},
	})
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/apis/metrics.k8s.io/v1beta1/"+path, nil))
		return rec.Code, rec.Body.String()
	}
	tests := []struct {
		name, path string
		code       int
		want       []string
		notWant    []string
	}{
		{"nodes", "nodes", 200, []string{`"kind":"NodeMetricsList"`, `"name":"n1"`, `"cpu":"250m"`, `"memory":"1Mi"`}, []string{`"n2"`}},
		{"node by name", "nodes/n1", 200, []string{`"kind":"NodeMetrics"`, `"cpu":"250m"`}, nil},
		{"node selector", "nodes?labelSelector=zone%3Db", 200, []string{`"items":[]`}, nil},
		{"missing node", "nodes/n9", 404, []string{"NotFound"}, nil},
		{"pods in a namespace", "namespaces/shop/pods", 200, []string{`"kind":"PodMetricsList"`, `"name":"web"`, `"cpu":"5m"`, `"memory":"2Mi"`}, []string{`"other"`}},
		{"all pods", "pods", 200, []string{`"web"`, `"other"`}, nil},
		{"pod by name", "namespaces/shop/pods/web", 200, []string{`"kind":"PodMetrics"`, `"name":"app"`}, nil},
		{"pod selector", "namespaces/shop/pods?labelSelector=app%3Dweb", 200, []string{`"web"`}, nil},
		{"bad selector", "pods?labelSelector=%3D%3D", 400, []string{"BadRequest"}, nil},
		{"unknown", "widgets", 404, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.path)
			if code != tc.code {
				t.Fatalf("code %d, want %d: %s", code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %s: %s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("body has %s: %s", w, body)
				}
			}
		})
	}
}
