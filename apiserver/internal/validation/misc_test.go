package validation

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateEndpointSlice(t *testing.T) {
	runCreate(t, "endpointslice.yaml", []createCase[*discoveryv1.EndpointSlice]{
		{name: "valid"},
		{name: "bad addressType", mutate: func(e *discoveryv1.EndpointSlice) { e.AddressType = "IPv5" }, want: []string{"addressType: Unsupported value"}},
		{name: "IPv6 in IPv4 slice", mutate: func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses[0] = "fd00::1" }, want: []string{"endpoints[0].addresses[0]: Invalid value"}},
		{name: "no addresses", mutate: func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = nil }, want: []string{"endpoints[0].addresses: Required value"}},
		{name: "duplicate port name", mutate: func(e *discoveryv1.EndpointSlice) {
			e.Ports = append(e.Ports, e.Ports[0])
		}, want: []string{"ports[1].name: Duplicate value"}},
		{name: "FQDN", mutate: func(e *discoveryv1.EndpointSlice) {
			e.AddressType = discoveryv1.AddressTypeFQDN
			e.Endpoints[0].Addresses = []string{"db.example.com"}
		}},
	})
	runUpdate(t, "endpointslice.yaml", false, []updateCase[*discoveryv1.EndpointSlice]{
		{name: "readiness flip", mutate: func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Conditions.Ready = ptr(false) }},
		{name: "addressType change", mutate: func(e *discoveryv1.EndpointSlice) {
			e.AddressType = discoveryv1.AddressTypeIPv6
			e.Endpoints = nil
		}, want: []string{"addressType: Invalid value"}},
	})
}

func TestValidateIngress(t *testing.T) {
	backend := func(i *networkingv1.Ingress) *networkingv1.IngressBackend {
		return &i.Spec.Rules[0].HTTP.Paths[0].Backend
	}
	runCreate(t, "ingress.yaml", []createCase[*networkingv1.Ingress]{
		{name: "valid"},
		{name: "no rules or default", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules = nil }, want: []string{"spec: Invalid value"}},
		{name: "default backend only", mutate: func(i *networkingv1.Ingress) {
			i.Spec.DefaultBackend = backend(i).DeepCopy()
			i.Spec.Rules = nil
		}},
		{name: "IP host", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }, want: []string{"spec.rules[0].host: Invalid value"}},
		{name: "missing pathType", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil }, want: []string{"spec.rules[0].http.paths[0].pathType: Required value"}},
		{name: "relative path", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[1].Path = "api" }, want: []string{"spec.rules[0].http.paths[1].path: Invalid value"}},
		{name: "port name and number", mutate: func(i *networkingv1.Ingress) { backend(i).Service.Port.Number = 80 }, want: []string{"spec.rules[0].http.paths[0].backend.service.port: Invalid value"}},
		{name: "no port", mutate: func(i *networkingv1.Ingress) { backend(i).Service.Port.Name = "" }, want: []string{"spec.rules[0].http.paths[0].backend.service.port: Required value"}},
		{name: "no backend", mutate: func(i *networkingv1.Ingress) { backend(i).Service = nil }, want: []string{"spec.rules[0].http.paths[0].backend: Invalid value"}},
		{name: "bad tls host", mutate: func(i *networkingv1.Ingress) { i.Spec.TLS[0].Hosts[0] = "a.*.com" }, want: []string{"spec.tls[0].hosts[0]: Invalid value"}},
	})
	runUpdate(t, "ingress.yaml", true, []updateCase[*networkingv1.Ingress]{
		{name: "lb ip", mutate: func(i *networkingv1.Ingress) {
			i.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.1"}}
		}},
		{name: "bad lb ip", mutate: func(i *networkingv1.Ingress) {
			i.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2"}}
		}, want: []string{"status.loadBalancer.ingress[0].ip: Invalid value"}},
	})
}

func TestValidateIngressClass(t *testing.T) {
	runCreate(t, "ingressclass.yaml", []createCase[*networkingv1.IngressClass]{
		{name: "valid"},
		{name: "no controller", mutate: func(i *networkingv1.IngressClass) { i.Spec.Controller = "" }, want: []string{"spec.controller: Required value"}},
		{name: "controller without domain", mutate: func(i *networkingv1.IngressClass) { i.Spec.Controller = "nginx" }, want: []string{"spec.controller: Invalid value"}},
		{name: "namespaced params without namespace", mutate: func(i *networkingv1.IngressClass) {
			i.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "x", Scope: ptr("Namespace")}
		}, want: []string{"spec.parameters.namespace: Required value"}},
	})
	runUpdate(t, "ingressclass.yaml", false, []updateCase[*networkingv1.IngressClass]{
		{name: "change controller", mutate: func(i *networkingv1.IngressClass) { i.Spec.Controller = "example.com/other" }, want: []string{"spec.controller: Invalid value"}},
	})
}

func TestValidateLease(t *testing.T) {
	runCreate(t, "lease.yaml", []createCase[*coordinationv1.Lease]{
		{name: "valid"},
		{name: "zero duration", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr(int32(0)) }, want: []string{"spec.leaseDurationSeconds: Invalid value"}},
		{name: "negative transitions", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr(int32(-1)) }, want: []string{"spec.leaseTransitions: Invalid value"}},
	})
	runUpdate(t, "lease.yaml", false, []updateCase[*coordinationv1.Lease]{
		{name: "renew", mutate: func(l *coordinationv1.Lease) { now := metav1.NowMicro(); l.Spec.RenewTime = &now }},
	})
}

func TestValidateEventsEvent(t *testing.T) {
	runCreate(t, "events-event.yaml", []createCase[*eventsv1.Event]{
		{name: "valid"},
		{name: "no eventTime", mutate: func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }, want: []string{"eventTime: Required value"}},
		{name: "no reportingController", mutate: func(e *eventsv1.Event) { e.ReportingController = "" }, want: []string{"reportingController: Required value"}},
		{name: "no action", mutate: func(e *eventsv1.Event) { e.Action = "" }, want: []string{"action: Required value"}},
		{name: "bad type", mutate: func(e *eventsv1.Event) { e.Type = "Error" }, want: []string{"type: Unsupported value"}},
		{name: "regarding other namespace", mutate: func(e *eventsv1.Event) { e.Regarding.Namespace = "kube-system" }, want: []string{"regarding.namespace: Invalid value"}},
		{name: "deprecated count set", mutate: func(e *eventsv1.Event) { e.DeprecatedCount = 3 }, want: []string{"deprecatedCount: Invalid value"}},
		{name: "series too short", mutate: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 1, LastObservedTime: metav1.NowMicro()}
		}, want: []string{"series.count: Invalid value"}},
	})
	runUpdate(t, "events-event.yaml", false, []updateCase[*eventsv1.Event]{
		{name: "series", mutate: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
		}},
		{name: "change note", mutate: func(e *eventsv1.Event) { e.Note = "other" }, want: []string{"note: Invalid value"}},
	})
}

func TestValidateSubresourceBodies(t *testing.T) {
	check(t, ValidateCreate(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}), nil)
	check(t, ValidateCreate(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: -1}}), []string{"spec.replicas: Invalid value"})
	check(t, ValidateUpdate(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: -1}}, &autoscalingv1.Scale{}), []string{"spec.replicas: Invalid value"})
	check(t, ValidateCreate(&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}), nil)
	check(t, ValidateCreate(&policyv1.Eviction{}), []string{"metadata.name: Required value"})
	check(t, ValidateCreate(&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(-1)), PropagationPolicy: ptr(metav1.DeletionPropagation("Sideways"))}}),
		[]string{"propagationPolicy: Unsupported value"})
}

func TestUnknownKindAndMismatch(t *testing.T) {
	if errs := ValidateCreate(&corev1.PodTemplate{}); errs != nil {
		t.Errorf("unknown kind: got %v, want nil", errs)
	}
	check(t, ValidateUpdate(&corev1.Pod{}, &corev1.Service{}), []string{"kind: Internal error"})
	check(t, ValidateStatusUpdate(&corev1.Pod{}, &corev1.Service{}), []string{"kind: Internal error"})
}
