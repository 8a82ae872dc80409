package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/admission"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/internal/wasmtest"
)

// store is an in-memory WasmModule store.
type store struct {
	mu      sync.Mutex
	modules map[string][]byte
}

func (s *store) add(wasm []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := wasmtest.Name(wasm)
	s.modules[name] = wasm
	return name
}

func (s *store) get(_ context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.modules[name]
	if !ok {
		return nil, fmt.Errorf("wasmmodule %q not found", name)
	}
	return b, nil
}

type auditRecord struct{ policy, message string }

type env struct {
	chain  *admission.Chain
	store  *store
	mu     sync.Mutex
	audits []auditRecord
}

func newEnv(t *testing.T) *env { return newEnvTB(t) }

func newEnvTB(t testing.TB) *env {
	t.Helper()
	e := &env{store: &store{modules: map[string][]byte{}}}
	c, err := admission.New(admission.Options{
		Runtime: wasmtest.Runtime(t, host.Options{}),
		Modules: e.store.get,
		Audit: func(_ context.Context, policy string, _ *admissionv1.AdmissionRequest, msg string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.audits = append(e.audits, auditRecord{policy, msg})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	e.chain = c
	return e
}

func (e *env) auditLog() []auditRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]auditRecord(nil), e.audits...)
}

func podRules() []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
	}}
}

type policyOpt func(*v1alpha1.AdmissionPolicy)

func settings(s string) policyOpt {
	return func(p *v1alpha1.AdmissionPolicy) { p.Spec.Settings = &runtime.RawExtension{Raw: []byte(s)} }
}
func mutating(p *v1alpha1.AdmissionPolicy) { p.Spec.Mutating = true }
func audit(p *v1alpha1.AdmissionPolicy)    { p.Spec.Mode = v1alpha1.ModeAudit }
func ignore(p *v1alpha1.AdmissionPolicy) {
	f := admissionregistrationv1.Ignore
	p.Spec.FailurePolicy = &f
}
func timeoutMS(ms int32) policyOpt {
	return func(p *v1alpha1.AdmissionPolicy) { p.Spec.TimeoutMilliseconds = &ms }
}

// generousTimeout keeps policies that are not about timeouts from timing
// out on a loaded CI machine (the default is 100ms).
var generousTimeout int32 = 10000

func policy(name, module string, opts ...policyOpt) v1alpha1.AdmissionPolicy {
	p := v1alpha1.AdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.AdmissionPolicySpec{Module: module, Rules: podRules(), TimeoutMilliseconds: &generousTimeout},
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func podRequest(name, ns string, labels map[string]string, privileged bool, dryRun bool) admission.Attributes {
	c := map[string]any{"name": "app", "image": "busybox"}
	if privileged {
		c["securityContext"] = map[string]any{"privileged": true}
	}
	obj, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"spec":     map[string]any{"containers": []any{c}},
	})
	return admission.Attributes{
		Request: &admissionv1.AdmissionRequest{
			UID:       "uid-1",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      name,
			Namespace: ns,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: obj},
			DryRun:    &dryRun,
		},
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": ns},
	}
}

func statusCode(err error) int32 {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return se.ErrStatus.Code
	}
	return 0
}

func mustReady(t *testing.T, c *admission.Chain, names ...string) {
	t.Helper()
	for _, n := range names {
		if ok, msg := c.Status(n); !ok {
			t.Fatalf("policy %s not ready: %s", n, msg)
		}
	}
}

func TestValidatingPolicies(t *testing.T) {
	e := newEnv(t)
	labels := e.store.add(wasmtest.Go(t, "examples/requiredlabels"))
	priv := e.store.add(wasmtest.Go(t, "examples/denyprivileged"))
	privWAT := e.store.add(wasmtest.WAT(t, "../examples/wat/denyprivileged.wat"))
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{
		policy("labels", labels, settings(`{"labels":["team"],"namespaces":{"prod":["team","cost-center"]}}`)),
		policy("privileged", priv),
		policy("privileged-wat", privWAT),
	})
	mustReady(t, e.chain, "labels", "privileged", "privileged-wat")
	tests := []struct {
		name     string
		attrs    admission.Attributes
		wantCode int32
		wantMsg  string
	}{
		{"allowed", podRequest("a", "default", map[string]string{"team": "x"}, false, false), 0, ""},
		{"missing label", podRequest("a", "default", nil, false, false), 400,
			`admission policy "labels" denied the request: missing required labels: team`},
		{"namespace-scoped settings", podRequest("a", "prod", map[string]string{"team": "x"}, false, false), 400,
			`missing required labels: cost-center`},
		{"namespace-scoped settings allowed", podRequest("a", "prod", map[string]string{"team": "x", "cost-center": "1"}, false, false), 0, ""},
		{"privileged (Go and WAT)", podRequest("a", "default", map[string]string{"team": "x"}, true, false), 403,
			`admission policy "privileged" denied the request: container "app" is privileged`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.chain.Validate(context.Background(), tc.attrs)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			if statusCode(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v (code %d), want code %d and %q", err, statusCode(err), tc.wantCode, tc.wantMsg)
			}
		})
	}
	// The WAT policy denies on its own too.
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("privileged-wat", privWAT)})
	_, err := e.chain.Validate(context.Background(), podRequest("a", "default", nil, true, false))
	if statusCode(err) != 403 || !strings.Contains(err.Error(), `"privileged-wat" denied the request: privileged containers are not allowed`) {
		t.Fatalf("WAT policy: %v", err)
	}
}

func TestMutatingPolicy(t *testing.T) {
	e := newEnv(t)
	mod := e.store.add(wasmtest.Go(t, "examples/defaultresources"))
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{
		policy("defaults", mod, mutating, settings(`{"cpu":"100m","memory":"64Mi"}`)),
	})
	mustReady(t, e.chain, "defaults")
	obj, warnings, err := e.chain.Mutate(context.Background(), podRequest("a", "default", nil, false, false))
	if err != nil {
		t.Fatal(err)
	}
	var pod struct {
		Spec struct {
			Containers []struct {
				Resources struct {
					Requests map[string]string `json:"requests"`
				} `json:"resources"`
			} `json:"containers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(obj, &pod); err != nil {
		t.Fatalf("mutated object %q: %v", obj, err)
	}
	if r := pod.Spec.Containers[0].Resources.Requests; r["cpu"] != "100m" || r["memory"] != "64Mi" {
		t.Fatalf("requests = %v", r)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "app") {
		t.Fatalf("warnings = %v", warnings)
	}
	// Validating policies are not run by Mutate and vice versa.
	if w, err := e.chain.Validate(context.Background(), podRequest("a", "default", nil, false, false)); err != nil || len(w) != 0 {
		t.Fatalf("Validate ran a mutating policy: %v %v", w, err)
	}
	// Audit-mode mutating policies do not change objects.
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{
		policy("defaults", mod, mutating, audit, settings(`{"cpu":"100m"}`)),
	})
	if obj, _, err := e.chain.Mutate(context.Background(), podRequest("a", "default", nil, false, false)); err != nil || obj != nil {
		t.Fatalf("audit-mode mutation changed the object: %s %v", obj, err)
	}
}

func TestAuditModeAndDryRun(t *testing.T) {
	e := newEnv(t)
	mod := e.store.add(wasmtest.Go(t, "examples/requiredlabels"))
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("labels", mod, audit, settings(`{"labels":["team"]}`))})
	mustReady(t, e.chain, "labels")
	if _, err := e.chain.Validate(context.Background(), podRequest("a", "default", nil, false, false)); err != nil {
		t.Fatalf("audit mode denied: %v", err)
	}
	if _, err := e.chain.Validate(context.Background(), podRequest("b", "default", nil, false, true)); err != nil {
		t.Fatalf("audit mode denied a dry run: %v", err)
	}
	got := e.auditLog()
	if len(got) != 1 || got[0].policy != "labels" || !strings.Contains(got[0].message, "team") {
		t.Fatalf("audit records = %+v, want one (the dry run records none)", got)
	}
	st := e.chain.Stats()
	if len(st) != 1 || st[0].AuditDenied != 2 || st[0].Denied != 0 || st[0].Mode != "Audit" || len(st[0].RecentDenials) != 2 {
		t.Fatalf("stats = %+v", st)
	}
	// Enforce mode denies dry runs too (no side effects, same verdict).
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("labels", mod, settings(`{"labels":["team"]}`))})
	if _, err := e.chain.Validate(context.Background(), podRequest("c", "default", nil, false, true)); statusCode(err) != 400 {
		t.Fatalf("dry run under Enforce: %v", err)
	}
}

func TestFailures(t *testing.T) {
	e := newEnv(t)
	loop := e.store.add(wasmtest.WAT(t, "testdata/loop.wat"))
	trap := e.store.add(wasmtest.WAT(t, "testdata/trap.wat"))
	badJSON := e.store.add(wasmtest.WAT(t, "testdata/badjson.wat"))
	misbehave := e.store.add(wasmtest.Go(t, "host/testdata/gomisbehave"))
	labels := e.store.add(wasmtest.Go(t, "examples/requiredlabels"))
	corrupt := e.store.add([]byte("\x00asm\x01\x00\x00\x00\x01\xff"))
	tests := []struct {
		name    string
		policy  v1alpha1.AdmissionPolicy
		ready   bool
		podName string
		wantMsg string // with failurePolicy Fail
	}{
		{"loop times out", policy("p", loop, timeoutMS(50)), true, "a", "timed out"},
		{"trap", policy("p", trap), true, "a", "trapped"},
		{"result not JSON", policy("p", badJSON), true, "a", "not an admission response"},
		{"out of memory", policy("p", misbehave, timeoutMS(10000)), true, "oom", "out of memory"},
		{"guest panic", policy("p", misbehave), true, "panic", "panic: boom"},
		{"corrupt module", policy("p", corrupt), false, "a", "compile module"},
		{"missing module", policy("p", "sha256-"+strings.Repeat("0", 64)), false, "a", "not found"},
		{"bad module name", policy("p", "mymodule"), false, "a", "not a content address"},
		{"bad settings", policy("p", labels, settings(`{"labels":[]}`)), false, "a", "invalid settings: settings: labels: at least one"},
		{"unknown settings field", policy("p", labels, settings(`{"labelz":["a"]}`)), false, "a", `unknown field "labelz"`},
		{"mutating but no mutate export", policy("p", labels, mutating, settings(`{"labels":["a"]}`)), false, "a", `does not export "mutate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, failOpen := range []bool{false, true} {
				p := tc.policy
				if failOpen {
					ignore(&p)
				}
				e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{p})
				ready, msg := e.chain.Status("p")
				if ready != tc.ready {
					t.Fatalf("ready = %v (%s), want %v", ready, msg, tc.ready)
				}
				if !ready && !strings.Contains(msg, tc.wantMsg) {
					t.Fatalf("status message %q does not contain %q", msg, tc.wantMsg)
				}
				attrs := podRequest(tc.podName, "default", nil, false, false)
				var err error
				if p.Spec.Mutating {
					_, _, err = e.chain.Mutate(context.Background(), attrs)
				} else {
					_, err = e.chain.Validate(context.Background(), attrs)
				}
				if failOpen {
					if err != nil {
						t.Fatalf("failurePolicy Ignore: %v", err)
					}
					continue
				}
				if statusCode(err) != http.StatusInternalServerError || !strings.Contains(err.Error(), `failed calling admission policy "p"`) ||
					!strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("failurePolicy Fail: err = %v, want a 500 mentioning %q", err, tc.wantMsg)
				}
			}
		})
	}
	// After all that, a healthy policy on the same chain works.
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("p", misbehave)})
	if _, err := e.chain.Validate(context.Background(), podRequest("fine", "default", nil, false, false)); err != nil {
		t.Fatal(err)
	}
}

func TestHotReload(t *testing.T) {
	e := newEnv(t)
	mod := e.store.add(wasmtest.Go(t, "examples/requiredlabels"))
	ctx := context.Background()
	req := podRequest("a", "default", map[string]string{"team": "x"}, false, false)
	e.chain.Sync(ctx, []v1alpha1.AdmissionPolicy{policy("labels", mod, settings(`{"labels":["team"]}`))})
	if _, err := e.chain.Validate(ctx, req); err != nil {
		t.Fatal(err)
	}
	e.chain.Sync(ctx, []v1alpha1.AdmissionPolicy{policy("labels", mod, settings(`{"labels":["team","owner"]}`))})
	if _, err := e.chain.Validate(ctx, req); err == nil || !strings.Contains(err.Error(), "owner") {
		t.Fatalf("updated settings not applied: %v", err)
	}
	e.chain.Sync(ctx, nil)
	if _, err := e.chain.Validate(ctx, req); err != nil {
		t.Fatalf("deleted policy still applies: %v", err)
	}
	if ok, msg := e.chain.Status("labels"); ok || msg != "not found" {
		t.Fatalf("status after delete: %v %s", ok, msg)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	mod := e.store.add(wasmtest.Go(t, "examples/requiredlabels"))
	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("labels", mod, settings(`{"labels":["team"]}`))})
	e.chain.Validate(context.Background(), podRequest("a", "default", map[string]string{"team": "x"}, false, false))
	e.chain.Validate(context.Background(), podRequest("b", "default", nil, false, false))
	var buf bytes.Buffer
	if err := e.chain.WriteMetrics(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`skiff_admission_policy_ready{policy="labels",mode="Enforce"} 1`,
		`skiff_admission_policy_calls_total{policy="labels",mode="Enforce"} 2`,
		`skiff_admission_policy_decisions_total{policy="labels",mode="Enforce",decision="allowed"} 1`,
		`skiff_admission_policy_decisions_total{policy="labels",mode="Enforce",decision="denied"} 1`,
		`skiff_admission_policy_duration_seconds_bucket{policy="labels",le="+Inf"} 2`,
		`skiff_admission_policy_duration_seconds_count{policy="labels"} 2`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
	st := e.chain.Stats()[0]
	if st.LatencyP50 <= 0 || st.LatencyP99 < st.LatencyP50 || len(st.RecentDenials) != 1 || st.RecentDenials[0].Name != "b" {
		t.Fatalf("stats = %+v", st)
	}
}
