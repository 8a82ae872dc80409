// Package v1alpha1 defines the plugins.skiff.dev/v1alpha1 API group: the
// resources through which Wasm modules are stored in the cluster
// (WasmModule) and used as admission policies (AdmissionPolicy) and scheduler
// plugins (SchedulerPlugin). All three are cluster-scoped.
package v1alpha1
