package validation

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

const otherDigest = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

func TestValidateWasmModule(t *testing.T) {
	runCreate(t, "wasmmodule.yaml", []createCase[*pluginsv1alpha1.WasmModule]{
		{name: "valid"},
		{name: "name without prefix", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Name = m.Spec.SHA256 }, want: []string{"metadata.name: Invalid value", "spec.sha256: Invalid value"}},
		{name: "uppercase digest in name", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Name = strings.ToUpper(m.Name) }, want: []string{"metadata.name: Invalid value", "spec.sha256: Invalid value"}},
		{name: "short digest", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Name = "sha256-abc"; m.Spec.SHA256 = "abc" }, want: []string{"metadata.name: Invalid value", "spec.sha256: Invalid value"}},
		{name: "generateName", mutate: func(m *pluginsv1alpha1.WasmModule) { m.GenerateName = "sha256-" }, want: []string{"metadata.generateName: Invalid value"}},
		{name: "digest mismatch", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Spec.SHA256 = otherDigest }, want: []string{"spec.sha256: Invalid value"}},
		{name: "missing digest", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Spec.SHA256 = "" }, want: []string{"spec.sha256: Required value"}},
		{name: "zero size", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Spec.Size = 0 }, want: []string{"spec.size: Invalid value"}},
		{name: "too big", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Spec.Size = pluginsv1alpha1.MaxModuleBytes + 1 }, want: []string{"spec.size: Invalid value"}},
		{name: "namespaced", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Namespace = "default" }, want: []string{"metadata.namespace: Forbidden"}},
	})
	runUpdate(t, "wasmmodule.yaml", false, []updateCase[*pluginsv1alpha1.WasmModule]{
		{name: "describe", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Spec.Description = "v2" }},
		{name: "resize", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Spec.Size = 1 }, want: []string{"spec.size: Invalid value"}},
	})
	runUpdate(t, "wasmmodule.yaml", true, []updateCase[*pluginsv1alpha1.WasmModule]{
		{name: "uploaded", mutate: func(m *pluginsv1alpha1.WasmModule) { m.Status.Uploaded = true }},
	})
}

func TestValidateAdmissionPolicy(t *testing.T) {
	rule := func(p *pluginsv1alpha1.AdmissionPolicy) *admissionregistrationv1.RuleWithOperations {
		return &p.Spec.Rules[0]
	}
	runCreate(t, "admissionpolicy.yaml", []createCase[*pluginsv1alpha1.AdmissionPolicy]{
		{name: "valid"},
		{name: "audit", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Mode = pluginsv1alpha1.ModeAudit }},
		{name: "bad mode", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Mode = "Warn" }, want: []string{"spec.mode: Unsupported value"}},
		{name: "bad module", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Module = "my-module" }, want: []string{"spec.module: Invalid value"}},
		{name: "no module", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Module = "" }, want: []string{"spec.module: Required value"}},
		{name: "no rules", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Rules = nil }, want: []string{"spec.rules: Required value"}},
		{name: "bad operation", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) {
			rule(p).Operations = []admissionregistrationv1.OperationType{"PATCH"}
		}, want: []string{"spec.rules[0].operations[0]: Unsupported value"}},
		{name: "star with other operations", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) {
			rule(p).Operations = append(rule(p).Operations, admissionregistrationv1.OperationAll)
		}, want: []string{"spec.rules[0].operations: Invalid value"}},
		{name: "no apiVersions", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { rule(p).APIVersions = nil }, want: []string{"spec.rules[0].apiVersions: Required value"}},
		{name: "no resources", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { rule(p).Resources = nil }, want: []string{"spec.rules[0].resources: Required value"}},
		{name: "star with named resources", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { rule(p).Resources = []string{"*", "pods"} }, want: []string{"spec.rules[0].resources: Invalid value"}},
		{name: "all subresources", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { rule(p).Resources = []string{"*/*"} }},
		{name: "bad scope", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) {
			rule(p).Scope = ptr(admissionregistrationv1.ScopeType("Global"))
		}, want: []string{"spec.rules[0].scope: Unsupported value"}},
		{name: "bad failurePolicy", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) {
			p.Spec.FailurePolicy = ptr(admissionregistrationv1.FailurePolicyType("Retry"))
		}, want: []string{"spec.failurePolicy: Unsupported value"}},
		{name: "timeout too long", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.TimeoutMilliseconds = ptr(int32(10001)) }, want: []string{"spec.timeoutMilliseconds: Invalid value"}},
		{name: "timeout zero", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.TimeoutMilliseconds = ptr(int32(0)) }, want: []string{"spec.timeoutMilliseconds: Invalid value"}},
		{name: "bad selector", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) {
			p.Spec.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"a b": "c"}}
		}, want: []string{"spec.objectSelector.matchLabels: Invalid value"}},
		{name: "settings not JSON", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Settings = &runtime.RawExtension{Raw: []byte("{")} }, want: []string{"spec.settings: Invalid value"}},
	})
	runUpdate(t, "admissionpolicy.yaml", false, []updateCase[*pluginsv1alpha1.AdmissionPolicy]{
		{name: "switch module", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Module = "sha256-" + otherDigest }},
		{name: "bad mode", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) { p.Spec.Mode = "" }, want: []string{"spec.mode: Required value"}},
	})
	runUpdate(t, "admissionpolicy.yaml", true, []updateCase[*pluginsv1alpha1.AdmissionPolicy]{
		{name: "loaded", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) {
			p.Status.ObservedGeneration = 1
			p.Status.Conditions = []metav1.Condition{{Type: "Loaded", Status: metav1.ConditionTrue, Reason: "Compiled", LastTransitionTime: metav1.Now()}}
		}},
		{name: "bad condition", mutate: func(p *pluginsv1alpha1.AdmissionPolicy) {
			p.Status.Conditions = []metav1.Condition{{Type: "Loaded", Status: "Maybe", Reason: "Compiled", LastTransitionTime: metav1.Now()}}
		}, want: []string{"status.conditions[0].status: Unsupported value"}},
	})
}

func TestValidateSchedulerPlugin(t *testing.T) {
	runCreate(t, "schedulerplugin.yaml", []createCase[*pluginsv1alpha1.SchedulerPlugin]{
		{name: "valid"},
		{name: "neither filter nor score", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.Filter, p.Spec.Score = false, false }, want: []string{"spec: Required value"}},
		{name: "negative weight", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.Weight = -1 }, want: []string{"spec.weight: Invalid value"}},
		{name: "bad profile", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.Profiles = []string{"Default"} }, want: []string{"spec.profiles[0]: Invalid value"}},
		{name: "duplicate profile", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.Profiles = []string{"a", "a"} }, want: []string{"spec.profiles[1]: Duplicate value"}},
		{name: "bad module", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.Module = "sha256-" }, want: []string{"spec.module: Invalid value"}},
		{name: "timeout too long", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.TimeoutMilliseconds = ptr(int32(20000)) }, want: []string{"spec.timeoutMilliseconds: Invalid value"}},
		{name: "fail policy", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.FailurePolicy = ptr(admissionregistrationv1.Fail) }},
	})
	runUpdate(t, "schedulerplugin.yaml", false, []updateCase[*pluginsv1alpha1.SchedulerPlugin]{
		{name: "reweight", mutate: func(p *pluginsv1alpha1.SchedulerPlugin) { p.Spec.Weight = 5 }},
	})
}
