package validation

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxDataSize is the limit on the total size of a ConfigMap's or Secret's data.
const maxDataSize = 1 << 20

// ---- Namespace ----

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := metaCreate(&ns.ObjectMeta, false, apivalidation.ValidateNamespaceName)
	return append(errs, validateNamespaceFinalizers(ns.Spec.Finalizers, specPath.Child("finalizers"))...)
}

func validateNamespaceFinalizers(fs []corev1.FinalizerName, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range fs {
		fp := p.Index(i)
		errs = append(errs, qualifiedName(string(f), fp)...)
		if len(errs) == 0 && !strings.Contains(string(f), "/") && f != corev1.FinalizerKubernetes {
			errs = append(errs, field.Invalid(fp, f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := metaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateNamespaceFinalizers(ns.Spec.Finalizers, specPath.Child("finalizers"))...)
}

func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := metaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	pp := statusPath.Child("phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(pp, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(pp, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

// ---- Node ----

func validateNode(n *corev1.Node) field.ErrorList {
	errs := metaCreate(&n.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validateNodeSpec(&n.Spec, specPath)...)
	return append(errs, validateNodeStatus(&n.Status, statusPath)...)
}

func validateNodeSpec(s *corev1.NodeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.PodCIDR != "" {
		errs = append(errs, utilvalidation.IsValidCIDR(p.Child("podCIDR"), s.PodCIDR)...)
	}
	if len(s.PodCIDRs) > 0 {
		if s.PodCIDRs[0] != s.PodCIDR {
			errs = append(errs, field.Invalid(p.Child("podCIDRs"), s.PodCIDRs, "must be equal to spec.podCIDR in the first element"))
		}
		if len(s.PodCIDRs) > 2 {
			errs = append(errs, field.TooMany(p.Child("podCIDRs"), len(s.PodCIDRs), 2))
		}
		for i, c := range s.PodCIDRs {
			errs = append(errs, utilvalidation.IsValidCIDR(p.Child("podCIDRs").Index(i), c)...)
		}
	}
	errs = append(errs, validateTaints(s.Taints, p.Child("taints"))...)
	return errs
}

func validateTaints(taints []corev1.Taint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, t := range taints {
		tp := p.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, tp.Child("key"))...)
		if t.Value != "" {
			errs = append(errs, labelValue(t.Value, tp.Child("value"))...)
		}
		errs = append(errs, oneOf(t.Effect, tp.Child("effect"), corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
		k := t.Key + "/" + string(t.Effect)
		if seen.Has(k) {
			errs = append(errs, field.Duplicate(tp, "taints must be unique by key and effect pair"))
		}
		seen.Insert(k)
	}
	return errs
}

func validateNodeStatus(s *corev1.NodeStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateResourceQuantities(s.Capacity, p.Child("capacity"))...)
	errs = append(errs, validateResourceQuantities(s.Allocatable, p.Child("allocatable"))...)
	for i, a := range s.Addresses {
		ap := p.Child("addresses").Index(i)
		errs = append(errs, oneOf(a.Type, ap.Child("type"), corev1.NodeHostName, corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeInternalDNS, corev1.NodeExternalDNS)...)
		if a.Address == "" {
			errs = append(errs, field.Required(ap.Child("address"), ""))
		} else if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			errs = append(errs, validIP(a.Address, ap.Child("address"))...)
		}
	}
	for i, c := range s.Conditions {
		cp := p.Child("conditions").Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(cp.Child("type"), ""))
		}
		errs = append(errs, optionalOneOf(c.Status, cp.Child("status"), corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown)...)
	}
	if port := s.DaemonEndpoints.KubeletEndpoint.Port; port != 0 {
		errs = append(errs, portNum(port, p.Child("daemonEndpoints", "kubeletEndpoint", "Port"))...)
	}
	return errs
}

// validateResourceQuantities checks node capacity-style lists: any
// qualified name, non-negative quantities.
func validateResourceQuantities(rl corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range rl {
		kp := p.Key(string(name))
		errs = append(errs, qualifiedName(string(name), kp)...)
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(kp, q.String(), "must be greater than or equal to 0"))
		}
	}
	return errs
}

func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := metaUpdate(&n.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateNodeSpec(&n.Spec, specPath)...)
	errs = append(errs, validateNodeStatus(&n.Status, statusPath)...)
	if old.Spec.PodCIDR != "" && n.Spec.PodCIDR != old.Spec.PodCIDR {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDR"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if len(old.Spec.PodCIDRs) > 0 && !equalStrings(n.Spec.PodCIDRs, old.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func validateNodeStatusUpdate(n, old *corev1.Node) field.ErrorList {
	errs := metaUpdate(&n.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateNodeStatus(&n.Status, statusPath)...)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---- Service ----

func isHeadless(s *corev1.Service) bool {
	return s.Spec.ClusterIP == corev1.ClusterIPNone
}

func validateService(s *corev1.Service) field.ErrorList {
	errs := metaCreate(&s.ObjectMeta, true, apivalidation.NameIsDNS1035Label)
	return append(errs, validateServiceSpec(s)...)
}

func validateServiceSpec(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &s.Spec
	p := specPath
	errs = append(errs, oneOf(spec.Type, p.Child("type"), corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)...)

	if spec.Type == corev1.ServiceTypeExternalName {
		if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(p.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(p.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(p.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		cname := strings.TrimSuffix(spec.ExternalName, ".")
		if cname == "" {
			errs = append(errs, field.Required(p.Child("externalName"), ""))
		} else {
			for _, msg := range utilvalidation.IsDNS1123Subdomain(cname) {
				errs = append(errs, field.Invalid(p.Child("externalName"), spec.ExternalName, msg))
			}
		}
	} else if len(spec.Ports) == 0 && !isHeadless(s) {
		errs = append(errs, field.Required(p.Child("ports"), ""))
	}

	if spec.ClusterIP != "" && spec.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, validIP(spec.ClusterIP, p.Child("clusterIP"))...)
	}
	if len(spec.ClusterIPs) > 0 {
		if spec.ClusterIPs[0] != spec.ClusterIP {
			errs = append(errs, field.Invalid(p.Child("clusterIPs").Index(0), spec.ClusterIPs[0], "must be same as `clusterIP`"))
		}
		if len(spec.ClusterIPs) > 2 {
			errs = append(errs, field.Invalid(p.Child("clusterIPs"), spec.ClusterIPs, "may only hold up to 2 values"))
		}
		for i, ip := range spec.ClusterIPs {
			if i == 0 && ip == corev1.ClusterIPNone {
				continue
			}
			if ip == corev1.ClusterIPNone {
				errs = append(errs, field.Invalid(p.Child("clusterIPs").Index(i), ip, "'None' must be the first and only value"))
				continue
			}
			errs = append(errs, validIP(ip, p.Child("clusterIPs").Index(i))...)
		}
	}
	fams := sets.New[corev1.IPFamily]()
	for i, f := range spec.IPFamilies {
		fp := p.Child("ipFamilies").Index(i)
		errs = append(errs, oneOf(f, fp, corev1.IPv4Protocol, corev1.IPv6Protocol)...)
		if fams.Has(f) {
			errs = append(errs, field.Duplicate(fp, f))
		}
		fams.Insert(f)
	}
	if len(spec.IPFamilies) > 2 {
		errs = append(errs, field.Invalid(p.Child("ipFamilies"), spec.IPFamilies, "may only hold up to 2 values"))
	}
	if spec.IPFamilyPolicy != nil {
		errs = append(errs, oneOf(*spec.IPFamilyPolicy, p.Child("ipFamilyPolicy"), corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)...)
	}

	if isHeadless(s) && (spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer) {
		errs = append(errs, field.Invalid(p.Child("clusterIP"), spec.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
	}
	portNames := sets.New[string]()
	nodePorts := sets.New[string]()
	portKeys := sets.New[string]()
	for i := range spec.Ports {
		port := &spec.Ports[i]
		pp := p.Child("ports").Index(i)
		if len(spec.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else if port.Name != "" {
			errs = append(errs, dnsLabel(port.Name, pp.Child("name"))...)
			if portNames.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			portNames.Insert(port.Name)
		}
		errs = append(errs, portNum(port.Port, pp.Child("port"))...)
		errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
		errs = append(errs, validatePortNumOrName(port.TargetPort, pp.Child("targetPort"))...)
		if key := fmt.Sprintf("%d/%s", port.Port, port.Protocol); portKeys.Has(key) {
			errs = append(errs, field.Duplicate(pp, key))
		} else {
			portKeys.Insert(key)
		}
		if port.AppProtocol != nil {
			errs = append(errs, qualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
		}
		if port.NodePort != 0 {
			if spec.Type != corev1.ServiceTypeNodePort && spec.Type != corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", spec.Type)))
			}
			errs = append(errs, portNum(port.NodePort, pp.Child("nodePort"))...)
			key := fmt.Sprintf("%d/%s", port.NodePort, port.Protocol)
			if nodePorts.Has(key) {
				errs = append(errs, field.Duplicate(pp.Child("nodePort"), port.NodePort))
			}
			nodePorts.Insert(key)
		}
	}

	if spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, metav1validation.ValidateLabels(spec.Selector, p.Child("selector"))...)
	}
	errs = append(errs, oneOf(spec.SessionAffinity, p.Child("sessionAffinity"), corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP)...)
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		cfg := spec.SessionAffinityConfig
		if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
			errs = append(errs, field.Required(p.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), ""))
		} else if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
			errs = append(errs, field.Invalid(p.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, "must be greater than 0 and less than 86400"))
		}
	} else if spec.SessionAffinityConfig != nil {
		errs = append(errs, field.Invalid(p.Child("sessionAffinityConfig"), spec.SessionAffinityConfig, fmt.Sprintf("must not be set when session affinity is %s", spec.SessionAffinity)))
	}
	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validIP(ip, p.Child("externalIPs").Index(i))...)
	}
	external := spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer
	if spec.ExternalTrafficPolicy != "" {
		if !external && len(spec.ExternalIPs) == 0 {
			errs = append(errs, field.Invalid(p.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		} else {
			errs = append(errs, oneOf(spec.ExternalTrafficPolicy, p.Child("externalTrafficPolicy"), corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
		}
	} else if external {
		errs = append(errs, field.Required(p.Child("externalTrafficPolicy"), ""))
	}
	if spec.HealthCheckNodePort != 0 {
		if spec.Type != corev1.ServiceTypeLoadBalancer || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			errs = append(errs, field.Invalid(p.Child("healthCheckNodePort"), spec.HealthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else {
			errs = append(errs, portNum(spec.HealthCheckNodePort, p.Child("healthCheckNodePort"))...)
		}
	}
	if spec.InternalTrafficPolicy != nil {
		errs = append(errs, oneOf(*spec.InternalTrafficPolicy, p.Child("internalTrafficPolicy"), corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	}
	if spec.Type != corev1.ServiceTypeLoadBalancer {
		if len(spec.LoadBalancerSourceRanges) > 0 {
			errs = append(errs, field.Forbidden(p.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
		}
		if spec.AllocateLoadBalancerNodePorts != nil {
			errs = append(errs, field.Forbidden(p.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
		}
		if spec.LoadBalancerClass != nil {
			errs = append(errs, field.Forbidden(p.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		}
	}
	for i, r := range spec.LoadBalancerSourceRanges {
		errs = append(errs, utilvalidation.IsValidCIDR(p.Child("loadBalancerSourceRanges").Index(i), strings.TrimSpace(r))...)
	}
	if spec.LoadBalancerClass != nil {
		errs = append(errs, qualifiedName(*spec.LoadBalancerClass, p.Child("loadBalancerClass"))...)
	}
	if spec.TrafficDistribution != nil && *spec.TrafficDistribution == "" {
		errs = append(errs, field.Invalid(p.Child("trafficDistribution"), "", "must not be empty"))
	}
	return errs
}

func validateServiceUpdate(s, old *corev1.Service) field.ErrorList {
	errs := metaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	if old.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.Type != corev1.ServiceTypeExternalName {
		if len(old.Spec.ClusterIPs) > 0 || old.Spec.ClusterIP != "" {
			oldIP := old.Spec.ClusterIP
			if len(old.Spec.ClusterIPs) > 0 {
				oldIP = old.Spec.ClusterIPs[0]
			}
			newIP := s.Spec.ClusterIP
			if len(s.Spec.ClusterIPs) > 0 {
				newIP = s.Spec.ClusterIPs[0]
			}
			if newIP != oldIP {
				errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), newIP, "may not change once set"))
			}
		}
		if len(old.Spec.IPFamilies) > 0 && len(s.Spec.IPFamilies) > 0 && old.Spec.IPFamilies[0] != s.Spec.IPFamilies[0] {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(0), s.Spec.IPFamilies[0], "may not change once set"))
		}
	}
	return append(errs, validateServiceSpec(s)...)
}

func validateServiceStatusUpdate(s, old *corev1.Service) field.ErrorList {
	errs := metaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	for i, ing := range s.Status.LoadBalancer.Ingress {
		ip := statusPath.Child("loadBalancer", "ingress").Index(i)
		if ing.IP != "" {
			errs = append(errs, validIP(ing.IP, ip.Child("ip"))...)
		}
		if ing.Hostname != "" {
			errs = append(errs, dnsSubdomain(ing.Hostname, ip.Child("hostname"))...)
		}
		if ing.IPMode != nil {
			if ing.IP == "" {
				errs = append(errs, field.Forbidden(ip.Child("ipMode"), "may not be specified when `ip` is not set"))
			}
			errs = append(errs, oneOf(*ing.IPMode, ip.Child("ipMode"), corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy)...)
		}
	}
	return errs
}

// ---- Endpoints ----

func validateEndpoints(e *corev1.Endpoints) field.ErrorList {
	errs := metaCreate(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateEndpointsBody(e)...)
}

func validateEndpointsBody(e *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range e.Subsets {
		sp := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(&a, sp.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(&a, sp.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, dnsLabel(port.Name, pp.Child("name"))...)
			}
			errs = append(errs, portNum(port.Port, pp.Child("port"))...)
			errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
			if port.AppProtocol != nil {
				errs = append(errs, qualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := validIP(a.IP, p.Child("ip"))
	if a.Hostname != "" {
		errs = append(errs, dnsLabel(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil && *a.NodeName != "" {
		errs = append(errs, dnsSubdomain(*a.NodeName, p.Child("nodeName"))...)
	}
	return errs
}

// ---- ConfigMap and Secret ----

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := metaCreate(&cm.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateConfigMapData(cm)...)
}

func validateConfigMapData(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	dataPath, binaryPath := field.NewPath("data"), field.NewPath("binaryData")
	for k, v := range cm.Data {
		errs = append(errs, configMapKeyInvalid(k, dataPath)...)
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, "duplicate of key present in binaryData"))
		}
		size += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		errs = append(errs, configMapKeyInvalid(k, binaryPath)...)
		size += len(k) + len(v)
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", maxDataSize))
	}
	return errs
}

// configMapKeyInvalid validates key k of the map at parent (the path to
// the key is built only for an error).
func configMapKeyInvalid(k string, parent *field.Path) field.ErrorList {
	msgs := utilvalidation.IsConfigMapKey(k)
	if len(msgs) == 0 {
		return nil
	}
	p := parent.Key(k)
	errs := make(field.ErrorList, 0, len(msgs))
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, k, msg))
	}
	return errs
}

func validateImmutableData(immutable, oldImmutable *bool, data, oldData any, dataField string, binary, oldBinary any, binaryField string) field.ErrorList {
	if oldImmutable == nil || !*oldImmutable {
		return nil
	}
	const msg = "field is immutable when `immutable` is set"
	var errs field.ErrorList
	if immutable == nil || !*immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), msg))
	}
	if !apiequality.Semantic.DeepEqual(data, oldData) {
		errs = append(errs, field.Forbidden(field.NewPath(dataField), msg))
	}
	if binaryField != "" && !apiequality.Semantic.DeepEqual(binary, oldBinary) {
		errs = append(errs, field.Forbidden(field.NewPath(binaryField), msg))
	}
	return errs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	errs := metaUpdate(&cm.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateImmutableData(cm.Immutable, old.Immutable, cm.Data, old.Data, "data", cm.BinaryData, old.BinaryData, "binaryData")...)
	return append(errs, validateConfigMapData(cm)...)
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := metaCreate(&s.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateSecretData(s)...)
}

func validateSecretData(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	dp := field.NewPath("data")
	size := 0
	for k, v := range s.Data {
		errs = append(errs, configMapKeyInvalid(k, dp)...)
		size += len(v)
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dp, "", maxDataSize))
	}
	requireKey := func(k string) {
		if _, ok := s.Data[k]; !ok {
			errs = append(errs, field.Required(dp.Key(k), ""))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireKey(corev1.DockerConfigKey)
		if b, ok := s.Data[corev1.DockerConfigKey]; ok && !json.Valid(b) {
			errs = append(errs, field.Invalid(dp.Key(corev1.DockerConfigKey), "<secret contents redacted>", "invalid JSON"))
		}
	case corev1.SecretTypeDockerConfigJson:
		requireKey(corev1.DockerConfigJsonKey)
		if b, ok := s.Data[corev1.DockerConfigJsonKey]; ok && !json.Valid(b) {
			errs = append(errs, field.Invalid(dp.Key(corev1.DockerConfigJsonKey), "<secret contents redacted>", "invalid JSON"))
		}
	case corev1.SecretTypeBasicAuth:
		_, u := s.Data[corev1.BasicAuthUsernameKey]
		_, pw := s.Data[corev1.BasicAuthPasswordKey]
		if !u && !pw {
			errs = append(errs, field.Required(dp.Key(corev1.BasicAuthUsernameKey), ""))
			errs = append(errs, field.Required(dp.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dp.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		requireKey(corev1.TLSCertKey)
		requireKey(corev1.TLSPrivateKeyKey)
	case "":
		errs = append(errs, field.Required(field.NewPath("type"), ""))
	default:
		// Any other type is user-defined and unchecked.
	}
	return errs
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := metaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, immutable(s.Type, old.Type, field.NewPath("type"))...)
	errs = append(errs, validateImmutableData(s.Immutable, old.Immutable, s.Data, old.Data, "data", nil, nil, "")...)
	return append(errs, validateSecretData(s)...)
}

// ---- ServiceAccount ----

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	errs := metaCreate(&sa.ObjectMeta, true, apivalidation.ValidateServiceAccountName)
	return append(errs, validateServiceAccountBody(sa)...)
}

func validateServiceAccountBody(sa *corev1.ServiceAccount) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sa.Secrets {
		if s.Name == "" {
			errs = append(errs, field.Required(field.NewPath("secrets").Index(i).Child("name"), ""))
		}
	}
	for i, s := range sa.ImagePullSecrets {
		if s.Name == "" {
			errs = append(errs, field.Required(field.NewPath("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	return errs
}

// ---- Binding ----

func validateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	if b.Name == "" {
		errs = append(errs, field.Required(metaPath.Child("name"), ""))
	}
	tp := field.NewPath("target")
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(tp.Child("kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	errs = append(errs, validateObjectReferenceName(b.Target.Name, tp.Child("name"))...)
	return errs
}

// ---- Event (core/v1) ----

const (
	maxEventNoteLength     = 1024
	maxEventReportingField = 128
)

func validateCoreEvent(e *corev1.Event) field.ErrorList {
	errs := metaCreate(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateCoreEventBody(e)...)
}

// validateCoreEventBody applies the rules core/v1 Events get upstream: old
// style events (no eventTime) only need their namespace to agree with the
// involved object; new style events also need the reporting fields.
func validateCoreEventBody(e *corev1.Event) field.ErrorList {
	return validateEventCommon(e.Namespace, e.InvolvedObject.Namespace, field.NewPath("involvedObject", "namespace"),
		!e.EventTime.IsZero(), e.ReportingController, field.NewPath("reportingComponent"),
		e.ReportingInstance, e.Action, e.Reason, e.Message, field.NewPath("message"))
}

func validateEventCommon(ns, objNS string, objNSPath *field.Path, newStyle bool, controller string, controllerPath *field.Path,
	instance, action, reason, note string, notePath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !newStyle {
		// An event about a cluster-scoped object lives in "default" (or nowhere).
		if objNS == "" {
			if ns != "" && ns != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(objNSPath, objNS, "does not match event.namespace"))
			}
		} else if ns != objNS {
			errs = append(errs, field.Invalid(objNSPath, objNS, "does not match event.namespace"))
		}
		return errs
	}
	if objNS == "" {
		if ns != metav1.NamespaceDefault && ns != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(objNSPath, objNS, "does not match event.namespace"))
		}
	} else if ns != objNS {
		errs = append(errs, field.Invalid(objNSPath, objNS, "does not match event.namespace"))
	}
	if controller == "" {
		errs = append(errs, field.Required(controllerPath, ""))
	} else {
		errs = append(errs, qualifiedName(controller, controllerPath)...)
	}
	if instance == "" {
		errs = append(errs, field.Required(field.NewPath("reportingInstance"), ""))
	} else if len(instance) > maxEventReportingField {
		errs = append(errs, field.Invalid(field.NewPath("reportingInstance"), "", fmt.Sprintf("can have at most %d characters", maxEventReportingField)))
	}
	if action == "" {
		errs = append(errs, field.Required(field.NewPath("action"), ""))
	} else if len(action) > maxEventReportingField {
		errs = append(errs, field.Invalid(field.NewPath("action"), "", fmt.Sprintf("can have at most %d characters", maxEventReportingField)))
	}
	if len(reason) > maxEventReportingField {
		errs = append(errs, field.Invalid(field.NewPath("reason"), "", fmt.Sprintf("can have at most %d characters", maxEventReportingField)))
	}
	if len(note) > maxEventNoteLength {
		errs = append(errs, field.Invalid(notePath, "", fmt.Sprintf("can have at most %d characters", maxEventNoteLength)))
	}
	return errs
}

// validateCoreEventUpdate: core/v1 Events are mutable (the legacy recorder
// aggregates by rewriting count, message and timestamps).
func validateCoreEventUpdate(e, old *corev1.Event) field.ErrorList {
	errs := metaUpdate(&e.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateCoreEventBody(e)...)
}
