package proxy

import (
	"context"
	"encoding/json"
	"io"
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

func TestServePod(t *testing.T) {
	var gotPath, gotQuery string
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		_, _ = io.WriteString(w, "hello\n")
	}))
	defer kubelet.Close()
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(kubelet.URL, "https://"))
	port, _ := strconv.Atoi(portStr)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	running := corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	pods := map[string]*corev1.Pod{
		"one": {ObjectMeta: metav1.ObjectMeta{Name: "one", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running}}},
		"two":     {ObjectMeta: metav1.ObjectMeta{Name: "two", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}}},
		"unbound": {ObjectMeta: metav1.ObjectMeta{Name: "unbound", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}},
	}
	h := New(Options{
		GetPod: func(_ context.Context, ns, name string) (*corev1.Pod, error) {
			if p, ok := pods[name]; ok {
				return p, nil
			}
			return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
		},
		GetNode: func(_ context.Context, name string) (*corev1.Node, error) {
			if name == "n1" {
				return node, nil
			}
			return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
		},
		ErrorWriter: func(w http.ResponseWriter, _ *http.Request, err error) {
			st := err.(apierrors.APIStatus).Status()
			w.WriteHeader(int(st.Code))
			_ = json.NewEncoder(w).Encode(st)
		},
	})
	tests := []struct {
		name, pod, sub, query string
		code                  int
		path, wantQuery       string
	}{
		{name: "log of the only container", pod: "one", sub: "log", query: "follow=true&tailLines=5", code: 200, path: "/containerLogs/ns/one/app", wantQuery: "follow=true&tailLines=5"},
		{name: "exec keeps command order", pod: "one", sub: "exec", query: "command=echo&command=ok&stdout=true", code: 200, path: "/exec/ns/one/app", wantQuery: "command=echo&command=ok&stdout=true"},
		{name: "two containers need a name", pod: "two", sub: "log", code: 400},
		{name: "unknown container", pod: "one", sub: "log", query: "container=nope", code: 400},
		{name: "missing pod", pod: "ghost", sub: "log", code: 404},
		{name: "unbound pod", pod: "unbound", sub: "exec", code: 400},
		{name: "port-forward needs no container", pod: "one", sub: "portforward", query: "ports=8080", code: 200, path: "/portForward/ns/one", wantQuery: "ports=8080"},
		{name: "port-forward to a pod not running", pod: "two", sub: "portforward", code: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotPath, gotQuery = "", ""
			req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/ns/pods/"+tc.pod+"/"+tc.sub+"?"+tc.query, nil)
			rec := httptest.NewRecorder()
			h.ServePod(rec, req, "ns", tc.pod, tc.sub)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.path != "" && (gotPath != tc.path || gotQuery != tc.wantQuery) {
				t.Fatalf("kubelet got %s?%s, want %s?%s", gotPath, gotQuery, tc.path, tc.wantQuery)
			}
		})
	}
}
