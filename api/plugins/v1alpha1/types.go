package v1alpha1

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of skiff's plugin resources.
const GroupName = "plugins.skiff.dev"

// Version is the only served version of the group.
const Version = "v1alpha1"

// SchemeGroupVersion is the group/version of these types.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

// Resource names as they appear in URLs and discovery.
const (
	ResourceWasmModules       = "wasmmodules"
	ResourceAdmissionPolicies = "admissionpolicies"
	ResourceSchedulerPlugins  = "schedulerplugins"
	// SubresourceContent is the subresource of a WasmModule that carries its
	// bytes: PUT uploads them (Content-Type application/wasm or
	// application/octet-stream), GET returns them.
	SubresourceContent = "content"
)

// ModuleNamePrefix starts the name of every WasmModule: the full name is
// "sha256-" followed by the 64 lowercase hex digits of the module's SHA-256.
const ModuleNamePrefix = "sha256-"

// MaxModuleBytes is the largest module the cluster accepts.
const MaxModuleBytes = 64 << 20

// AddToScheme registers the types with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&WasmModule{}, &WasmModuleList{},
		&AdmissionPolicy{}, &AdmissionPolicyList{},
		&SchedulerPlugin{}, &SchedulerPluginList{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// WasmModule is a content-addressed WebAssembly module stored in the
// cluster. Its name is "sha256-<hex digest>"; the object carries metadata
// only and the bytes travel through the "content" subresource, so modules of
// several MiB (Go-built) fit regardless of the object size limit.
type WasmModule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   WasmModuleSpec   `json:"spec"`
	Status WasmModuleStatus `json:"status,omitempty"`
}

// WasmModuleSpec describes the module's bytes.
type WasmModuleSpec struct {
	// SHA256 is the lowercase hex SHA-256 of the module; it must match the name.
	SHA256 string `json:"sha256"`
	// Size is the module size in bytes.
	Size int64 `json:"size"`
	// Description is free text for humans.
	Description string `json:"description,omitempty"`
}

// WasmModuleStatus reports whether the bytes have been uploaded.
type WasmModuleStatus struct {
	// Uploaded is true once content matching Spec.SHA256 has been stored.
	Uploaded bool `json:"uploaded,omitempty"`
}

// WasmModuleList is a list of WasmModules.
type WasmModuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WasmModule `json:"items"`
}

// PolicyMode says what a policy's denial does.
type PolicyMode string

const (
	// ModeEnforce denies the request when the policy denies it.
	ModeEnforce PolicyMode = "Enforce"
	// ModeAudit allows the request and records the denial as an Event and a metric.
	ModeAudit PolicyMode = "Audit"
)

// AdmissionPolicy runs a WasmModule on matching API requests.
type AdmissionPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AdmissionPolicySpec   `json:"spec"`
	Status AdmissionPolicyStatus `json:"status,omitempty"`
}

// AdmissionPolicySpec says which module runs on which requests, and how.
type AdmissionPolicySpec struct {
	// Module is the name of a WasmModule ("sha256-<hex>").
	Module string `json:"module"`
	// Rules select requests as in admission webhooks. A rule must name
	// "secrets" explicitly for the policy to see Secrets; "*" does not match them.
	Rules []admissionregistrationv1.RuleWithOperations `json:"rules"`
	// NamespaceSelector limits the policy to objects in matching namespaces.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// ObjectSelector limits the policy to objects whose labels match.
	ObjectSelector *metav1.LabelSelector `json:"objectSelector,omitempty"`
	// Mutating policies return JSON patches and run before built-in
	// validation; validating policies run after it.
	Mutating bool `json:"mutating,omitempty"`
	// Mode is Enforce (default) or Audit.
	Mode PolicyMode `json:"mode,omitempty"`
	// FailurePolicy is Fail (default) or Ignore: what happens when the module
	// errors, traps, times out or runs out of memory.
	FailurePolicy *admissionregistrationv1.FailurePolicyType `json:"failurePolicy,omitempty"`
	// TimeoutMilliseconds caps one call (default 100, at most 10000).
	TimeoutMilliseconds *int32 `json:"timeoutMilliseconds,omitempty"`
	// Settings are passed to the module; validated at load by its
	// validate_settings export.
	Settings *runtime.RawExtension `json:"settings,omitempty"`
}

// AdmissionPolicyStatus reports whether the policy is loaded.
type AdmissionPolicyStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
}

// AdmissionPolicyList is a list of AdmissionPolicies.
type AdmissionPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AdmissionPolicy `json:"items"`
}

// SchedulerPlugin registers a WasmModule as a scheduler filter and/or score plugin.
type SchedulerPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SchedulerPluginSpec   `json:"spec"`
	Status SchedulerPluginStatus `json:"status,omitempty"`
}

// SchedulerPluginSpec says which extension points the module serves.
type SchedulerPluginSpec struct {
	// Module is the name of a WasmModule ("sha256-<hex>").
	Module string `json:"module"`
	// Filter makes the plugin a filter (export "filter").
	Filter bool `json:"filter,omitempty"`
	// Score makes the plugin a score plugin (export "score").
	Score bool `json:"score,omitempty"`
	// Weight multiplies the normalized score (default 1).
	Weight int32 `json:"weight,omitempty"`
	// Profiles lists scheduler profile names (schedulerName) that use the
	// plugin; empty means every profile.
	Profiles []string `json:"profiles,omitempty"`
	// FailurePolicy is Fail (the cycle fails and the pod is retried) or
	// Ignore (default: the plugin is skipped for that cycle).
	FailurePolicy *admissionregistrationv1.FailurePolicyType `json:"failurePolicy,omitempty"`
	// TimeoutMilliseconds caps one call (default 100).
	TimeoutMilliseconds *int32 `json:"timeoutMilliseconds,omitempty"`
	// Settings are passed to the module.
	Settings *runtime.RawExtension `json:"settings,omitempty"`
}

// SchedulerPluginStatus reports whether the plugin is loaded.
type SchedulerPluginStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
}

// SchedulerPluginList is a list of SchedulerPlugins.
type SchedulerPluginList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SchedulerPlugin `json:"items"`
}
