// Package metricsapi serves the resource metrics API (metrics.k8s.io/v1beta1
// NodeMetrics and PodMetrics) that `kubectl top` reads. It has no storage:
// each request reads the kubelets' /stats/summary (CPU rate and memory
// working set, as metrics-server does) through the same transport the
// apiserver uses to proxy logs and exec.
package metricsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/apiserver/internal/proxy"
)

// GroupVersion is the served group version.
var GroupVersion = schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"}

// Resources lists the served resources for discovery.
func Resources() []metav1.APIResource {
	return []metav1.APIResource{
		{Name: "nodes", SingularName: "", Namespaced: false, Kind: "NodeMetrics", Verbs: []string{"get", "list"}},
		{Name: "pods", SingularName: "", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}},
	}
}

// NodeMetrics is metrics.k8s.io/v1beta1 NodeMetrics.
type NodeMetrics struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Timestamp         metav1.Time         `json:"timestamp"`
	Window            metav1.Duration     `json:"window"`
	Usage             corev1.ResourceList `json:"usage"`
}

// ContainerMetrics is one container's usage in a PodMetrics.
type ContainerMetrics struct {
	Name  string              `json:"name"`
	Usage corev1.ResourceList `json:"usage"`
}

// PodMetrics is metrics.k8s.io/v1beta1 PodMetrics.
type PodMetrics struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Timestamp         metav1.Time        `json:"timestamp"`
	Window            metav1.Duration    `json:"window"`
	Containers        []ContainerMetrics `json:"containers"`
}

// list is a NodeMetricsList or PodMetricsList.
type list[T any] struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []T `json:"items"`
}

// Options wires the handler to the apiserver.
type Options struct {
	// ListNodes returns every Node.
	ListNodes func(ctx context.Context) ([]corev1.Node, error)
	// ListPods returns the pods of a namespace ("" for all).
	ListPods func(ctx context.Context, namespace string) ([]corev1.Pod, error)
	// Transport reaches kubelets.
	Transport http.RoundTripper
	// ErrorWriter writes an API error as a metav1.Status.
	ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)
}

// Handler serves /apis/metrics.k8s.io/v1beta1/...
type Handler struct {
	opts   Options
	client *http.Client
}

// New returns a Handler.
func New(opts Options) *Handler {
	if opts.Transport == nil {
		opts.Transport = proxy.DefaultTransport()
	}
	return &Handler{opts: opts, client: &http.Client{Transport: opts.Transport, Timeout: 5 * time.Second}}
}

// window is the interval the kubelet's CPU rate is computed over.
const window = 10 * time.Second

// ServeHTTP serves nodes, nodes/NAME, pods, namespaces/NS/pods and
// namespaces/NS/pods/NAME (GET only; ?labelSelector= is honoured).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		h.opts.ErrorWriter(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: GroupVersion.Group, Resource: "metrics"}, r.Method))
		return
	}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/apis/"+GroupVersion.String()), "/")
	parts := strings.Split(rest, "/")
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		h.opts.ErrorWriter(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector: %v", err)))
		return
	}
	switch {
	case len(parts) == 1 && parts[0] == "nodes":
		h.nodes(w, r, "", sel)
	case len(parts) == 2 && parts[0] == "nodes":
		h.nodes(w, r, parts[1], sel)
	case len(parts) == 1 && parts[0] == "pods":
		h.pods(w, r, "", "", sel)
	case len(parts) == 3 && parts[0] == "namespaces" && parts[2] == "pods":
		h.pods(w, r, parts[1], "", sel)
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "pods":
		h.pods(w, r, parts[1], parts[3], sel)
	default:
		h.opts.ErrorWriter(w, r, apierrors.NewNotFound(schema.GroupResource{Group: GroupVersion.Group, Resource: rest}, ""))
	}
}

// summary mirrors the fields of the kubelet's /stats/summary that are read.
type summary struct {
	Node struct {
		NodeName string  `json:"nodeName"`
		CPU      *usage  `json:"cpu"`
		Memory   *memory `json:"memory"`
	} `json:"node"`
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		Containers []struct {
			Name   string  `json:"name"`
			CPU    *usage  `json:"cpu"`
			Memory *memory `json:"memory"`
		} `json:"containers"`
	} `json:"pods"`
}

type usage struct {
	Time           metav1.Time `json:"time"`
	UsageNanoCores *uint64     `json:"usageNanoCores"`
}

type memory struct {
	Time            metav1.Time `json:"time"`
	WorkingSetBytes *uint64     `json:"workingSetBytes"`
}

func (u *usage) quantity() resource.Quantity {
	if u == nil || u.UsageNanoCores == nil {
		return *resource.NewScaledQuantity(0, resource.Nano)
	}
	return *resource.NewScaledQuantity(int64(*u.UsageNanoCores), resource.Nano)
}

func (m *memory) quantity() resource.Quantity {
	if m == nil || m.WorkingSetBytes == nil {
		return *resource.NewQuantity(0, resource.BinarySI)
	}
	return *resource.NewQuantity(int64(*m.WorkingSetBytes), resource.BinarySI)
}

// summaries fetches /stats/summary from each node's kubelet concurrently;
// nodes whose kubelet does not answer are left out, as metrics-server does.
func (h *Handler) summaries(ctx context.Context, nodes []corev1.Node) map[string]*summary {
	out := map[string]*summary{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range nodes {
		n := &nodes[i]
		base, err := proxy.KubeletURL(n)
		if err != nil {
			continue // no kubelet to ask, as metrics-server skips it
		}
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/stats/summary", nil)
			if err != nil {
				return
			}
			resp, err := h.client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return
			}
			var s summary
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
				return
			}
			mu.Lock()
			out[n.Name] = &s
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (h *Handler) nodes(w http.ResponseWriter, r *http.Request, name string, sel labels.Selector) {
	all, err := h.opts.ListNodes(r.Context())
	if err != nil {
		h.opts.ErrorWriter(w, r, err)
		return
	}
	var nodes []corev1.Node
	for _, n := range all {
		if (name == "" || n.Name == name) && sel.Matches(labels.Set(n.Labels)) {
			nodes = append(nodes, n)
		}
	}
	sums := h.summaries(r.Context(), nodes)
	items := []NodeMetrics{}
	for _, n := range nodes {
		s, ok := sums[n.Name]
		if !ok {
			continue
		}
		ts := s.Node.CPU
		m := NodeMetrics{
			TypeMeta:   metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: GroupVersion.String()},
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: metav1.Now()},
			Window:     metav1.Duration{Duration: window},
			Usage:      corev1.ResourceList{corev1.ResourceCPU: s.Node.CPU.quantity(), corev1.ResourceMemory: s.Node.Memory.quantity()},
		}
		if ts != nil {
			m.Timestamp = ts.Time
		}
		items = append(items, m)
	}
	if name != "" {
		if len(items) == 0 {
			h.opts.ErrorWriter(w, r, apierrors.NewNotFound(schema.GroupResource{Group: GroupVersion.Group, Resource: "nodes"}, name))
			return
		}
		writeJSON(w, items[0])
		return
	}
	writeJSON(w, list[NodeMetrics]{TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: GroupVersion.String()}, Items: items})
}

func (h *Handler) pods(w http.ResponseWriter, r *http.Request, namespace, name string, sel labels.Selector) {
	pods, err := h.opts.ListPods(r.Context(), namespace)
	if err != nil {
		h.opts.ErrorWriter(w, r, err)
		return
	}
	wanted := map[string]*corev1.Pod{}
	onNodes := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" || (name != "" && p.Name != name) || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		wanted[p.Namespace+"/"+p.Name] = p
		onNodes[p.Spec.NodeName] = true
	}
	var nodes []corev1.Node
	if len(wanted) > 0 {
		all, err := h.opts.ListNodes(r.Context())
		if err != nil {
			h.opts.ErrorWriter(w, r, err)
			return
		}
		for _, n := range all {
			if onNodes[n.Name] {
				nodes = append(nodes, n)
			}
		}
	}
	items := []PodMetrics{}
	for _, s := range h.summaries(r.Context(), nodes) {
		for _, ps := range s.Pods {
			p, ok := wanted[ps.PodRef.Namespace+"/"+ps.PodRef.Name]
			if !ok || len(ps.Containers) == 0 {
				continue
			}
			m := PodMetrics{
				TypeMeta:   metav1.TypeMeta{Kind: "PodMetrics", APIVersion: GroupVersion.String()},
				ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: metav1.Now()},
				Window:     metav1.Duration{Duration: window},
			}
			for _, c := range ps.Containers {
				if c.CPU != nil && m.Timestamp.IsZero() {
					m.Timestamp = c.CPU.Time
				}
				m.Containers = append(m.Containers, ContainerMetrics{Name: c.Name,
					Usage: corev1.ResourceList{corev1.ResourceCPU: c.CPU.quantity(), corev1.ResourceMemory: c.Memory.quantity()}})
			}
			items = append(items, m)
		}
	}
	if name != "" {
		if len(items) == 0 {
			h.opts.ErrorWriter(w, r, apierrors.NewNotFound(schema.GroupResource{Group: GroupVersion.Group, Resource: "pods"}, name))
			return
		}
		writeJSON(w, items[0])
		return
	}
	writeJSON(w, list[PodMetrics]{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: GroupVersion.String()}, Items: items})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
