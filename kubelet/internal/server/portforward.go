package server

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-logr/logr"
	"github.com/gorilla/mux"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilproxy "k8s.io/apimachinery/pkg/util/proxy"
	apiproxy "k8s.io/apiserver/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// portForward serves /portForward/{ns}/{pod}: the portforward.k8s.io
// protocol over SPDY, or SPDY tunnelled through a websocket (subprotocol
// SPDY/3.1+portforward.k8s.io, what kubectl 1.31+ sends first). Either
// way the SPDY session is relayed to the runtime's streaming server, which
// dials the ports inside the pod's network namespace.
func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	pod, ok := s.opts.Pods.Pod(v["ns"], v["pod"])
	if !ok {
		writeError(w, apierrors.NewNotFound(corev1.Resource("pods"), v["pod"]))
		return
	}
	sandboxes, err := s.opts.Runtime.ListPodSandbox(r.Context(), &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(pod.UID)},
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	})
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("list sandboxes of pod %s: %w", pod.Name, err)))
		return
	}
	if len(sandboxes) == 0 {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s has no running sandbox", pod.Name)))
		return
	}
	resp, err := s.opts.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sandboxes[0].Id})
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("port-forward to pod %s: %w", pod.Name, err)))
		return
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("runtime stream url: %w", err)))
		return
	}
	var h http.Handler = utilproxy.NewUpgradeAwareHandler(u, s.runtimeTransport, false, true, errorResponder{})
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		h = apiproxy.NewTunnelingHandler(h)
	}
	logger := logr.FromSlogHandler(debugHandler{s.log.Handler()})
	h.ServeHTTP(w, r.WithContext(klog.NewContext(r.Context(), logger)))
}

// errorResponder answers a failed upgrade with a Status.
type errorResponder struct{}

func (errorResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	writeError(w, apierrors.NewInternalError(fmt.Errorf("connect to the runtime's stream server: %w", err)))
}
