package validation

import (
	"encoding/json"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

const (
	maxPluginTimeoutMillis = 10000
	maxDescriptionLength   = 1024
)

// moduleNameErrors describes why name is not "sha256-" + 64 lowercase hex digits.
func moduleNameErrors(name string, prefix bool) []string {
	if prefix {
		return []string{"generateName is not supported: the name is the module's digest"}
	}
	hexPart, ok := strings.CutPrefix(name, pluginsv1alpha1.ModuleNamePrefix)
	if !ok || !isLowerHex(hexPart, 64) {
		return []string{fmt.Sprintf("must be %q followed by the 64 lowercase hex digits of the module's SHA-256", pluginsv1alpha1.ModuleNamePrefix)}
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validateModuleRef(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range moduleNameErrors(name, false) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// ---- WasmModule ----

func validateWasmModule(m *pluginsv1alpha1.WasmModule) field.ErrorList {
	errs := metaCreate(&m.ObjectMeta, false, moduleNameErrors)
	return append(errs, validateWasmModuleSpec(m)...)
}

func validateWasmModuleSpec(m *pluginsv1alpha1.WasmModule) field.ErrorList {
	var errs field.ErrorList
	hp := specPath.Child("sha256")
	switch {
	case m.Spec.SHA256 == "":
		errs = append(errs, field.Required(hp, ""))
	case !isLowerHex(m.Spec.SHA256, 64):
		errs = append(errs, field.Invalid(hp, m.Spec.SHA256, "must be 64 lowercase hex digits"))
	case m.Name != "" && m.Name != pluginsv1alpha1.ModuleNamePrefix+m.Spec.SHA256:
		errs = append(errs, field.Invalid(hp, m.Spec.SHA256, "must match the digest in metadata.name"))
	}
	sp := specPath.Child("size")
	if m.Spec.Size <= 0 {
		errs = append(errs, field.Invalid(sp, m.Spec.Size, isNotPositiveMessage))
	} else if m.Spec.Size > pluginsv1alpha1.MaxModuleBytes {
		errs = append(errs, field.Invalid(sp, m.Spec.Size, fmt.Sprintf("must be no more than %d bytes", pluginsv1alpha1.MaxModuleBytes)))
	}
	if len(m.Spec.Description) > maxDescriptionLength {
		errs = append(errs, field.TooLong(specPath.Child("description"), "", maxDescriptionLength))
	}
	return errs
}

func validateWasmModuleUpdate(m, old *pluginsv1alpha1.WasmModule) field.ErrorList {
	errs := metaUpdate(&m.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateWasmModuleSpec(m)...)
	errs = append(errs, immutable(m.Spec.SHA256, old.Spec.SHA256, specPath.Child("sha256"))...)
	errs = append(errs, immutable(m.Spec.Size, old.Spec.Size, specPath.Child("size"))...)
	return errs
}

// ---- AdmissionPolicy ----

func validateAdmissionPolicy(ap *pluginsv1alpha1.AdmissionPolicy) field.ErrorList {
	errs := metaCreate(&ap.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateAdmissionPolicySpec(&ap.Spec, specPath)...)
}

func validateAdmissionPolicySpec(s *pluginsv1alpha1.AdmissionPolicySpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateModuleRef(s.Module, p.Child("module"))...)
	if len(s.Rules) == 0 {
		errs = append(errs, field.Required(p.Child("rules"), "at least one rule is required"))
	}
	for i := range s.Rules {
		errs = append(errs, validateRuleWithOperations(&s.Rules[i], p.Child("rules").Index(i))...)
	}
	errs = append(errs, labelSelector(s.NamespaceSelector, p.Child("namespaceSelector"))...)
	errs = append(errs, labelSelector(s.ObjectSelector, p.Child("objectSelector"))...)
	errs = append(errs, oneOf(s.Mode, p.Child("mode"), pluginsv1alpha1.ModeEnforce, pluginsv1alpha1.ModeAudit)...)
	errs = append(errs, validateFailurePolicy(s.FailurePolicy, p.Child("failurePolicy"))...)
	errs = append(errs, validateTimeout(s.TimeoutMilliseconds, p.Child("timeoutMilliseconds"))...)
	errs = append(errs, validateSettings(s.Settings, p.Child("settings"))...)
	return errs
}

func validateFailurePolicy(fp *admissionregistrationv1.FailurePolicyType, p *field.Path) field.ErrorList {
	if fp == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	return oneOf(*fp, p, admissionregistrationv1.Fail, admissionregistrationv1.Ignore)
}

func validateTimeout(t *int32, p *field.Path) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	if *t < 1 || *t > maxPluginTimeoutMillis {
		return field.ErrorList{field.Invalid(p, *t, fmt.Sprintf("must be between 1 and %d milliseconds, inclusive", maxPluginTimeoutMillis))}
	}
	return nil
}

func validateSettings(s *runtime.RawExtension, p *field.Path) field.ErrorList {
	if s == nil || s.Raw == nil {
		return nil
	}
	if !json.Valid(s.Raw) {
		return field.ErrorList{field.Invalid(p, string(s.Raw), "must be valid JSON")}
	}
	return nil
}

// validateStarList checks a list that must be non-empty and, if it holds
// "*", hold nothing else.
func validateStarList(vs []string, what string, p *field.Path) field.ErrorList {
	if len(vs) == 0 {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if len(vs) > 1 {
		for _, v := range vs {
			if v == "*" {
				errs = append(errs, field.Invalid(p, vs, "if '*' is present, must not specify other "+what))
				break
			}
		}
	}
	return errs
}

func validateRuleWithOperations(r *admissionregistrationv1.RuleWithOperations, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ops := make([]string, len(r.Operations))
	for i, op := range r.Operations {
		ops[i] = string(op)
		errs = append(errs, oneOf(op, p.Child("operations").Index(i), admissionregistrationv1.Create, admissionregistrationv1.Update,
			admissionregistrationv1.Delete, admissionregistrationv1.Connect, admissionregistrationv1.OperationAll)...)
	}
	errs = append(errs, validateStarList(ops, "operations", p.Child("operations"))...)
	errs = append(errs, validateStarList(r.APIGroups, "API groups", p.Child("apiGroups"))...)
	errs = append(errs, validateStarList(r.APIVersions, "API versions", p.Child("apiVersions"))...)
	for i, v := range r.APIVersions {
		if v == "" {
			errs = append(errs, field.Required(p.Child("apiVersions").Index(i), ""))
		}
	}
	errs = append(errs, validateRuleResources(r.Resources, p.Child("resources"))...)
	if r.Scope != nil {
		errs = append(errs, oneOf(*r.Scope, p.Child("scope"), admissionregistrationv1.ClusterScope, admissionregistrationv1.NamespacedScope, admissionregistrationv1.AllScopes)...)
	}
	return errs
}

// validateRuleResources checks "resource", "resource/subresource", "*",
// "*/sub" and "resource/*" entries as webhook rules allow them.
func validateRuleResources(rs []string, p *field.Path) field.ErrorList {
	if len(rs) == 0 {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	subOf := map[string]sets.Set[string]{}
	for i, r := range rs {
		rp := p.Index(i)
		if r == "" {
			errs = append(errs, field.Required(rp, ""))
			continue
		}
		if r == "*/*" && len(rs) > 1 {
			errs = append(errs, field.Invalid(p, rs, "if '*/*' is present, must not specify other resources"))
		}
		if seen.Has(r) {
			errs = append(errs, field.Duplicate(rp, r))
		}
		seen.Insert(r)
		res, sub, _ := strings.Cut(r, "/")
		if strings.Contains(sub, "/") {
			errs = append(errs, field.Invalid(rp, r, "must be a resource or resource/subresource"))
			continue
		}
		if res == "" {
			errs = append(errs, field.Invalid(rp, r, "must specify a resource"))
		}
		if subOf[sub] == nil {
			subOf[sub] = sets.New[string]()
		}
		subOf[sub].Insert(res)
	}
	for sub, res := range subOf {
		if res.Has("*") && res.Len() > 1 {
			if sub == "" {
				errs = append(errs, field.Invalid(p, rs, "if '*' is present, must not specify other resources without subresources"))
			} else {
				errs = append(errs, field.Invalid(p, rs, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, "other resources with the same subresource")))
			}
		}
	}
	return errs
}

// ---- SchedulerPlugin ----

func validateSchedulerPlugin(sp *pluginsv1alpha1.SchedulerPlugin) field.ErrorList {
	errs := metaCreate(&sp.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateSchedulerPluginSpec(&sp.Spec, specPath)...)
}

func validateSchedulerPluginSpec(s *pluginsv1alpha1.SchedulerPluginSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateModuleRef(s.Module, p.Child("module"))...)
	if !s.Filter && !s.Score {
		errs = append(errs, field.Required(p, "at least one of `filter` or `score` must be true"))
	}
	errs = append(errs, nonNegative(int64(s.Weight), p.Child("weight"))...)
	seen := sets.New[string]()
	for i, prof := range s.Profiles {
		pp := p.Child("profiles").Index(i)
		if prof == "" {
			errs = append(errs, field.Required(pp, ""))
			continue
		}
		errs = append(errs, dnsSubdomain(prof, pp)...)
		if seen.Has(prof) {
			errs = append(errs, field.Duplicate(pp, prof))
		}
		seen.Insert(prof)
	}
	errs = append(errs, validateFailurePolicy(s.FailurePolicy, p.Child("failurePolicy"))...)
	errs = append(errs, validateTimeout(s.TimeoutMilliseconds, p.Child("timeoutMilliseconds"))...)
	errs = append(errs, validateSettings(s.Settings, p.Child("settings"))...)
	return errs
}

func validatePluginConditions(observedGeneration int64, conds []metav1.Condition) field.ErrorList {
	errs := nonNegative(observedGeneration, statusPath.Child("observedGeneration"))
	return append(errs, metav1validation.ValidateConditions(conds, statusPath.Child("conditions"))...)
}
