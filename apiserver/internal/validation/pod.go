package validation

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podSpecOpts tune PodSpec validation for where the spec lives.
type podSpecOpts struct {
	// allowedRestartPolicies, if non-empty, restricts spec.restartPolicy.
	allowedRestartPolicies []corev1.RestartPolicy
	// extraVolumes are volume names provided from outside the pod spec
	// (a StatefulSet's volumeClaimTemplates) that containers may mount.
	extraVolumes []string
}

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := metaCreate(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath, podSpecOpts{})...)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// validatePodTemplateSpec validates the template of a workload controller.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, p *field.Path, opts podSpecOpts) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, metav1validation.ValidateLabels(t.Labels, p.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, p.Child("metadata", "annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, p.Child("spec"), opts)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(p.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

func validatePodSpec(spec *corev1.PodSpec, p *field.Path, opts podSpecOpts) field.ErrorList {
	var errs field.ErrorList
	volumes, verrs := validateVolumes(spec.Volumes, p.Child("volumes"))
	errs = append(errs, verrs...)
	volumes.Insert(opts.extraVolumes...)

	names := sets.New[string]()
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	errs = append(errs, validateContainers(spec.InitContainers, true, volumes, names, p.Child("initContainers"))...)
	errs = append(errs, validateContainers(spec.Containers, false, volumes, names, p.Child("containers"))...)
	errs = append(errs, validateHostPorts(spec, p)...)

	allowedRestart := opts.allowedRestartPolicies
	if len(allowedRestart) == 0 {
		allowedRestart = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	}
	if spec.RestartPolicy == "" {
		errs = append(errs, field.Required(p.Child("restartPolicy"), ""))
	} else if !contains(allowedRestart, spec.RestartPolicy) {
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), spec.RestartPolicy, allowedRestart))
	}
	errs = append(errs, validateDNSPolicy(spec, p)...)
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, p.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		for _, msg := range apivalidation.ValidateServiceAccountName(spec.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(p.Child("serviceAccountName"), spec.ServiceAccountName, msg))
		}
	}
	if spec.NodeName != "" {
		errs = append(errs, dnsSubdomain(spec.NodeName, p.Child("nodeName"))...)
	}
	if spec.Hostname != "" {
		errs = append(errs, dnsLabel(spec.Hostname, p.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, dnsLabel(spec.Subdomain, p.Child("subdomain"))...)
	}
	if spec.SchedulerName != "" {
		errs = append(errs, dnsSubdomain(spec.SchedulerName, p.Child("schedulerName"))...)
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, dnsSubdomain(spec.PriorityClassName, p.Child("priorityClassName"))...)
	}
	if spec.RuntimeClassName != nil {
		errs = append(errs, dnsSubdomain(*spec.RuntimeClassName, p.Child("runtimeClassName"))...)
	}
	if v := spec.ActiveDeadlineSeconds; v != nil && (*v < 1 || *v > math.MaxInt32) {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *v, utilvalidation.InclusiveRangeError(1, math.MaxInt32)))
	}
	if v := spec.TerminationGracePeriodSeconds; v != nil {
		errs = append(errs, nonNegative(*v, p.Child("terminationGracePeriodSeconds"))...)
	}
	errs = append(errs, validatePodSecurityContext(spec.SecurityContext, spec, p.Child("securityContext"))...)
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	errs = append(errs, validateAffinity(spec.Affinity, p.Child("affinity"))...)
	errs = append(errs, validateTolerations(spec.Tolerations, p.Child("tolerations"))...)
	for i, ha := range spec.HostAliases {
		hp := p.Child("hostAliases").Index(i)
		errs = append(errs, validIP(ha.IP, hp.Child("ip"))...)
		for j, h := range ha.Hostnames {
			errs = append(errs, dnsSubdomain(h, hp.Child("hostnames").Index(j))...)
		}
	}
	for i, g := range spec.ReadinessGates {
		errs = append(errs, qualifiedName(string(g.ConditionType), p.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, p.Child("topologySpreadConstraints"))...)
	if spec.PreemptionPolicy != nil {
		errs = append(errs, oneOf(*spec.PreemptionPolicy, p.Child("preemptionPolicy"), corev1.PreemptLowerPriority, corev1.PreemptNever)...)
	}
	errs = append(errs, validateResourceList(spec.Overhead, p.Child("overhead"))...)
	if spec.Resources != nil {
		errs = append(errs, validatePodResources(spec.Resources, p.Child("resources"))...)
	}
	if spec.OS != nil {
		errs = append(errs, oneOf(spec.OS.Name, p.Child("os", "name"), corev1.Linux, corev1.Windows)...)
	}
	gates := sets.New[string]()
	for i, g := range spec.SchedulingGates {
		gp := p.Child("schedulingGates").Index(i).Child("name")
		errs = append(errs, qualifiedName(g.Name, gp)...)
		if gates.Has(g.Name) {
			errs = append(errs, field.Duplicate(gp, g.Name))
		}
		gates.Insert(g.Name)
	}
	return errs
}

func contains[T comparable](xs []T, v T) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

func validateDNSPolicy(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, oneOf(spec.DNSPolicy, p.Child("dnsPolicy"),
		corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone)...)
	cfg := spec.DNSConfig
	if spec.DNSPolicy == corev1.DNSNone {
		if cfg == nil {
			return append(errs, field.Required(p.Child("dnsConfig"), fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone)))
		}
		if len(cfg.Nameservers) == 0 {
			errs = append(errs, field.Required(p.Child("dnsConfig", "nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when `dnsPolicy` is %s", corev1.DNSNone)))
		}
	}
	if cfg == nil {
		return errs
	}
	cp := p.Child("dnsConfig")
	if len(cfg.Nameservers) > 3 {
		errs = append(errs, field.Invalid(cp.Child("nameservers"), cfg.Nameservers, "must not have more than 3 nameservers"))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, validIP(ns, cp.Child("nameservers").Index(i))...)
	}
	if len(cfg.Searches) > 32 {
		errs = append(errs, field.Invalid(cp.Child("searches"), cfg.Searches, "must not have more than 32 search paths"))
	}
	for i, s := range cfg.Searches {
		if s == "." {
			continue
		}
		errs = append(errs, dnsSubdomain(strings.TrimSuffix(s, "."), cp.Child("searches").Index(i))...)
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(cp.Child("options").Index(i), "Option.Name must not be empty"))
		}
	}
	return errs
}

func validateIDs(v *int64, p *field.Path, check func(int64) []string) field.ErrorList {
	if v == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range check(*v) {
		errs = append(errs, field.Invalid(p, *v, msg))
	}
	return errs
}

func validateSeccomp(s *corev1.SeccompProfile, p *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	errs := oneOf(s.Type, p.Child("type"), corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined)
	if s.Type == corev1.SeccompProfileTypeLocalhost && (s.LocalhostProfile == nil || *s.LocalhostProfile == "") {
		errs = append(errs, field.Required(p.Child("localhostProfile"), "must be set when seccomp type is Localhost"))
	}
	if s.Type != corev1.SeccompProfileTypeLocalhost && s.LocalhostProfile != nil {
		errs = append(errs, field.Invalid(p.Child("localhostProfile"), *s.LocalhostProfile, "can only be set when seccomp type is Localhost"))
	}
	return errs
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, validateIDs(sc.RunAsUser, p.Child("runAsUser"), utilvalidation.IsValidUserID)...)
	errs = append(errs, validateIDs(sc.RunAsGroup, p.Child("runAsGroup"), utilvalidation.IsValidGroupID)...)
	errs = append(errs, validateIDs(sc.FSGroup, p.Child("fsGroup"), utilvalidation.IsValidGroupID)...)
	for i := range sc.SupplementalGroups {
		errs = append(errs, validateIDs(&sc.SupplementalGroups[i], p.Child("supplementalGroups").Index(i), utilvalidation.IsValidGroupID)...)
	}
	if sc.FSGroupChangePolicy != nil {
		errs = append(errs, oneOf(*sc.FSGroupChangePolicy, p.Child("fsGroupChangePolicy"), corev1.FSGroupChangeOnRootMismatch, corev1.FSGroupChangeAlways)...)
	}
	if sc.SupplementalGroupsPolicy != nil {
		errs = append(errs, oneOf(*sc.SupplementalGroupsPolicy, p.Child("supplementalGroupsPolicy"), corev1.SupplementalGroupsPolicyMerge, corev1.SupplementalGroupsPolicyStrict)...)
	}
	errs = append(errs, validateSeccomp(sc.SeccompProfile, p.Child("seccompProfile"))...)
	names := sets.New[string]()
	for i, s := range sc.Sysctls {
		sp := p.Child("sysctls").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
			continue
		}
		if !isSysctlName(s.Name) {
			errs = append(errs, field.Invalid(sp.Child("name"), s.Name, "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"))
		}
		if names.Has(s.Name) {
			errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
		}
		names.Insert(s.Name)
		if spec.HostNetwork && strings.HasPrefix(s.Name, "net.") {
			errs = append(errs, field.Invalid(sp.Child("name"), s.Name, "may not be specified when 'hostNetwork' is true"))
		}
	}
	return errs
}

func isSysctlName(name string) bool {
	return len(name) <= 253 && sysctlNameRE.MatchString(name)
}

// sysctlNameRE matches sysctl names with "." or "/" separators, as upstream.
var sysctlNameRE = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

func validateSecurityContext(sc *corev1.SecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, validateIDs(sc.RunAsUser, p.Child("runAsUser"), utilvalidation.IsValidUserID)...)
	errs = append(errs, validateIDs(sc.RunAsGroup, p.Child("runAsGroup"), utilvalidation.IsValidGroupID)...)
	errs = append(errs, validateSeccomp(sc.SeccompProfile, p.Child("seccompProfile"))...)
	if sc.ProcMount != nil {
		errs = append(errs, oneOf(*sc.ProcMount, p.Child("procMount"), corev1.DefaultProcMount, corev1.UnmaskedProcMount)...)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(p, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil && contains(sc.Capabilities.Add, corev1.Capability("CAP_SYS_ADMIN")) {
			errs = append(errs, field.Invalid(p, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
		}
	}
	return errs
}

// validatePodResources checks pod-level requests and limits, which may only
// name cpu, memory and hugepages.
func validatePodResources(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	errs := validateResourceRequirements(r, p)
	for _, rl := range []struct {
		name string
		list corev1.ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for name := range rl.list {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && !strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
				errs = append(errs, field.NotSupported(p.Child(rl.name).Key(string(name)), name, []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}))
			}
		}
	}
	if len(r.Claims) > 0 {
		errs = append(errs, field.Forbidden(p.Child("claims"), "claims may not be set for Resources at pod-level"))
	}
	return errs
}
