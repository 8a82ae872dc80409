package validation

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

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
