package v1alpha1

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func copyFailurePolicy(p *admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.FailurePolicyType {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyConditions(in []metav1.Condition) []metav1.Condition {
	if in == nil {
		return nil
	}
	out := make([]metav1.Condition, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

// DeepCopyInto copies the receiver into out.
func (in *WasmModule) DeepCopyInto(out *WasmModule) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
}

// DeepCopy returns a deep copy.
func (in *WasmModule) DeepCopy() *WasmModule {
	if in == nil {
		return nil
	}
	out := new(WasmModule)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *WasmModule) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies the receiver into out.
func (in *WasmModuleList) DeepCopyInto(out *WasmModuleList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]WasmModule, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy.
func (in *WasmModuleList) DeepCopy() *WasmModuleList {
	if in == nil {
		return nil
	}
	out := new(WasmModuleList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *WasmModuleList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies the receiver into out.
func (in *AdmissionPolicySpec) DeepCopyInto(out *AdmissionPolicySpec) {
	*out = *in
	if in.Rules != nil {
		out.Rules = make([]admissionregistrationv1.RuleWithOperations, len(in.Rules))
		for i := range in.Rules {
			in.Rules[i].DeepCopyInto(&out.Rules[i])
		}
	}
	out.NamespaceSelector = in.NamespaceSelector.DeepCopy()
	out.ObjectSelector = in.ObjectSelector.DeepCopy()
	out.FailurePolicy = copyFailurePolicy(in.FailurePolicy)
	out.TimeoutMilliseconds = copyInt32(in.TimeoutMilliseconds)
	out.Settings = in.Settings.DeepCopy()
}

// DeepCopyInto copies the receiver into out.
func (in *AdmissionPolicy) DeepCopyInto(out *AdmissionPolicy) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	out.Status.Conditions = copyConditions(in.Status.Conditions)
}

// DeepCopy returns a deep copy.
func (in *AdmissionPolicy) DeepCopy() *AdmissionPolicy {
	if in == nil {
		return nil
	}
	out := new(AdmissionPolicy)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *AdmissionPolicy) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies the receiver into out.
func (in *AdmissionPolicyList) DeepCopyInto(out *AdmissionPolicyList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]AdmissionPolicy, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy.
func (in *AdmissionPolicyList) DeepCopy() *AdmissionPolicyList {
	if in == nil {
		return nil
	}
	out := new(AdmissionPolicyList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *AdmissionPolicyList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies the receiver into out.
func (in *SchedulerPluginSpec) DeepCopyInto(out *SchedulerPluginSpec) {
	*out = *in
	if in.Profiles != nil {
		out.Profiles = append([]string(nil), in.Profiles...)
	}
	out.FailurePolicy = copyFailurePolicy(in.FailurePolicy)
	out.TimeoutMilliseconds = copyInt32(in.TimeoutMilliseconds)
	out.Settings = in.Settings.DeepCopy()
}

// DeepCopyInto copies the receiver into out.
func (in *SchedulerPlugin) DeepCopyInto(out *SchedulerPlugin) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	out.Status.Conditions = copyConditions(in.Status.Conditions)
}

// DeepCopy returns a deep copy.
func (in *SchedulerPlugin) DeepCopy() *SchedulerPlugin {
	if in == nil {
		return nil
	}
	out := new(SchedulerPlugin)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *SchedulerPlugin) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies the receiver into out.
func (in *SchedulerPluginList) DeepCopyInto(out *SchedulerPluginList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]SchedulerPlugin, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy.
func (in *SchedulerPluginList) DeepCopy() *SchedulerPluginList {
	if in == nil {
		return nil
	}
	out := new(SchedulerPluginList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *SchedulerPluginList) DeepCopyObject() runtime.Object { return in.DeepCopy() }
