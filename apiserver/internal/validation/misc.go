package validation

import (
	"fmt"
	"net/netip"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	maxEndpointsPerSlice    = 1000
	maxAddressesPerEndpoint = 100
	maxPortsPerSlice        = 100
	maxIngressClassCtrlLen  = 250
)

// ---- EndpointSlice ----

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := metaCreate(&es.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateEndpointSliceBody(es)...)
}

func validateEndpointSliceBody(es *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, oneOf(es.AddressType, field.NewPath("addressType"), discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)...)
	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > maxEndpointsPerSlice {
		errs = append(errs, field.TooMany(ep, len(es.Endpoints), maxEndpointsPerSlice))
	}
	for i, e := range es.Endpoints {
		ip := ep.Index(i)
		ap := ip.Child("addresses")
		if len(e.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(e.Addresses) > maxAddressesPerEndpoint {
			errs = append(errs, field.TooMany(ap, len(e.Addresses), maxAddressesPerEndpoint))
		}
		for j, a := range e.Addresses {
			errs = append(errs, validateSliceAddress(a, es.AddressType, ap.Index(j))...)
		}
		if e.Hostname != nil {
			errs = append(errs, dnsLabel(*e.Hostname, ip.Child("hostname"))...)
		}
		if e.NodeName != nil {
			errs = append(errs, dnsSubdomain(*e.NodeName, ip.Child("nodeName"))...)
		}
		errs = append(errs, metav1validation.ValidateLabels(e.DeprecatedTopology, ip.Child("deprecatedTopology"))...)
	}
	pp := field.NewPath("ports")
	if len(es.Ports) > maxPortsPerSlice {
		errs = append(errs, field.TooMany(pp, len(es.Ports), maxPortsPerSlice))
	}
	names := sets.New[string]()
	for i, port := range es.Ports {
		ip := pp.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			errs = append(errs, dnsLabel(name, ip.Child("name"))...)
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(ip.Child("name"), name))
		}
		names.Insert(name)
		if port.Port != nil && (*port.Port < 0 || *port.Port > 65535) {
			errs = append(errs, field.Invalid(ip.Child("port"), *port.Port, utilvalidation.InclusiveRangeError(0, 65535)))
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(ip.Child("protocol"), ""))
		} else {
			errs = append(errs, validateProtocol(*port.Protocol, ip.Child("protocol"))...)
		}
		if port.AppProtocol != nil {
			errs = append(errs, qualifiedName(*port.AppProtocol, ip.Child("appProtocol"))...)
		}
	}
	return errs
}

func validateSliceAddress(a string, t discoveryv1.AddressType, p *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		errs := validIP(a, p)
		if len(errs) > 0 {
			return errs
		}
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return nil
		}
		if t == discoveryv1.AddressTypeIPv4 && !addr.Is4() {
			return field.ErrorList{field.Invalid(p, a, "must be an IPv4 address")}
		}
		if t == discoveryv1.AddressTypeIPv6 && !addr.Is6() {
			return field.ErrorList{field.Invalid(p, a, "must be an IPv6 address")}
		}
	case discoveryv1.AddressTypeFQDN:
		return dnsSubdomain(a, p)
	}
	return nil
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := metaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, immutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
	return append(errs, validateEndpointSliceBody(es)...)
}

// ---- Ingress ----

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	errs := metaCreate(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateIngressSpec(&ing.Spec, specPath)...)
}

func validateIngressSpec(s *networkingv1.IngressSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.DefaultBackend == nil && len(s.Rules) == 0 {
		errs = append(errs, field.Invalid(p, s, "either `defaultBackend` or `rules` must be specified"))
	}
	if s.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(s.DefaultBackend, p.Child("defaultBackend"))...)
	}
	if s.IngressClassName != nil {
		errs = append(errs, dnsSubdomain(*s.IngressClassName, p.Child("ingressClassName"))...)
	}
	for i, t := range s.TLS {
		tp := p.Child("tls").Index(i)
		for j, h := range t.Hosts {
			errs = append(errs, validateIngressHost(h, tp.Child("hosts").Index(j))...)
		}
		if t.SecretName != "" {
			errs = append(errs, dnsSubdomain(t.SecretName, tp.Child("secretName"))...)
		}
	}
	for i, r := range s.Rules {
		rp := p.Child("rules").Index(i)
		if r.Host != "" {
			errs = append(errs, validateIngressHost(r.Host, rp.Child("host"))...)
		}
		if r.HTTP == nil {
			continue
		}
		hp := rp.Child("http", "paths")
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, field.Required(hp, ""))
		}
		for j, path := range r.HTTP.Paths {
			pp := hp.Index(j)
			if path.PathType == nil {
				errs = append(errs, field.Required(pp.Child("pathType"), "pathType must be specified"))
			} else {
				errs = append(errs, oneOf(*path.PathType, pp.Child("pathType"), networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific)...)
				if *path.PathType != networkingv1.PathTypeImplementationSpecific || path.Path != "" {
					if !strings.HasPrefix(path.Path, "/") {
						errs = append(errs, field.Invalid(pp.Child("path"), path.Path, "must be an absolute path"))
					}
				}
				if *path.PathType != networkingv1.PathTypeImplementationSpecific {
					for _, bad := range []string{"//", "/./", "/../", "%2f", "%2F"} {
						if strings.Contains(path.Path, bad) {
							errs = append(errs, field.Invalid(pp.Child("path"), path.Path, fmt.Sprintf("must not contain '%s'", bad)))
						}
					}
				}
			}
			errs = append(errs, validateIngressBackend(&path.Backend, pp.Child("backend"))...)
		}
	}
	return errs
}

func validateIngressHost(h string, p *field.Path) field.ErrorList {
	if _, err := netip.ParseAddr(h); err == nil {
		return field.ErrorList{field.Invalid(p, h, "must be a DNS name, not an IP address")}
	}
	var msgs []string
	if strings.Contains(h, "*") {
		msgs = utilvalidation.IsWildcardDNS1123Subdomain(h)
	} else {
		msgs = utilvalidation.IsDNS1123Subdomain(h)
	}
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, h, msg))
	}
	return errs
}

func validateIngressBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Service != nil && b.Resource != nil:
		errs = append(errs, field.Invalid(p, b, "cannot set both resource and service backends"))
	case b.Service != nil:
		sp := p.Child("service")
		if b.Service.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		} else {
			for _, msg := range apivalidation.NameIsDNS1035Label(b.Service.Name, false) {
				errs = append(errs, field.Invalid(sp.Child("name"), b.Service.Name, msg))
			}
		}
		port := b.Service.Port
		switch {
		case port.Name != "" && port.Number != 0:
			errs = append(errs, field.Invalid(sp.Child("port"), port, "cannot set both port name & port number"))
		case port.Name != "":
			errs = append(errs, portName(port.Name, sp.Child("port", "name"))...)
		case port.Number != 0:
			errs = append(errs, portNum(port.Number, sp.Child("port", "number"))...)
		default:
			errs = append(errs, field.Required(sp.Child("port"), "port name or number is required"))
		}
	case b.Resource != nil:
		rp := p.Child("resource")
		if b.Resource.Kind == "" {
			errs = append(errs, field.Required(rp.Child("kind"), ""))
		}
		if b.Resource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
	default:
		errs = append(errs, field.Invalid(p, b, "resource or service backend is required"))
	}
	return errs
}

func validateIngressStatus(s *networkingv1.IngressStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ing := range s.LoadBalancer.Ingress {
		ip := p.Child("loadBalancer", "ingress").Index(i)
		if ing.IP != "" {
			errs = append(errs, validIP(ing.IP, ip.Child("ip"))...)
		}
		if ing.Hostname != "" {
			errs = append(errs, dnsSubdomain(ing.Hostname, ip.Child("hostname"))...)
		}
	}
	return errs
}

// ---- IngressClass ----

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	errs := metaCreate(&ic.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateIngressClassSpec(&ic.Spec, specPath)...)
}

func validateIngressClassSpec(s *networkingv1.IngressClassSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	cp := p.Child("controller")
	if s.Controller == "" {
		errs = append(errs, field.Required(cp, ""))
	} else {
		if len(s.Controller) > maxIngressClassCtrlLen {
			errs = append(errs, field.TooLong(cp, "", maxIngressClassCtrlLen))
		}
		errs = append(errs, utilvalidation.IsDomainPrefixedPath(cp, s.Controller)...)
	}
	if pr := s.Parameters; pr != nil {
		pp := p.Child("parameters")
		if pr.Kind == "" {
			errs = append(errs, field.Required(pp.Child("kind"), ""))
		}
		if pr.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		scope := networkingv1.IngressClassParametersReferenceScopeCluster
		if pr.Scope != nil {
			scope = *pr.Scope
		}
		errs = append(errs, oneOf(scope, pp.Child("scope"), networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace)...)
		switch {
		case scope == networkingv1.IngressClassParametersReferenceScopeNamespace && (pr.Namespace == nil || *pr.Namespace == ""):
			errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		case scope == networkingv1.IngressClassParametersReferenceScopeCluster && pr.Namespace != nil:
			errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	}
	return errs
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	errs := metaUpdate(&ic.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateIngressClassSpec(&ic.Spec, specPath)...)
	return append(errs, immutable(ic.Spec.Controller, old.Spec.Controller, specPath.Child("controller"))...)
}

// ---- Lease ----

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := metaCreate(&l.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateLeaseSpec(&l.Spec, specPath)...)
}

func validateLeaseSpec(s *coordinationv1.LeaseSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.LeaseDurationSeconds != nil && *s.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("leaseDurationSeconds"), *s.LeaseDurationSeconds, "must be greater than 0"))
	}
	if s.LeaseTransitions != nil && *s.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(p.Child("leaseTransitions"), *s.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if s.Strategy != nil {
		errs = append(errs, qualifiedName(string(*s.Strategy), p.Child("strategy"))...)
	}
	if s.PreferredHolder != nil && *s.PreferredHolder != "" && s.Strategy == nil {
		errs = append(errs, field.Forbidden(p.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// ---- events.k8s.io Event ----

func validateEventsEvent(e *eventsv1.Event) field.ErrorList {
	errs := metaCreate(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	return append(errs, validateEventsEventBody(e)...)
}

func validateEventsEventBody(e *eventsv1.Event) field.ErrorList {
	errs := validateEventCommon(e.Namespace, e.Regarding.Namespace, field.NewPath("regarding", "namespace"),
		true, e.ReportingController, field.NewPath("reportingController"),
		e.ReportingInstance, e.Action, e.Reason, e.Note, field.NewPath("note"))
	errs = append(errs, oneOf(e.Type, field.NewPath("type"), corev1.EventTypeNormal, corev1.EventTypeWarning)...)
	if e.Series != nil {
		if e.Series.Count < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series", "count"), e.Series.Count, "should be at least 2"))
		}
		if e.Series.LastObservedTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
		}
	}
	// The deprecated fields belong to the core/v1 shape and stay unset here.
	if !e.DeprecatedFirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !e.DeprecatedLastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if e.DeprecatedCount != 0 {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if e.DeprecatedSource.Component != "" || e.DeprecatedSource.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return errs
}

func validateEventsEventUpdate(e, old *eventsv1.Event) field.ErrorList {
	errs := metaUpdate(&e.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateEventsEventBody(e)...)
	for _, f := range []struct {
		name     string
		new, old any
	}{
		{"regarding", e.Regarding, old.Regarding},
		{"related", e.Related, old.Related},
		{"reason", e.Reason, old.Reason},
		{"note", e.Note, old.Note},
		{"action", e.Action, old.Action},
		{"type", e.Type, old.Type},
		{"reportingController", e.ReportingController, old.ReportingController},
		{"reportingInstance", e.ReportingInstance, old.ReportingInstance},
		{"eventTime", e.EventTime, old.EventTime},
		{"deprecatedSource", e.DeprecatedSource, old.DeprecatedSource},
		{"deprecatedFirstTimestamp", e.DeprecatedFirstTimestamp, old.DeprecatedFirstTimestamp},
	} {
		errs = append(errs, immutable(f.new, f.old, field.NewPath(f.name))...)
	}
	return errs
}

// ---- Scale, Eviction ----

func validateScale(s *autoscalingv1.Scale) field.ErrorList {
	return nonNegative(int64(s.Spec.Replicas), specPath.Child("replicas"))
}

func validateEviction(ev *policyv1.Eviction) field.ErrorList {
	var errs field.ErrorList
	if ev.Name == "" {
		errs = append(errs, field.Required(metaPath.Child("name"), ""))
	}
	if ev.DeleteOptions != nil {
		errs = append(errs, metav1validation.ValidateDeleteOptions(ev.DeleteOptions)...)
	}
	return errs
}
