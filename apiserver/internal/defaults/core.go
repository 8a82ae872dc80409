package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	defaultTerminationGracePeriod = 30
	defaultVolumeMode             = 0o644
	defaultTokenExpirationSeconds = 3600
)

func namespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// secret defaults the type and folds the write-only stringData into data, as
// upstream's conversion to the internal version does.
func secret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

func node(n *corev1.Node) {
	resourceList(n.Status.Capacity)
	resourceList(n.Status.Allocatable)
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
}

func endpoints(e *corev1.Endpoints) {
	for i := range e.Subsets {
		for j := range e.Subsets[i].Ports {
			if e.Subsets[i].Ports[j].Protocol == "" {
				e.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

func service(s *corev1.Service) {
	spec := &s.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityNone {
		spec.SessionAffinityConfig = nil
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if spec.SessionAffinityConfig == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP == nil {
			spec.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		setInt32(&spec.SessionAffinityConfig.ClientIP.TimeoutSeconds, corev1.DefaultClientIPServiceAffinitySeconds)
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.ExternalTrafficPolicy == "" {
			spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}
	}
	if spec.InternalTrafficPolicy == nil && spec.Type != corev1.ServiceTypeExternalName {
		spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		setBool(&spec.AllocateLoadBalancerNodePorts, true)
	}
	if len(spec.ClusterIPs) == 0 && spec.ClusterIP != "" {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		for i := range s.Status.LoadBalancer.Ingress {
			if ing := &s.Status.LoadBalancer.Ingress[i]; ing.IP != "" && ing.IPMode == nil {
				ing.IPMode = ptr(corev1.LoadBalancerIPModeVIP)
			}
		}
	}
}

// pod applies the Pod-only defaults on top of the PodSpec defaults.
func pod(p *corev1.Pod) {
	podSpec(&p.Spec)
	setBool(&p.Spec.EnableServiceLinks, corev1.DefaultEnableServiceLinks)
	// Host ports follow container ports with host networking; templates
	// keep 0 so the pods they stamp out get the default.
	if p.Spec.HostNetwork {
		hostNetworkPorts(p.Spec.InitContainers)
		hostNetworkPorts(p.Spec.Containers)
	}
	// A container that only sets limits gets equal requests.
	for _, ctrs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range ctrs {
			r := &ctrs[i].Resources
			for name, q := range r.Limits {
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				if _, ok := r.Requests[name]; !ok {
					r.Requests[name] = q.DeepCopy()
				}
			}
		}
	}
}

func podTemplateSpec(t *corev1.PodTemplateSpec) {
	podSpec(&t.Spec)
}

func podSpec(s *corev1.PodSpec) {
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	setInt64(&s.TerminationGracePeriodSeconds, defaultTerminationGracePeriod)
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	resourceList(s.Overhead)
	for i := range s.Volumes {
		volume(&s.Volumes[i])
	}
	for i := range s.InitContainers {
		container(&s.InitContainers[i])
	}
	for i := range s.Containers {
		container(&s.Containers[i])
	}
	for i := range s.EphemeralContainers {
		ec := &s.EphemeralContainers[i].EphemeralContainerCommon
		c := corev1.Container(*ec)
		container(&c)
		*ec = corev1.EphemeralContainerCommon(c)
	}
}

func hostNetworkPorts(ctrs []corev1.Container) {
	for i := range ctrs {
		for j := range ctrs[i].Ports {
			if ctrs[i].Ports[j].HostPort == 0 {
				ctrs[i].Ports[j].HostPort = ctrs[i].Ports[j].ContainerPort
			}
		}
	}
}

func container(c *corev1.Container) {
	resourceList(c.Resources.Limits)
	resourceList(c.Resources.Requests)
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
	probe(c.LivenessProbe)
	probe(c.ReadinessProbe)
	probe(c.StartupProbe)
	if l := c.Lifecycle; l != nil {
		if l.PostStart != nil {
			httpGet(l.PostStart.HTTPGet)
		}
		if l.PreStop != nil {
			httpGet(l.PreStop.HTTPGet)
		}
	}
}

// pullPolicy is Always when the image's tag is "latest" (also implied by an
// image with neither tag nor digest) and IfNotPresent otherwise.
func pullPolicy(image string) corev1.PullPolicy {
	name, _, hasDigest := strings.Cut(image, "@")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 {
		tag = name[i+1:]
	} else if !hasDigest {
		tag = "latest"
	}
	if tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// resourceList rounds quantities up to milli precision, as upstream does for
// every ResourceList it defaults.
func resourceList(rl corev1.ResourceList) {
	for name, q := range rl {
		q.RoundUp(resource.Milli)
		rl[name] = q
	}
}

func probe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	httpGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptr("")
	}
}

func httpGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func volume(v *corev1.Volume) {
	src := &v.VolumeSource
	if isEmptySource(src) {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if src.Secret != nil {
		setInt32(&src.Secret.DefaultMode, defaultVolumeMode)
	}
	if src.ConfigMap != nil {
		setInt32(&src.ConfigMap.DefaultMode, defaultVolumeMode)
	}
	if src.DownwardAPI != nil {
		setInt32(&src.DownwardAPI.DefaultMode, defaultVolumeMode)
		for i := range src.DownwardAPI.Items {
			if f := src.DownwardAPI.Items[i].FieldRef; f != nil && f.APIVersion == "" {
				f.APIVersion = "v1"
			}
		}
	}
	if src.Projected != nil {
		setInt32(&src.Projected.DefaultMode, defaultVolumeMode)
		for i := range src.Projected.Sources {
			s := &src.Projected.Sources[i]
			if s.ServiceAccountToken != nil {
				setInt64(&s.ServiceAccountToken.ExpirationSeconds, defaultTokenExpirationSeconds)
			}
			if s.DownwardAPI != nil {
				for j := range s.DownwardAPI.Items {
					if f := s.DownwardAPI.Items[j].FieldRef; f != nil && f.APIVersion == "" {
						f.APIVersion = "v1"
					}
				}
			}
		}
	}
	if src.HostPath != nil && src.HostPath.Type == nil {
		src.HostPath.Type = ptr(corev1.HostPathUnset)
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		pvcSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func pvcSpec(s *corev1.PersistentVolumeClaimSpec) {
	resourceList(s.Resources.Requests)
	resourceList(s.Resources.Limits)
	if s.VolumeMode == nil {
		s.VolumeMode = ptr(corev1.PersistentVolumeFilesystem)
	}
}

func isEmptySource(s *corev1.VolumeSource) bool {
	return *s == corev1.VolumeSource{}
}
