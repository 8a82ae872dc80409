package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestValidatePodVolumesAndSecurity(t *testing.T) {
	vol := func(p *corev1.Pod, name string) *corev1.Volume {
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].Name == name {
				return &p.Spec.Volumes[i]
			}
		}
		t.Fatalf("no volume %q in fixture", name)
		return nil
	}
	c0 := func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }
	runCreate(t, "pod-volumes.yaml", []createCase[*corev1.Pod]{
		{name: "valid"},
		{name: "downwardAPI both refs", mutate: func(p *corev1.Pod) {
			v := vol(p, "info")
			v.DownwardAPI.Items[0].ResourceFieldRef = v.DownwardAPI.Items[1].ResourceFieldRef
		}, want: []string{"spec.volumes[0].downwardAPI.items[0]: Invalid value"}},
		{name: "downwardAPI no ref", mutate: func(p *corev1.Pod) { vol(p, "info").DownwardAPI.Items[0].FieldRef = nil }, want: []string{"spec.volumes[0].downwardAPI.items[0]: Required value"}},
		{name: "downwardAPI bad fieldPath", mutate: func(p *corev1.Pod) { vol(p, "info").DownwardAPI.Items[0].FieldRef.FieldPath = "spec.nodeName" }, want: []string{"spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value"}},
		{name: "downwardAPI absolute path", mutate: func(p *corev1.Pod) { vol(p, "info").DownwardAPI.Items[0].Path = "/labels" }, want: []string{"spec.volumes[0].downwardAPI.items[0].path: Invalid value"}},
		{name: "bad resourceFieldRef", mutate: func(p *corev1.Pod) { vol(p, "info").DownwardAPI.Items[1].ResourceFieldRef.Resource = "limits.gpu" }, want: []string{"spec.volumes[0].downwardAPI.items[1].resourceFieldRef.resource: Unsupported value"}},
		{name: "short token expiry", mutate: func(p *corev1.Pod) {
			vol(p, "all").Projected.Sources[0].ServiceAccountToken.ExpirationSeconds = ptr(int64(60))
		}, want: []string{"spec.volumes[1].projected.sources[0].serviceAccountToken.expirationSeconds: Invalid value"}},
		{name: "projected source with two kinds", mutate: func(p *corev1.Pod) {
			s := &vol(p, "all").Projected.Sources[1]
			s.Secret = &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}
		}, want: []string{"spec.volumes[1].projected.sources[1]: Forbidden"}},
		{name: "bad hostPath type", mutate: func(p *corev1.Pod) { vol(p, "logs").HostPath.Type = ptr(corev1.HostPathType("Folder")) }, want: []string{"spec.volumes[2].hostPath.type: Unsupported value"}},
		{name: "relative nfs path", mutate: func(p *corev1.Pod) { vol(p, "share").NFS.Path = "exports" }, want: []string{"spec.volumes[3].nfs.path: Invalid value"}},
		{name: "nfs without server", mutate: func(p *corev1.Pod) { vol(p, "share").NFS.Server = "" }, want: []string{"spec.volumes[3].nfs.server: Required value"}},
		{name: "pvc without claim", mutate: func(p *corev1.Pod) { vol(p, "claim").PersistentVolumeClaim.ClaimName = "" }, want: []string{"spec.volumes[4].persistentVolumeClaim.claimName: Required value"}},
		{name: "csi without driver", mutate: func(p *corev1.Pod) { vol(p, "driver").CSI.Driver = "" }, want: []string{"spec.volumes[5].csi.driver: Required value"}},
		{name: "image volume without reference", mutate: func(p *corev1.Pod) { vol(p, "tools").Image.Reference = "" }, want: []string{"spec.volumes[6].image.reference: Required value"}},
		{name: "ephemeral without template", mutate: func(p *corev1.Pod) { vol(p, "scratch").Ephemeral.VolumeClaimTemplate = nil }, want: []string{"spec.volumes[7].ephemeral.volumeClaimTemplate: Required value"}},
		{name: "emptyDir bad medium", mutate: func(p *corev1.Pod) {
			v := vol(p, "claim")
			v.PersistentVolumeClaim = nil
			v.EmptyDir = &corev1.EmptyDirVolumeSource{Medium: "Disk"}
		}, want: []string{"spec.volumes[4].emptyDir.medium: Unsupported value"}},
		{name: "emptyDir negative size", mutate: func(p *corev1.Pod) {
			v := vol(p, "claim")
			v.PersistentVolumeClaim = nil
			v.EmptyDir = &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("-1Mi"))}
		}, want: []string{"spec.volumes[4].emptyDir.sizeLimit: Invalid value"}},
		{name: "recursiveReadOnly without readOnly", mutate: func(p *corev1.Pod) { c0(p).VolumeMounts[1].ReadOnly = false }, want: []string{"spec.containers[0].volumeMounts[1].recursiveReadOnly: Forbidden"}},
		{name: "bad mountPropagation", mutate: func(p *corev1.Pod) { c0(p).VolumeMounts[2].MountPropagation = ptr(corev1.MountPropagationMode("Both")) }, want: []string{"spec.containers[0].volumeMounts[2].mountPropagation: Unsupported value"}},
		{name: "subPath and subPathExpr", mutate: func(p *corev1.Pod) { c0(p).VolumeMounts[3].SubPath = "x" }, want: []string{"spec.containers[0].volumeMounts[3].subPathExpr: Invalid value"}},
		{name: "env resourceFieldRef bad", mutate: func(p *corev1.Pod) { c0(p).Env[0].ValueFrom.ResourceFieldRef.Resource = "cpu" }, want: []string{"spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: Unsupported value"}},
		{name: "secretKeyRef without name", mutate: func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.SecretKeyRef.Name = "" }, want: []string{"spec.containers[0].env[1].valueFrom.secretKeyRef.name: Required value"}},
		{name: "envFrom both", mutate: func(p *corev1.Pod) {
			c0(p).EnvFrom[0].ConfigMapRef = &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}
		}, want: []string{"spec.containers[0].envFrom[0]: Invalid value"}},
		{name: "lifecycle without handler", mutate: func(p *corev1.Pod) { c0(p).Lifecycle.PostStart.Exec = nil }, want: []string{"spec.containers[0].lifecycle.postStart: Required value"}},
		{name: "negative sleep", mutate: func(p *corev1.Pod) { c0(p).Lifecycle.PreStop.Sleep.Seconds = -1 }, want: []string{"spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value"}},
		{name: "exec without command", mutate: func(p *corev1.Pod) { c0(p).Lifecycle.PostStart.Exec.Command = nil }, want: []string{"spec.containers[0].lifecycle.postStart.exec.command: Required value"}},
		{name: "startup success threshold", mutate: func(p *corev1.Pod) { c0(p).StartupProbe.SuccessThreshold = 3 }, want: []string{"spec.containers[0].startupProbe.successThreshold: Invalid value"}},
		{name: "grpc bad port", mutate: func(p *corev1.Pod) { c0(p).StartupProbe.GRPC.Port = 0 }, want: []string{"spec.containers[0].startupProbe.grpc.port: Invalid value"}},
		{name: "probe zero grace", mutate: func(p *corev1.Pod) { c0(p).StartupProbe.TerminationGracePeriodSeconds = ptr(int64(0)) }, want: []string{"spec.containers[0].startupProbe.terminationGracePeriodSeconds: Invalid value"}},
		{name: "localhost seccomp without profile", mutate: func(p *corev1.Pod) { c0(p).SecurityContext.SeccompProfile.LocalhostProfile = nil }, want: []string{"spec.containers[0].securityContext.seccompProfile.localhostProfile: Required value"}},
		{name: "profile with RuntimeDefault", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile.LocalhostProfile = ptr("x.json") }, want: []string{"spec.securityContext.seccompProfile.localhostProfile: Invalid value"}},
		{name: "bad seccomp type", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile.Type = "Strict" }, want: []string{"spec.securityContext.seccompProfile.type: Unsupported value"}},
		{name: "negative fsGroup", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.FSGroup = ptr(int64(-1)) }, want: []string{"spec.securityContext.fsGroup: Invalid value"}},
		{name: "negative supplemental group", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.SupplementalGroups[0] = -1 }, want: []string{"spec.securityContext.supplementalGroups[0]: Invalid value"}},
		{name: "net sysctl with hostNetwork", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = append(p.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: "net.ipv4.ip_forward", Value: "1"})
		}, want: []string{"spec.securityContext.sysctls[1].name: Invalid value"}},
		{name: "empty sysctl segment", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.Sysctls[0].Name = "kernel..shmmax" }, want: []string{"spec.securityContext.sysctls[0].name: Invalid value"}},
		{name: "slash sysctl", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.Sysctls[0].Name = "kernel/shm_rmid_forced" }},
		{name: "duplicate sysctl", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = append(p.Spec.SecurityContext.Sysctls, p.Spec.SecurityContext.Sysctls[0])
		}, want: []string{"spec.securityContext.sysctls[1].name: Duplicate value"}},
		{name: "hostNetwork hostPort defaulted", mutate: func(p *corev1.Pod) {
			if got := p.Spec.Containers[0].Ports[0].HostPort; got != 8080 {
				t.Errorf("hostPort = %d, want 8080 (defaulted from containerPort)", got)
			}
		}},
	})
}
