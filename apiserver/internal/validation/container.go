package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateContainers(ctrs []corev1.Container, init bool, volumes, names sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range ctrs {
		c := &ctrs[i]
		cp := p.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			errs = append(errs, dnsLabel(c.Name, cp.Child("name"))...)
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
		if c.Image == "" {
			errs = append(errs, field.Required(cp.Child("image"), ""))
		} else if strings.TrimSpace(c.Image) != c.Image {
			errs = append(errs, field.Invalid(cp.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		sidecar := false
		if c.RestartPolicy != nil {
			if !init {
				errs = append(errs, field.Forbidden(cp.Child("restartPolicy"), "may not be set for non-init containers"))
			} else if *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				errs = append(errs, field.NotSupported(cp.Child("restartPolicy"), *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
			} else {
				sidecar = true
			}
		}
		if init && !sidecar {
			if c.LivenessProbe != nil {
				errs = append(errs, field.Forbidden(cp.Child("livenessProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			if c.ReadinessProbe != nil {
				errs = append(errs, field.Forbidden(cp.Child("readinessProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			if c.StartupProbe != nil {
				errs = append(errs, field.Forbidden(cp.Child("startupProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			if c.Lifecycle != nil {
				errs = append(errs, field.Forbidden(cp.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
			}
		} else {
			errs = append(errs, validateProbe(c.LivenessProbe, true, cp.Child("livenessProbe"))...)
			errs = append(errs, validateProbe(c.ReadinessProbe, false, cp.Child("readinessProbe"))...)
			errs = append(errs, validateProbe(c.StartupProbe, true, cp.Child("startupProbe"))...)
			if c.ReadinessProbe != nil && c.ReadinessProbe.TerminationGracePeriodSeconds != nil {
				errs = append(errs, field.Invalid(cp.Child("readinessProbe", "terminationGracePeriodSeconds"), *c.ReadinessProbe.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
			}
			errs = append(errs, validateLifecycle(c.Lifecycle, cp.Child("lifecycle"))...)
		}
		errs = append(errs, validateContainerPorts(c.Ports, cp.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, cp.Child("env"))...)
		errs = append(errs, validateEnvFrom(c.EnvFrom, cp.Child("envFrom"))...)
		errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, cp.Child("volumeMounts"))...)
		for j, d := range c.VolumeDevices {
			dp := cp.Child("volumeDevices").Index(j)
			if d.Name == "" {
				errs = append(errs, field.Required(dp.Child("name"), ""))
			} else if !volumes.Has(d.Name) {
				errs = append(errs, field.NotFound(dp.Child("name"), d.Name))
			}
			if d.DevicePath == "" {
				errs = append(errs, field.Required(dp.Child("devicePath"), ""))
			}
		}
		errs = append(errs, validateResourceRequirements(&c.Resources, cp.Child("resources"))...)
		errs = append(errs, validateResizePolicy(c.ResizePolicy, cp.Child("resizePolicy"))...)
		errs = append(errs, oneOf(c.TerminationMessagePolicy, cp.Child("terminationMessagePolicy"),
			corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)
		errs = append(errs, oneOf(c.ImagePullPolicy, cp.Child("imagePullPolicy"),
			corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
		errs = append(errs, validateSecurityContext(c.SecurityContext, cp.Child("securityContext"))...)
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		pp := p.Index(i)
		if port.Name != "" {
			errs = append(errs, portName(port.Name, pp.Child("name"))...)
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNum(port.ContainerPort, pp.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, portNum(port.HostPort, pp.Child("hostPort"))...)
		}
		errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
		if port.HostIP != "" {
			errs = append(errs, validIP(port.HostIP, pp.Child("hostIP"))...)
		}
	}
	return errs
}

func validateProtocol(proto corev1.Protocol, p *field.Path) field.ErrorList {
	return oneOf(proto, p, corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
}

// validateHostPorts checks host ports are unique in the pod and, with host
// networking, equal to the container ports.
func validateHostPorts(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	check := func(ctrs []corev1.Container, cp *field.Path) {
		for i := range ctrs {
			for j, port := range ctrs[i].Ports {
				pp := cp.Index(i).Child("ports").Index(j)
				if spec.HostNetwork && port.HostPort != 0 && port.HostPort != port.ContainerPort {
					errs = append(errs, field.Invalid(pp.Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
				}
				if port.HostPort == 0 {
					continue
				}
				key := fmt.Sprintf("%s/%s/%d", port.HostIP, port.Protocol, port.HostPort)
				if seen.Has(key) {
					errs = append(errs, field.Duplicate(pp.Child("hostPort"), fmt.Sprintf("%d/%s", port.HostPort, port.Protocol)))
				}
				seen.Insert(key)
			}
		}
	}
	check(spec.InitContainers, p.Child("initContainers"))
	check(spec.Containers, p.Child("containers"))
	return errs
}

func validateEnv(env []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		ep := p.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			for _, msg := range utilvalidation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(ep.Child("name"), ev.Name, msg))
			}
		}
		errs = append(errs, validateEnvVarSource(ev.ValueFrom, ev.Value, ep.Child("valueFrom"))...)
	}
	return errs
}

func validateEnvVarSource(s *corev1.EnvVarSource, value string, p *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if s.FieldRef != nil {
		n++
		errs = append(errs, validateObjectFieldSelector(s.FieldRef, envVarFieldPaths, p.Child("fieldRef"))...)
	}
	if s.ResourceFieldRef != nil {
		n++
		errs = append(errs, validateResourceFieldSelector(s.ResourceFieldRef, p.Child("resourceFieldRef"))...)
	}
	if s.ConfigMapKeyRef != nil {
		n++
		kp := p.Child("configMapKeyRef")
		if s.ConfigMapKeyRef.Name == "" {
			errs = append(errs, field.Required(kp.Child("name"), ""))
		}
		errs = append(errs, configMapKey(s.ConfigMapKeyRef.Key, kp.Child("key"))...)
	}
	if s.SecretKeyRef != nil {
		n++
		kp := p.Child("secretKeyRef")
		if s.SecretKeyRef.Name == "" {
			errs = append(errs, field.Required(kp.Child("name"), ""))
		}
		errs = append(errs, configMapKey(s.SecretKeyRef.Key, kp.Child("key"))...)
	}
	if s.FileKeyRef != nil {
		n++
		errs = append(errs, field.Forbidden(p.Child("fileKeyRef"), "is not supported by this server"))
	}
	if value != "" && n != 0 {
		errs = append(errs, field.Invalid(p, "", "may not be specified when `value` is not empty"))
	}
	switch {
	case n == 0:
		errs = append(errs, field.Invalid(p, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case n > 1:
		errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func configMapKey(key string, p *field.Path) field.ErrorList {
	if key == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(p, key, msg))
	}
	return errs
}

func validateEnvFrom(envFrom []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ef := range envFrom {
		ep := p.Index(i)
		if ef.Prefix != "" {
			for _, msg := range utilvalidation.IsRelaxedEnvVarName(ef.Prefix) {
				errs = append(errs, field.Invalid(ep.Child("prefix"), ef.Prefix, msg))
			}
		}
		n := 0
		if ef.ConfigMapRef != nil {
			n++
			if ef.ConfigMapRef.Name == "" {
				errs = append(errs, field.Required(ep.Child("configMapRef", "name"), ""))
			} else {
				errs = append(errs, dnsSubdomain(ef.ConfigMapRef.Name, ep.Child("configMapRef", "name"))...)
			}
		}
		if ef.SecretRef != nil {
			n++
			if ef.SecretRef.Name == "" {
				errs = append(errs, field.Required(ep.Child("secretRef", "name"), ""))
			} else {
				errs = append(errs, dnsSubdomain(ef.SecretRef.Name, ep.Child("secretRef", "name"))...)
			}
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(ep, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(ep, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		mp := p.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		} else {
			if paths.Has(m.MountPath) {
				errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
			}
			paths.Insert(m.MountPath)
		}
		if m.SubPath != "" {
			errs = append(errs, validateLocalPath(m.SubPath, mp.Child("subPath"))...)
		}
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
		if m.MountPropagation != nil {
			errs = append(errs, oneOf(*m.MountPropagation, mp.Child("mountPropagation"),
				corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional)...)
		}
		if m.RecursiveReadOnly != nil {
			errs = append(errs, oneOf(*m.RecursiveReadOnly, mp.Child("recursiveReadOnly"),
				corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled)...)
			if *m.RecursiveReadOnly != corev1.RecursiveReadOnlyDisabled && !m.ReadOnly {
				errs = append(errs, field.Forbidden(mp.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
			}
		}
	}
	return errs
}

var standardContainerResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage}

// validateResourceName accepts the standard container resources, hugepages
// and fully qualified extended resources.
func validateResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	s := string(name)
	errs := qualifiedName(s, p)
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(s, "/") && !contains(standardContainerResources, name) && !strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
		return field.ErrorList{field.Invalid(p, s, "must be a standard resource for containers")}
	}
	return nil
}

func validateResourceList(rl corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range rl {
		kp := p.Key(string(name))
		errs = append(errs, validateResourceName(name, kp)...)
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(kp, q.String(), "must be greater than or equal to 0"))
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage {
			continue
		}
		// Extended resources and hugepages must be whole numbers.
		if !strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(kp, q.String(), "must be an integer"))
		}
	}
	return errs
}

func validateResourceRequirements(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateResourceList(r.Limits, p.Child("limits"))...)
	errs = append(errs, validateResourceList(r.Requests, p.Child("requests"))...)
	for name, req := range r.Requests {
		limit, ok := r.Limits[name]
		rp := p.Child("requests").Key(string(name))
		if ok && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(rp, req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
		// Extended resources and hugepages cannot be overcommitted.
		overcommit := !strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) &&
			(!strings.Contains(string(name), "/") || strings.HasPrefix(string(name), "kubernetes.io/"))
		switch {
		case overcommit:
		case !ok:
			errs = append(errs, field.Required(p.Child("limits").Key(string(name)), "Limit must be set for non overcommitable resources"))
		case req.Cmp(limit) != 0:
			errs = append(errs, field.Invalid(rp, req.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		}
	}
	for i, c := range r.Claims {
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("claims").Index(i).Child("name"), ""))
		}
	}
	return errs
}

func validateHandler(exec *corev1.ExecAction, httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, grpc *corev1.GRPCAction, sleep *corev1.SleepAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if exec != nil {
		n++
		if len(exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if httpGet != nil {
		n++
		hp := p.Child("httpGet")
		errs = append(errs, validatePortNumOrName(httpGet.Port, hp.Child("port"))...)
		errs = append(errs, oneOf(httpGet.Scheme, hp.Child("scheme"), corev1.URISchemeHTTP, corev1.URISchemeHTTPS)...)
		for i, h := range httpGet.HTTPHeaders {
			for _, msg := range utilvalidation.IsHTTPHeaderName(h.Name) {
				errs = append(errs, field.Invalid(hp.Child("httpHeaders").Index(i).Child("name"), h.Name, msg))
			}
		}
	}
	if tcp != nil {
		n++
		errs = append(errs, validatePortNumOrName(tcp.Port, p.Child("tcpSocket", "port"))...)
	}
	if grpc != nil {
		n++
		errs = append(errs, portNum(grpc.Port, p.Child("grpc", "port"))...)
	}
	if sleep != nil {
		n++
		errs = append(errs, nonNegative(sleep.Seconds, p.Child("sleep", "seconds"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(p, "must specify a handler type"))
	case n > 1:
		errs = append(errs, field.Forbidden(p, "may not specify more than 1 handler type"))
	}
	return errs
}

func validateProbe(pr *corev1.Probe, successMustBeOne bool, p *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	errs := validateHandler(pr.Exec, pr.HTTPGet, pr.TCPSocket, pr.GRPC, nil, p)
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(pr.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.PeriodSeconds), p.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.SuccessThreshold), p.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(pr.FailureThreshold), p.Child("failureThreshold"))...)
	if successMustBeOne && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if pr.TerminationGracePeriodSeconds != nil {
		errs = append(errs, positive(*pr.TerminationGracePeriodSeconds, p.Child("terminationGracePeriodSeconds"))...)
	}
	return errs
}

func validateLifecycle(l *corev1.Lifecycle, p *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	var errs field.ErrorList
	if h := l.PostStart; h != nil {
		errs = append(errs, validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, nil, h.Sleep, p.Child("postStart"))...)
	}
	if h := l.PreStop; h != nil {
		errs = append(errs, validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, nil, h.Sleep, p.Child("preStop"))...)
	}
	if l.StopSignal != nil {
		errs = append(errs, field.Forbidden(p.Child("stopSignal"), "may not be set without spec.os.name"))
	}
	return errs
}

func validatePortNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	if port.Type == intstr.String {
		if port.StrVal == "" {
			return field.ErrorList{field.Required(p, "")}
		}
		return portName(port.StrVal, p)
	}
	return portNum(port.IntVal, p)
}

func validateResizePolicy(policies []corev1.ContainerResizePolicy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[corev1.ResourceName]()
	for i, rp := range policies {
		ip := p.Index(i)
		errs = append(errs, oneOf(rp.ResourceName, ip.Child("resourceName"), corev1.ResourceCPU, corev1.ResourceMemory)...)
		if seen.Has(rp.ResourceName) {
			errs = append(errs, field.Duplicate(ip.Child("resourceName"), rp.ResourceName))
		}
		seen.Insert(rp.ResourceName)
		errs = append(errs, oneOf(rp.RestartPolicy, ip.Child("restartPolicy"), corev1.NotRequired, corev1.RestartContainer)...)
	}
	return errs
}
