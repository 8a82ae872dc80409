package validation

import (
	"fmt"
	"math"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podSpecOpts tune PodSpec validation for where the spec lives.
type podSpecOpts struct {
	// template is true for pod templates (workload controllers); it allows
	// ephemeral containers to be absent and forbids nothing else.
	template bool
	// allowedRestartPolicies, if non-empty, restricts spec.restartPolicy.
	allowedRestartPolicies []corev1.RestartPolicy
	// extraVolumes are volume names provided from outside the pod spec
	// (a StatefulSet's volumeClaimTemplates) that containers may mount.
	extraVolumes []string
}

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := metaCreate(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath, podSpecOpts{})...)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// validatePodTemplateSpec validates the template of a workload controller.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, p *field.Path, opts podSpecOpts) field.ErrorList {
	opts.template = true
	var errs field.ErrorList
	errs = append(errs, metav1validation.ValidateLabels(t.Labels, p.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, p.Child("metadata", "annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, &t.ObjectMeta, p.Child("spec"), opts)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(p.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

func validatePodSpec(spec *corev1.PodSpec, _ any, p *field.Path, opts podSpecOpts) field.ErrorList {
	var errs field.ErrorList
	volumes, verrs := validateVolumes(spec.Volumes, p.Child("volumes"))
	errs = append(errs, verrs...)
	volumes.Insert(opts.extraVolumes...)

	names := sets.New[string]()
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	errs = append(errs, validateContainers(spec.InitContainers, true, volumes, names, spec, p.Child("initContainers"))...)
	errs = append(errs, validateContainers(spec.Containers, false, volumes, names, spec, p.Child("containers"))...)
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

// volumeSources lists the names of the sources set on a volume.
func volumeSources(v *corev1.VolumeSource) []string {
	var s []string
	add := func(set bool, name string) {
		if set {
			s = append(s, name)
		}
	}
	add(v.HostPath != nil, "hostPath")
	add(v.EmptyDir != nil, "emptyDir")
	add(v.GCEPersistentDisk != nil, "gcePersistentDisk")
	add(v.AWSElasticBlockStore != nil, "awsElasticBlockStore")
	add(v.GitRepo != nil, "gitRepo")
	add(v.Secret != nil, "secret")
	add(v.NFS != nil, "nfs")
	add(v.ISCSI != nil, "iscsi")
	add(v.Glusterfs != nil, "glusterfs")
	add(v.PersistentVolumeClaim != nil, "persistentVolumeClaim")
	add(v.RBD != nil, "rbd")
	add(v.FlexVolume != nil, "flexVolume")
	add(v.Cinder != nil, "cinder")
	add(v.CephFS != nil, "cephfs")
	add(v.Flocker != nil, "flocker")
	add(v.DownwardAPI != nil, "downwardAPI")
	add(v.FC != nil, "fc")
	add(v.AzureFile != nil, "azureFile")
	add(v.ConfigMap != nil, "configMap")
	add(v.VsphereVolume != nil, "vsphereVolume")
	add(v.Quobyte != nil, "quobyte")
	add(v.AzureDisk != nil, "azureDisk")
	add(v.PhotonPersistentDisk != nil, "photonPersistentDisk")
	add(v.Projected != nil, "projected")
	add(v.PortworxVolume != nil, "portworxVolume")
	add(v.ScaleIO != nil, "scaleIO")
	add(v.StorageOS != nil, "storageos")
	add(v.CSI != nil, "csi")
	add(v.Ephemeral != nil, "ephemeral")
	add(v.Image != nil, "image")
	return s
}

// validateVolumes returns the set of volume names and the errors found.
func validateVolumes(vols []corev1.Volume, p *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range vols {
		v := &vols[i]
		vp := p.Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(vp.Child("name"), ""))
		} else {
			errs = append(errs, dnsLabel(v.Name, vp.Child("name"))...)
			if names.Has(v.Name) {
				errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
			}
			names.Insert(v.Name)
		}
		src := volumeSources(&v.VolumeSource)
		switch {
		case len(src) == 0:
			errs = append(errs, field.Required(vp, "must specify a volume type"))
		case len(src) > 1:
			errs = append(errs, field.Forbidden(vp.Child(src[1]), "may not specify more than 1 volume type"))
		default:
			errs = append(errs, validateVolumeSource(&v.VolumeSource, vp)...)
		}
	}
	return names, errs
}

func validateVolumeSource(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case v.HostPath != nil:
		hp := p.Child("hostPath")
		if v.HostPath.Path == "" {
			errs = append(errs, field.Required(hp.Child("path"), ""))
		}
		if t := v.HostPath.Type; t != nil {
			errs = append(errs, optionalOneOf(*t, hp.Child("type"), corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate,
				corev1.HostPathDirectory, corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
				corev1.HostPathCharDev, corev1.HostPathBlockDev)...)
		}
	case v.EmptyDir != nil:
		ep := p.Child("emptyDir")
		m := v.EmptyDir.Medium
		if m != corev1.StorageMediumDefault && m != corev1.StorageMediumMemory && !strings.HasPrefix(string(m), string(corev1.StorageMediumHugePages)) {
			errs = append(errs, field.NotSupported(ep.Child("medium"), m, []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory, corev1.StorageMediumHugePages}))
		}
		if v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Sign() < 0 {
			errs = append(errs, field.Invalid(ep.Child("sizeLimit"), v.EmptyDir.SizeLimit.String(), isNegativeErrorMsg))
		}
	case v.Secret != nil:
		sp := p.Child("secret")
		if v.Secret.SecretName == "" {
			errs = append(errs, field.Required(sp.Child("secretName"), ""))
		} else {
			errs = append(errs, dnsSubdomain(v.Secret.SecretName, sp.Child("secretName"))...)
		}
		errs = append(errs, validateMode(v.Secret.DefaultMode, sp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(v.Secret.Items, sp.Child("items"))...)
	case v.ConfigMap != nil:
		cp := p.Child("configMap")
		if v.ConfigMap.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			errs = append(errs, dnsSubdomain(v.ConfigMap.Name, cp.Child("name"))...)
		}
		errs = append(errs, validateMode(v.ConfigMap.DefaultMode, cp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(v.ConfigMap.Items, cp.Child("items"))...)
	case v.PersistentVolumeClaim != nil:
		if v.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(p.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case v.DownwardAPI != nil:
		dp := p.Child("downwardAPI")
		errs = append(errs, validateMode(v.DownwardAPI.DefaultMode, dp.Child("defaultMode"))...)
		for i, f := range v.DownwardAPI.Items {
			errs = append(errs, validateDownwardAPIFile(&f, dp.Child("items").Index(i))...)
		}
	case v.Projected != nil:
		pp := p.Child("projected")
		errs = append(errs, validateMode(v.Projected.DefaultMode, pp.Child("defaultMode"))...)
		for i, s := range v.Projected.Sources {
			sp := pp.Child("sources").Index(i)
			n := 0
			if s.Secret != nil {
				n++
				errs = append(errs, validateKeyToPaths(s.Secret.Items, sp.Child("secret", "items"))...)
			}
			if s.ConfigMap != nil {
				n++
				errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, sp.Child("configMap", "items"))...)
			}
			if s.DownwardAPI != nil {
				n++
				for j, f := range s.DownwardAPI.Items {
					errs = append(errs, validateDownwardAPIFile(&f, sp.Child("downwardAPI", "items").Index(j))...)
				}
			}
			if s.ServiceAccountToken != nil {
				n++
				tp := sp.Child("serviceAccountToken")
				if s.ServiceAccountToken.Path == "" {
					errs = append(errs, field.Required(tp.Child("path"), ""))
				}
				if e := s.ServiceAccountToken.ExpirationSeconds; e != nil && *e < 10*60 {
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
				}
			}
			if s.ClusterTrustBundle != nil {
				n++
			}
			if s.PodCertificate != nil {
				n++
			}
			if n != 1 {
				errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
			}
		}
	case v.NFS != nil:
		if v.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("nfs", "server"), ""))
		}
		if v.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("nfs", "path"), ""))
		} else if !path.IsAbs(v.NFS.Path) {
			errs = append(errs, field.Invalid(p.Child("nfs", "path"), v.NFS.Path, "must be an absolute path"))
		}
	case v.CSI != nil:
		if v.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("csi", "driver"), ""))
		}
	case v.Image != nil:
		if v.Image.Reference == "" {
			errs = append(errs, field.Required(p.Child("image", "reference"), ""))
		}
	case v.Ephemeral != nil:
		if v.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(p.Child("ephemeral", "volumeClaimTemplate"), ""))
		}
	}
	return errs
}

func validateMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0o777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, kp := range items {
		ip := p.Index(i)
		if kp.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		errs = append(errs, validateLocalPath(kp.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(kp.Mode, ip.Child("mode"))...)
	}
	return errs
}

// validateLocalPath checks a relative path that must not escape its root.
func validateLocalPath(v string, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if path.IsAbs(v) {
		errs = append(errs, field.Invalid(p, v, "must be a relative path"))
	}
	for _, part := range strings.Split(v, "/") {
		if part == ".." {
			errs = append(errs, field.Invalid(p, v, "must not contain '..'"))
			break
		}
	}
	if strings.HasPrefix(v, "..") && len(errs) == 0 {
		errs = append(errs, field.Invalid(p, v, "must not start with '..'"))
	}
	return errs
}

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateLocalPath(f.Path, p.Child("path"))...)
	errs = append(errs, validateMode(f.Mode, p.Child("mode"))...)
	switch {
	case f.FieldRef != nil && f.ResourceFieldRef != nil:
		errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, downwardAPIVolumeFieldPaths, p.Child("fieldRef"))...)
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, p.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return errs
}

var (
	envVarFieldPaths = []string{
		"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
		"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
	}
	downwardAPIVolumeFieldPaths = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}
	containerResourceNames      = []string{"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage"}
)

func validateObjectFieldSelector(s *corev1.ObjectFieldSelector, allowed []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.APIVersion == "" {
		errs = append(errs, field.Required(p.Child("apiVersion"), ""))
	} else if s.APIVersion != "v1" {
		errs = append(errs, field.Invalid(p.Child("apiVersion"), s.APIVersion, "only v1 is supported"))
	}
	fp := p.Child("fieldPath")
	if s.FieldPath == "" {
		return append(errs, field.Required(fp, ""))
	}
	// metadata.labels['key'] and metadata.annotations['key'] select one entry.
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		if rest, ok := strings.CutPrefix(s.FieldPath, prefix+"['"); ok {
			key, ok := strings.CutSuffix(rest, "']")
			if !ok {
				return append(errs, field.Invalid(fp, s.FieldPath, "error converting fieldPath: invalid subscript"))
			}
			if prefix == "metadata.labels" {
				return append(errs, qualifiedName(key, fp)...)
			}
			for _, msg := range utilvalidation.IsQualifiedName(strings.ToLower(key)) {
				errs = append(errs, field.Invalid(fp, s.FieldPath, msg))
			}
			return errs
		}
	}
	if !contains(allowed, s.FieldPath) {
		errs = append(errs, field.NotSupported(fp, s.FieldPath, allowed))
	}
	return errs
}

func validateResourceFieldSelector(s *corev1.ResourceFieldSelector, p *field.Path) field.ErrorList {
	if s.Resource == "" {
		return field.ErrorList{field.Required(p.Child("resource"), "")}
	}
	if !contains(containerResourceNames, s.Resource) && !strings.HasPrefix(s.Resource, "requests.hugepages-") && !strings.HasPrefix(s.Resource, "limits.hugepages-") {
		return field.ErrorList{field.NotSupported(p.Child("resource"), s.Resource, containerResourceNames)}
	}
	if s.Divisor.Sign() < 0 {
		return field.ErrorList{field.Invalid(p.Child("divisor"), s.Divisor.String(), isNegativeErrorMsg)}
	}
	return nil
}

func validateContainers(ctrs []corev1.Container, init bool, volumes, names sets.Set[string], spec *corev1.PodSpec, p *field.Path) field.ErrorList {
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
	if len(name) > 253 {
		return false
	}
	for _, seg := range strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '/' }) {
		if seg == "" {
			return false
		}
		for i, r := range seg {
			alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
			if !alnum && !((r == '-' || r == '_') && i > 0 && i < len(seg)-1) {
				return false
			}
		}
	}
	return !strings.HasSuffix(name, ".") && !strings.HasSuffix(name, "/") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "/")
}

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

func validateTolerations(tols []corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tols {
		tp := p.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, tp.Child("key"))...)
		} else if t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(tp.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(tp.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			errs = append(errs, labelValue(t.Value, tp.Child("value"))...)
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(tp.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(tp.Child("operator"), t.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		errs = append(errs, optionalOneOf(t.Effect, tp.Child("effect"), corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
	}
	return errs
}

func validateNodeSelectorRequirement(r corev1.NodeSelectorRequirement, isField bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			errs = append(errs, field.Required(p.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			errs = append(errs, field.Forbidden(p.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			errs = append(errs, field.Required(p.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		}
	default:
		errs = append(errs, field.Invalid(p.Child("operator"), r.Operator, "not a valid selector operator"))
	}
	if isField {
		if r.Key != "metadata.name" {
			errs = append(errs, field.NotSupported(p.Child("key"), r.Key, []string{"metadata.name"}))
		}
		if r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn {
			errs = append(errs, field.Invalid(p.Child("operator"), r.Operator, "not a valid selector operator"))
		}
		if len(r.Values) != 1 {
			errs = append(errs, field.Required(p.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
		}
		return errs
	}
	errs = append(errs, metav1validation.ValidateLabelName(r.Key, p.Child("key"))...)
	return errs
}

func validateNodeSelectorTerm(t corev1.NodeSelectorTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range t.MatchExpressions {
		errs = append(errs, validateNodeSelectorRequirement(r, false, p.Child("matchExpressions").Index(i))...)
	}
	for i, r := range t.MatchFields {
		errs = append(errs, validateNodeSelectorRequirement(r, true, p.Child("matchFields").Index(i))...)
	}
	return errs
}

func validateWeight(w int32, p *field.Path) field.ErrorList {
	if w < 1 || w > 100 {
		return field.ErrorList{field.Invalid(p, w, "must be in the range 1-100")}
	}
	return nil
}

func validatePodAffinityTerm(t corev1.PodAffinityTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, labelSelector(t.LabelSelector, p.Child("labelSelector"))...)
	errs = append(errs, labelSelector(t.NamespaceSelector, p.Child("namespaceSelector"))...)
	for _, ns := range t.Namespaces {
		for _, msg := range apivalidation.ValidateNamespaceName(ns, false) {
			errs = append(errs, field.Invalid(p.Child("namespace"), ns, msg))
		}
	}
	if t.TopologyKey == "" {
		errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
	} else {
		errs = append(errs, metav1validation.ValidateLabelName(t.TopologyKey, p.Child("topologyKey"))...)
	}
	return errs
}

func validateAffinity(a *corev1.Affinity, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if na := a.NodeAffinity; na != nil {
		np := p.Child("nodeAffinity")
		if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			rp := np.Child("requiredDuringSchedulingIgnoredDuringExecution")
			if len(req.NodeSelectorTerms) == 0 {
				errs = append(errs, field.Required(rp.Child("nodeSelectorTerms"), "must have at least one node selector term"))
			}
			for i, t := range req.NodeSelectorTerms {
				errs = append(errs, validateNodeSelectorTerm(t, rp.Child("nodeSelectorTerms").Index(i))...)
			}
		}
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			tp := np.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, validateWeight(t.Weight, tp.Child("weight"))...)
			errs = append(errs, validateNodeSelectorTerm(t.Preference, tp.Child("preference"))...)
		}
	}
	podTerms := func(req []corev1.PodAffinityTerm, pref []corev1.WeightedPodAffinityTerm, pp *field.Path) {
		for i, t := range req {
			errs = append(errs, validatePodAffinityTerm(t, pp.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i))...)
		}
		for i, t := range pref {
			tp := pp.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, validateWeight(t.Weight, tp.Child("weight"))...)
			errs = append(errs, validatePodAffinityTerm(t.PodAffinityTerm, tp.Child("podAffinityTerm"))...)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		podTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, p.Child("podAffinity"))
	}
	if pa := a.PodAntiAffinity; pa != nil {
		podTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, p.Child("podAntiAffinity"))
	}
	return errs
}

func validateTopologySpread(cs []corev1.TopologySpreadConstraint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, c := range cs {
		cp := p.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(cp.Child("maxSkew"), c.MaxSkew, isNotPositiveMessage))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(cp.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(c.TopologyKey, cp.Child("topologyKey"))...)
		}
		errs = append(errs, oneOf(c.WhenUnsatisfiable, cp.Child("whenUnsatisfiable"), corev1.DoNotSchedule, corev1.ScheduleAnyway)...)
		key := c.TopologyKey + "/" + string(c.WhenUnsatisfiable)
		if seen.Has(key) {
			errs = append(errs, field.Duplicate(cp, fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
		}
		seen.Insert(key)
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				errs = append(errs, field.Invalid(cp.Child("minDomains"), *c.MinDomains, isNotPositiveMessage))
			}
			if c.WhenUnsatisfiable != corev1.DoNotSchedule {
				errs = append(errs, field.Invalid(cp.Child("minDomains"), *c.MinDomains, fmt.Sprintf("can only use minDomains if whenUnsatisfiable=%s, not %s", corev1.DoNotSchedule, c.WhenUnsatisfiable)))
			}
		}
		if c.NodeAffinityPolicy != nil {
			errs = append(errs, oneOf(*c.NodeAffinityPolicy, cp.Child("nodeAffinityPolicy"), corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore)...)
		}
		if c.NodeTaintsPolicy != nil {
			errs = append(errs, oneOf(*c.NodeTaintsPolicy, cp.Child("nodeTaintsPolicy"), corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore)...)
		}
		errs = append(errs, labelSelector(c.LabelSelector, cp.Child("labelSelector"))...)
		for j, k := range c.MatchLabelKeys {
			errs = append(errs, metav1validation.ValidateLabelName(k, cp.Child("matchLabelKeys").Index(j))...)
		}
	}
	return errs
}
