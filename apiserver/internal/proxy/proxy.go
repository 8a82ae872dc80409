// Package proxy forwards the streaming pod subresources (log, exec, attach)
// and nodes/proxy to the kubelet of the pod's node, so that `kubectl logs
// -f` and `kubectl exec -it` work through the apiserver. Websocket upgrades
// (the protocol kubectl 1.32 uses for exec) pass through unchanged.
package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Options wires the proxy to the apiserver's storage.
type Options struct {
	// GetPod reads a pod; errors are API status errors (e.g. NotFound).
	GetPod func(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// GetNode reads a node.
	GetNode func(ctx context.Context, name string) (*corev1.Node, error)
	// Transport dials kubelets over HTTPS. It should carry the API
	// server's kubelet client certificate; the default has none (the
	// kubelet answers 401) and, like kube-apiserver without
	// --kubelet-certificate-authority, does not verify the kubelet's
	// (usually self-signed) serving certificate.
	Transport http.RoundTripper
	// ErrorWriter writes an API error as a metav1.Status.
	ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)
}

// Handler proxies to kubelets.
type Handler struct {
	opts Options
}

// New returns a Handler.
func New(opts Options) *Handler {
	if opts.Transport == nil {
		opts.Transport = DefaultTransport()
	}
	return &Handler{opts: opts}
}

// DefaultTransport dials kubelets over HTTPS without a client certificate
// and without verifying the kubelet's serving certificate (kube-apiserver's
// behaviour without --kubelet-certificate-authority). HTTP/1.1 only, so
// that websocket upgrades pass through.
func DefaultTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // see doc
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
}

// podLogParams are the pods/log query parameters the kubelet understands.
var podLogParams = []string{"follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes", "insecureSkipTLSVerifyBackend"}

// ServePod proxies the pods/<subresource> request for namespace/name.
// subresource is one of "log", "exec", "attach", "portforward" (SPDY or
// SPDY tunnelled in a websocket, relayed as is to the kubelet).
func (h *Handler) ServePod(w http.ResponseWriter, r *http.Request, namespace, name, subresource string) {
	pod, err := h.opts.GetPod(r.Context(), namespace, name)
	if err != nil {
		h.opts.ErrorWriter(w, r, err)
		return
	}
	q := r.URL.Query()
	container := ""
	if subresource != "portforward" {
		if container, err = pickContainer(pod, q.Get("container"), subresource); err != nil {
			h.opts.ErrorWriter(w, r, err)
			return
		}
	}
	if pod.Spec.NodeName == "" {
		h.opts.ErrorWriter(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name)))
		return
	}
	base, err := h.kubeletURL(r.Context(), pod.Spec.NodeName)
	if err != nil {
		h.opts.ErrorWriter(w, r, err)
		return
	}
	target := *base
	out := url.Values{}
	switch subresource {
	case "log":
		if pod.Status.Phase == corev1.PodPending && !containerStarted(pod, container) {
			h.opts.ErrorWriter(w, r, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, name)))
			return
		}
		target.Path = fmt.Sprintf("/containerLogs/%s/%s/%s", namespace, name, container)
		for _, k := range podLogParams {
			if v, ok := q[k]; ok {
				out[k] = v
			}
		}
	case "exec", "attach":
		target.Path = fmt.Sprintf("/%s/%s/%s/%s", subresource, namespace, name, container)
		for k, v := range q {
			if k != "container" {
				out[k] = v
			}
		}
	case "portforward":
		if pod.Status.Phase != corev1.PodRunning {
			h.opts.ErrorWriter(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s is not running (phase %s)", name, pod.Status.Phase)))
			return
		}
		target.Path = fmt.Sprintf("/portForward/%s/%s", namespace, name)
		out = q
	default:
		h.opts.ErrorWriter(w, r, apierrors.NewNotFound(schema.GroupResource{Resource: "pods/" + subresource}, name))
		return
	}
	target.RawQuery = out.Encode()
	h.forward(w, r, &target)
}

// ServeNode proxies nodes/<name>/proxy/<path> to the node's kubelet.
func (h *Handler) ServeNode(w http.ResponseWriter, r *http.Request, name, path string) {
	if _, err := h.opts.GetNode(r.Context(), name); err != nil {
		h.opts.ErrorWriter(w, r, err)
		return
	}
	base, err := h.kubeletURL(r.Context(), name)
	if err != nil {
		h.opts.ErrorWriter(w, r, err)
		return
	}
	target := *base
	target.Path = "/" + strings.TrimPrefix(path, "/")
	target.RawQuery = r.URL.RawQuery
	h.forward(w, r, &target)
}

func (h *Handler) forward(w http.ResponseWriter, r *http.Request, target *url.URL) {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			pr.Out.Header.Del("Authorization")
		},
		Transport:     h.opts.Transport,
		FlushInterval: -1, // stream logs as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return
			}
			h.opts.ErrorWriter(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("error dialing kubelet at %s: %v", target.Host, err)))
		},
	}
	rp.ServeHTTP(w, r)
}

// kubeletURL returns the base URL of a node's kubelet API.
func (h *Handler) kubeletURL(ctx context.Context, nodeName string) (*url.URL, error) {
	node, err := h.opts.GetNode(ctx, nodeName)
	if err != nil {
		return nil, err
	}
	return KubeletURL(node)
}

// KubeletURL returns the HTTPS base URL of the kubelet API a Node reports: its
// InternalIP (else ExternalIP, else Hostname) and
// status.daemonEndpoints.kubeletEndpoint.port. The error is a 503 Status.
func KubeletURL(node *corev1.Node) (*url.URL, error) {
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port == 0 {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s does not report a kubelet port", node.Name))
	}
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && a.Address != "" {
				return &url.URL{Scheme: "https", Host: net.JoinHostPort(a.Address, strconv.Itoa(int(port)))}, nil
			}
		}
	}
	return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s reports no address", node.Name))
}

// pickContainer resolves the container a request is for, as upstream:
// the named one, else the only one (or the default-container annotation).
func pickContainer(pod *corev1.Pod, name, subresource string) (string, error) {
	all := make([]string, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		all = append(all, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		all = append(all, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		all = append(all, c.Name)
	}
	if name != "" {
		for _, c := range all {
			if c == name {
				return name, nil
			}
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
	}
	if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
		return d, nil
	}
	if len(pod.Spec.Containers) == 1 {
		return pod.Spec.Containers[0].Name, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, all))
}

func containerStarted(pod *corev1.Pod, name string) bool {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, s := range list {
			if s.Name == name {
				return s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil
			}
		}
	}
	return false
}
