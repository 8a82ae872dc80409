package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const podUpdateForbiddenMsg = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := metaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath, podSpecOpts{})...)

	if old.Spec.ActiveDeadlineSeconds != nil {
		ap := specPath.Child("activeDeadlineSeconds")
		switch {
		case pod.Spec.ActiveDeadlineSeconds == nil:
			errs = append(errs, field.Invalid(ap, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
		case *pod.Spec.ActiveDeadlineSeconds > *old.Spec.ActiveDeadlineSeconds:
			errs = append(errs, field.Invalid(ap, *pod.Spec.ActiveDeadlineSeconds, "must be less than or equal to previous value"))
		}
	}
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyRemovedGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	// Everything else in the spec is immutable: copy the mutable fields
	// from the old spec and compare.
	munged := *pod.Spec.DeepCopy()
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.Tolerations = old.Spec.Tolerations
	// terminationGracePeriodSeconds may only be fixed up from a negative
	// value (accepted by old servers) to 1.
	if g, og := pod.Spec.TerminationGracePeriodSeconds, old.Spec.TerminationGracePeriodSeconds; g != nil && og != nil && *og < 0 && *g == 1 {
		munged.TerminationGracePeriodSeconds = og
	}
	munged.SchedulingGates = old.Spec.SchedulingGates
	if len(munged.Containers) == len(old.Spec.Containers) {
		for i := range munged.Containers {
			munged.Containers[i].Image = old.Spec.Containers[i].Image
		}
	}
	if len(munged.InitContainers) == len(old.Spec.InitContainers) {
		for i := range munged.InitContainers {
			munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
		}
	}
	if !apiequality.Semantic.DeepEqual(munged, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, podUpdateForbiddenMsg+"\n"+specDiff(&munged, &old.Spec)))
	}
	return errs
}

// specDiff names the top-level spec fields that differ, for the error message.
func specDiff(a, b *corev1.PodSpec) string {
	var changed []string
	check := func(name string, x, y any) {
		if !apiequality.Semantic.DeepEqual(x, y) {
			changed = append(changed, name)
		}
	}
	check("containers", a.Containers, b.Containers)
	check("initContainers", a.InitContainers, b.InitContainers)
	check("ephemeralContainers", a.EphemeralContainers, b.EphemeralContainers)
	check("volumes", a.Volumes, b.Volumes)
	check("restartPolicy", a.RestartPolicy, b.RestartPolicy)
	check("dnsPolicy", a.DNSPolicy, b.DNSPolicy)
	check("dnsConfig", a.DNSConfig, b.DNSConfig)
	check("nodeSelector", a.NodeSelector, b.NodeSelector)
	check("nodeName", a.NodeName, b.NodeName)
	check("serviceAccountName", a.ServiceAccountName, b.ServiceAccountName)
	check("hostNetwork", a.HostNetwork, b.HostNetwork)
	check("securityContext", a.SecurityContext, b.SecurityContext)
	check("affinity", a.Affinity, b.Affinity)
	check("schedulerName", a.SchedulerName, b.SchedulerName)
	check("priority", a.Priority, b.Priority)
	check("topologySpreadConstraints", a.TopologySpreadConstraints, b.TopologySpreadConstraints)
	if len(changed) == 0 {
		return "changed: spec"
	}
	return "changed: spec." + strings.Join(changed, ", spec.")
}

func validateOnlyAddedTolerations(tols, old []corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, o := range old {
		found := false
		for _, n := range tols {
			oo, nn := o, n
			oo.TolerationSeconds, nn.TolerationSeconds = nil, nil
			if oo != nn {
				continue
			}
			if o.Effect == corev1.TaintEffectNoExecute && o.TolerationSeconds != nil {
				// tolerationSeconds of a NoExecute toleration may only shrink.
				if n.TolerationSeconds != nil && *n.TolerationSeconds <= *o.TolerationSeconds {
					found = true
					break
				}
				continue
			}
			if apiequality.Semantic.DeepEqual(o.TolerationSeconds, n.TolerationSeconds) {
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(p, "existing toleration can not be modified except its tolerationSeconds"))
			break
		}
	}
	return errs
}

func validateOnlyRemovedGates(gates, old []corev1.PodSchedulingGate, p *field.Path) field.ErrorList {
	have := sets.New[string]()
	for _, g := range old {
		have.Insert(g.Name)
	}
	for _, g := range gates {
		if !have.Has(g.Name) {
			return field.ErrorList{field.Forbidden(p, "only deletion is allowed, but found new scheduling gate '"+g.Name+"'")}
		}
	}
	return nil
}

func isTerminalPhase(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := metaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	s := &pod.Status
	errs = append(errs, optionalOneOf(s.Phase, statusPath.Child("phase"),
		corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown)...)
	if isTerminalPhase(old.Status.Phase) && s.Phase != old.Status.Phase {
		errs = append(errs, field.Forbidden(statusPath.Child("phase"), fmt.Sprintf("cannot transition from terminal phase %s to %s", old.Status.Phase, s.Phase)))
	}
	if pod.Spec.NodeName != old.Spec.NodeName {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "may not be changed by a status update"))
	}
	errs = append(errs, validatePodIPs(s.PodIP, s.PodIPs, statusPath.Child("podIP"), statusPath.Child("podIPs"))...)
	hostIPs := make([]corev1.PodIP, len(s.HostIPs))
	for i, h := range s.HostIPs {
		hostIPs[i] = corev1.PodIP(h)
	}
	errs = append(errs, validatePodIPs(s.HostIP, hostIPs, statusPath.Child("hostIP"), statusPath.Child("hostIPs"))...)
	for i, c := range s.Conditions {
		cp := statusPath.Child("conditions").Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(cp.Child("type"), ""))
		} else if !strings.Contains(string(c.Type), "/") && !isStandardPodCondition(c.Type) {
			errs = append(errs, qualifiedName(string(c.Type), cp.Child("type"))...)
		}
		errs = append(errs, optionalOneOf(c.Status, cp.Child("status"), corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown)...)
	}
	errs = append(errs, validateContainerStatuses(s.ContainerStatuses, old.Status.ContainerStatuses, pod.Spec.Containers, pod.Spec.RestartPolicy, statusPath.Child("containerStatuses"))...)
	errs = append(errs, validateContainerStatuses(s.InitContainerStatuses, old.Status.InitContainerStatuses, pod.Spec.InitContainers, corev1.RestartPolicyAlways, statusPath.Child("initContainerStatuses"))...)
	if s.NominatedNodeName != "" {
		errs = append(errs, dnsSubdomain(s.NominatedNodeName, statusPath.Child("nominatedNodeName"))...)
	}
	return errs
}

func isStandardPodCondition(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady,
		corev1.DisruptionTarget, corev1.PodReadyToStartContainers, corev1.PodResizePending, corev1.PodResizeInProgress:
		return true
	}
	return false
}

func validatePodIPs(ip string, ips []corev1.PodIP, ipPath, ipsPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ip != "" {
		errs = append(errs, validIP(ip, ipPath)...)
	}
	if len(ips) == 0 {
		return errs
	}
	if ips[0].IP != ip {
		errs = append(errs, field.Invalid(ipsPath.Index(0).Child("ip"), ips[0].IP, "must be equal to "+ipPath.String()))
	}
	if len(ips) > 2 {
		errs = append(errs, field.TooMany(ipsPath, len(ips), 2))
	}
	seen := sets.New[string]()
	for i, p := range ips {
		errs = append(errs, validIP(p.IP, ipsPath.Index(i).Child("ip"))...)
		if seen.Has(p.IP) {
			errs = append(errs, field.Duplicate(ipsPath.Index(i).Child("ip"), p.IP))
		}
		seen.Insert(p.IP)
	}
	return errs
}

func validateContainerStatuses(statuses, old []corev1.ContainerStatus, ctrs []corev1.Container, restart corev1.RestartPolicy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for _, c := range ctrs {
		names.Insert(c.Name)
	}
	for i, st := range statuses {
		sp := p.Index(i)
		if !names.Has(st.Name) {
			errs = append(errs, field.NotFound(sp.Child("name"), st.Name))
		}
		errs = append(errs, nonNegative(int64(st.RestartCount), sp.Child("restartCount"))...)
		n := 0
		if st.State.Waiting != nil {
			n++
		}
		if st.State.Running != nil {
			n++
		}
		if st.State.Terminated != nil {
			n++
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp.Child("state"), "may not specify more than 1 state"))
		}
		if restart != corev1.RestartPolicyNever || st.State.Terminated != nil {
			continue
		}
		for _, o := range old {
			if o.Name == st.Name && o.State.Terminated != nil {
				errs = append(errs, field.Forbidden(sp.Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

// validateObjectReferenceName checks the name of a referenced object (a
// Binding's target node).
func validateObjectReferenceName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return dnsSubdomain(name, p)
}
