package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// ServicesForPod returns the keys of the services in the pod's namespace
// whose selector matches the pod's labels.
func ServicesForPod(services corelisters.ServiceLister, p *corev1.Pod) []string {
	svcs, err := services.Services(p.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range svcs {
		if s.Spec.Selector == nil {
			continue
		}
		if labels.SelectorFromValidatedSet(s.Spec.Selector).Matches(labels.Set(p.Labels)) {
			out = append(out, s.Namespace+"/"+s.Name)
		}
	}
	return out
}

// ResolvePort finds the container port a service port targets on pod:
// a number is used as is, a name is looked up among the containers' ports.
func ResolvePort(p *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, nil
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal && cp.Protocol == sp.Protocol {
					return cp.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("no container port named %q", tp.StrVal)
	}
	return sp.Port, nil
}

// PodReadyForService reports whether the pod should receive traffic: Ready,
// and every readiness gate condition True.
func PodReadyForService(p *corev1.Pod) bool {
	if !IsPodReady(p) {
		return false
	}
	for _, g := range p.Spec.ReadinessGates {
		ok := false
		for _, c := range p.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
