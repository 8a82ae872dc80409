package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/apiserver/internal/content"
	"skiff.dev/plugins/admission"
)

// wasmAdmission runs the cluster's AdmissionPolicies: a chain from
// skiff.dev/plugins/admission, kept in sync with the API by a watch over a
// loopback client, with module bytes read straight from etcd, Audit-mode
// denials recorded as Events and each policy's load state written to its
// status (condition Ready).
type wasmAdmission struct {
	chain *admission.Chain
	log   *slog.Logger
}

func newWasmAdmission(store *content.Store, loopback *rest.Config, log *slog.Logger) (*wasmAdmission, error) {
	var events kubernetes.Interface
	chain, err := admission.New(admission.Options{
		Logger: log.With("component", "wasm-admission"),
		Modules: func(ctx context.Context, name string) ([]byte, error) {
			b, ok, err := store.Get(ctx, name)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("wasmmodule %s has no uploaded content", name)
			}
			return b, nil
		},
		Audit: func(ctx context.Context, policy string, req *admissionv1.AdmissionRequest, message string) {
			if events == nil {
				return
			}
			recordAuditEvent(ctx, events, policy, req, message, log)
		},
	})
	if err != nil {
		return nil, err
	}
	events, err = kubernetes.NewForConfig(loopback)
	if err != nil {
		return nil, err
	}
	return &wasmAdmission{chain: chain, log: log}, nil
}

// run keeps the chain and the policies' status in sync until ctx ends.
func (w *wasmAdmission) run(ctx context.Context, loopback *rest.Config) {
	go func() {
		if err := admission.Watch(ctx, w.chain, loopback); err != nil && ctx.Err() == nil {
			w.log.Error("wasm admission watch stopped", "err", err)
		}
	}()
	dc, err := dynamic.NewForConfig(loopback)
	if err != nil {
		w.log.Error("wasm admission status", "err", err)
		return
	}
	policies := dc.Resource(v1alpha1.SchemeGroupVersion.WithResource(v1alpha1.ResourceAdmissionPolicies))
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		list, err := policies.List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			continue
		}
		for i := range list.Items {
			w.syncStatus(ctx, policies, &list.Items[i])
		}
	}
}

// syncStatus writes the Ready condition of one policy when it changed.
func (w *wasmAdmission) syncStatus(ctx context.Context, policies dynamic.NamespaceableResourceInterface, u *unstructured.Unstructured) {
	var ap v1alpha1.AdmissionPolicy
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ap); err != nil {
		return
	}
	ready, msg := w.chain.Status(ap.Name)
	if !ready && (msg == "" || msg == "not found") {
		return // not seen by the chain yet
	}
	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Loaded", Message: msg, ObservedGeneration: ap.Generation}
	if !ready {
		cond.Status, cond.Reason = metav1.ConditionFalse, "LoadFailed"
	}
	old := meta.FindStatusCondition(ap.Status.Conditions, "Ready")
	if old != nil && old.Status == cond.Status && old.Message == cond.Message && ap.Status.ObservedGeneration == ap.Generation {
		return
	}
	meta.SetStatusCondition(&ap.Status.Conditions, cond)
	ap.Status.ObservedGeneration = ap.Generation
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&ap)
	if err != nil {
		return
	}
	upd := &unstructured.Unstructured{Object: obj}
	upd.SetAPIVersion(v1alpha1.SchemeGroupVersion.String())
	upd.SetKind("AdmissionPolicy")
	if _, err := policies.UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		w.log.Debug("update admission policy status", "policy", ap.Name, "err", err)
	}
}

// serveStats answers GET /plugins/admission/stats with the per-policy
// statistics (calls, allowed, denied, errors, latency quantiles, recent
// denials) as JSON, for the dashboard.
func (w *wasmAdmission) serveStats(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{"policies": w.chain.Stats()})
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (w *wasmAdmission) serveMetrics(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := w.chain.WriteMetrics(rw); err != nil {
		w.log.Warn("write metrics", "err", err)
	}
}

// recordAuditEvent records an Audit-mode denial as a Warning Event on the
// object (or in the default namespace for cluster-scoped objects).
func recordAuditEvent(ctx context.Context, client kubernetes.Interface, policy string, req *admissionv1.AdmissionRequest, message string, log *slog.Logger) {
	ns := req.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-audit-", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: schema.GroupVersion{Group: req.Kind.Group, Version: req.Kind.Version}.String(),
			Kind:       req.Kind.Kind,
			Namespace:  req.Namespace,
			Name:       req.Name,
		},
		Reason:         "PolicyAudit",
		Message:        fmt.Sprintf("admission policy %q would deny %s: %s", policy, req.Operation, message),
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "skiff-apiserver"},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
	// Record asynchronously: the request being admitted must not wait.
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := client.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			log.Debug("record audit event", "policy", policy, "err", err)
		}
	}()
}
