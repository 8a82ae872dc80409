package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidatePodCreate(t *testing.T) {
	c0 := func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }
	runCreate(t, "pod.yaml", []createCase[*corev1.Pod]{
		{name: "valid"},
		{name: "generated name", mutate: func(p *corev1.Pod) { p.GenerateName = "web-"; p.Name = "web-x7k2p" }},
		// metadata
		{name: "uppercase name", mutate: func(p *corev1.Pod) { p.Name = "Web" }, want: []string{"metadata.name: Invalid value"}},
		{name: "missing name", mutate: func(p *corev1.Pod) { p.Name = "" }, want: []string{"metadata.name: Required value"}},
		{name: "bad generateName", mutate: func(p *corev1.Pod) { p.GenerateName = "Web-" }, want: []string{"metadata.generateName: Invalid value"}},
		{name: "missing namespace", mutate: func(p *corev1.Pod) { p.Namespace = "" }, want: []string{"metadata.namespace: Required value"}},
		{name: "bad namespace", mutate: func(p *corev1.Pod) { p.Namespace = "a.b" }, want: []string{"metadata.namespace: Invalid value"}},
		{name: "bad label key", mutate: func(p *corev1.Pod) { p.Labels["-bad"] = "x" }, want: []string{"metadata.labels: Invalid value"}},
		{name: "bad label value", mutate: func(p *corev1.Pod) { p.Labels["ok"] = "has space" }, want: []string{"metadata.labels: Invalid value"}},
		{name: "bad annotation key", mutate: func(p *corev1.Pod) { p.Annotations["a/b/c"] = "x" }, want: []string{"metadata.annotations: Invalid value"}},
		{name: "annotations too large", mutate: func(p *corev1.Pod) { p.Annotations["big"] = strings.Repeat("x", 256*1024) }, want: []string{"metadata.annotations: Too long"}},
		{name: "bad finalizer", mutate: func(p *corev1.Pod) { p.Finalizers = []string{"a/b/c"} }, want: []string{"metadata.finalizers: Invalid value"}},
		{name: "unqualified finalizer", mutate: func(p *corev1.Pod) { p.Finalizers = []string{"nodomain"} }},
		{name: "good finalizer", mutate: func(p *corev1.Pod) { p.Finalizers = []string{"example.com/cleanup"} }},
		{name: "owner ref missing uid", mutate: func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1"}}
		}, want: []string{"metadata.ownerReferences[0].uid: Required value"}},
		{name: "two controller owners", mutate: func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "a", UID: "1", Controller: ptr(true)},
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "b", UID: "2", Controller: ptr(true)},
			}
		}, want: []string{"metadata.ownerReferences: Invalid value"}},
		// containers
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil }, want: []string{"spec.containers: Required value"}},
		{name: "missing image", mutate: func(p *corev1.Pod) { c0(p).Image = "" }, want: []string{"spec.containers[0].image: Required value"}},
		{name: "image with spaces", mutate: func(p *corev1.Pod) { c0(p).Image = " nginx" }, want: []string{"spec.containers[0].image: Invalid value"}},
		{name: "bad container name", mutate: func(p *corev1.Pod) { c0(p).Name = "App_1" }, want: []string{"spec.containers[0].name: Invalid value"}},
		{name: "duplicate container name", mutate: func(p *corev1.Pod) { p.Spec.Containers[1].Name = "app" }, want: []string{"spec.containers[1].name: Duplicate value"}},
		{name: "init and app share a name", mutate: func(p *corev1.Pod) { p.Spec.InitContainers[0].Name = "app" }, want: []string{"spec.containers[0].name: Duplicate value"}},
		{name: "port out of range", mutate: func(p *corev1.Pod) { c0(p).Ports[0].ContainerPort = 70000 }, want: []string{"spec.containers[0].ports[0].containerPort: Invalid value"}},
		{name: "port missing", mutate: func(p *corev1.Pod) { c0(p).Ports[0].ContainerPort = 0 }, want: []string{"spec.containers[0].ports[0].containerPort: Required value"}},
		{name: "bad protocol", mutate: func(p *corev1.Pod) { c0(p).Ports[0].Protocol = "HTTP" }, want: []string{"spec.containers[0].ports[0].protocol: Unsupported value"}},
		{name: "duplicate port name", mutate: func(p *corev1.Pod) { c0(p).Ports[1].Name = "http" }, want: []string{"spec.containers[0].ports[1].name: Duplicate value"}},
		{name: "bad port name", mutate: func(p *corev1.Pod) { c0(p).Ports[1].Name = "metrics-port-too-long" }, want: []string{"spec.containers[0].ports[1].name: Invalid value"}},
		{name: "duplicate host port", mutate: func(p *corev1.Pod) {
			c0(p).Ports[0].HostPort = 8080
			c0(p).Ports[1].HostPort = 8080
		}, want: []string{"spec.containers[0].ports[1].hostPort: Duplicate value"}},
		{name: "hostNetwork port mismatch", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			c0(p).Ports[0].HostPort = 8080
		}, want: []string{"spec.containers[0].ports[0].hostPort: Invalid value"}},
		{name: "bad env name", mutate: func(p *corev1.Pod) { c0(p).Env[0].Name = "A=B" }, want: []string{"spec.containers[0].env[0].name: Invalid value"}},
		{name: "env name required", mutate: func(p *corev1.Pod) { c0(p).Env[0].Name = "" }, want: []string{"spec.containers[0].env[0].name: Required value"}},
		{name: "valueFrom with value", mutate: func(p *corev1.Pod) { c0(p).Env[1].Value = "x" }, want: []string{"spec.containers[0].env[1].valueFrom: Invalid value"}},
		{name: "valueFrom with two sources", mutate: func(p *corev1.Pod) {
			c0(p).Env[1].ValueFrom.SecretKeyRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}
		}, want: []string{"spec.containers[0].env[1].valueFrom: Invalid value"}},
		{name: "valueFrom empty", mutate: func(p *corev1.Pod) { c0(p).Env[1].ValueFrom = &corev1.EnvVarSource{} }, want: []string{"spec.containers[0].env[1].valueFrom: Invalid value"}},
		{name: "unsupported fieldPath", mutate: func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.FieldPath = "spec.containers" }, want: []string{"spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value"}},
		{name: "label fieldPath", mutate: func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.FieldPath = "metadata.labels['app']" }},
		{name: "configMapKeyRef bad key", mutate: func(p *corev1.Pod) { c0(p).Env[2].ValueFrom.ConfigMapKeyRef.Key = "a/b" }, want: []string{"spec.containers[0].env[2].valueFrom.configMapKeyRef.key: Invalid value"}},
		{name: "envFrom without source", mutate: func(p *corev1.Pod) { c0(p).EnvFrom[0].ConfigMapRef = nil }, want: []string{"spec.containers[0].envFrom[0]: Invalid value"}},
		{name: "mount of unknown volume", mutate: func(p *corev1.Pod) { c0(p).VolumeMounts[0].Name = "nope" }, want: []string{"spec.containers[0].volumeMounts[0].name: Not found"}},
		{name: "duplicate mount path", mutate: func(p *corev1.Pod) { c0(p).VolumeMounts[1].MountPath = "/etc/web" }, want: []string{"spec.containers[0].volumeMounts[1].mountPath: Invalid value"}},
		{name: "mount path required", mutate: func(p *corev1.Pod) { c0(p).VolumeMounts[1].MountPath = "" }, want: []string{"spec.containers[0].volumeMounts[1].mountPath: Required value"}},
		{name: "subPath escapes", mutate: func(p *corev1.Pod) { c0(p).VolumeMounts[1].SubPath = "../etc" }, want: []string{"spec.containers[0].volumeMounts[1].subPath: Invalid value"}},
		{name: "request above limit", mutate: func(p *corev1.Pod) { c0(p).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2") }, want: []string{"spec.containers[0].resources.requests[cpu]: Invalid value"}},
		{name: "negative request", mutate: func(p *corev1.Pod) { c0(p).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("-1") }, want: []string{"spec.containers[0].resources.requests[memory]: Invalid value"}},
		{name: "unknown unprefixed resource", mutate: func(p *corev1.Pod) { c0(p).Resources.Limits["gpus"] = resource.MustParse("1") }, want: []string{"spec.containers[0].resources.limits[gpus]: Invalid value"}},
		{name: "extended resource", mutate: func(p *corev1.Pod) {
			c0(p).Resources.Limits["example.com/gpu"] = resource.MustParse("1")
			c0(p).Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}},
		{name: "extended resource request without limit", mutate: func(p *corev1.Pod) { c0(p).Resources.Requests["example.com/gpu"] = resource.MustParse("1") }, want: []string{"spec.containers[0].resources.limits[example.com/gpu]: Required value"}},
		{name: "extended resource overcommit", mutate: func(p *corev1.Pod) {
			c0(p).Resources.Limits["example.com/gpu"] = resource.MustParse("2")
			c0(p).Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}, want: []string{"spec.containers[0].resources.requests[example.com/gpu]: Invalid value"}},
		{name: "probe without handler", mutate: func(p *corev1.Pod) { c0(p).LivenessProbe.HTTPGet = nil }, want: []string{"spec.containers[0].livenessProbe: Required value"}},
		{name: "probe with two handlers", mutate: func(p *corev1.Pod) {
			c0(p).LivenessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, want: []string{"spec.containers[0].livenessProbe: Forbidden"}},
		{name: "liveness success threshold", mutate: func(p *corev1.Pod) { c0(p).LivenessProbe.SuccessThreshold = 2 }, want: []string{"spec.containers[0].livenessProbe.successThreshold: Invalid value"}},
		{name: "readiness success threshold", mutate: func(p *corev1.Pod) { c0(p).ReadinessProbe.SuccessThreshold = 2 }},
		{name: "negative probe period", mutate: func(p *corev1.Pod) { c0(p).ReadinessProbe.PeriodSeconds = -1 }, want: []string{"spec.containers[0].readinessProbe.periodSeconds: Invalid value"}},
		{name: "probe bad port", mutate: func(p *corev1.Pod) { c0(p).ReadinessProbe.TCPSocket.Port = intstr.FromInt32(0) }, want: []string{"spec.containers[0].readinessProbe.tcpSocket.port: Invalid value"}},
		{name: "init container probe", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}, want: []string{"spec.initContainers[0].readinessProbe: Forbidden"}},
		{name: "sidecar init container with probe", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
		}},
		{name: "container restartPolicy on app container", mutate: func(p *corev1.Pod) { c0(p).RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways) }, want: []string{"spec.containers[0].restartPolicy: Forbidden"}},
		{name: "bad pull policy", mutate: func(p *corev1.Pod) { c0(p).ImagePullPolicy = "Sometimes" }, want: []string{"spec.containers[0].imagePullPolicy: Unsupported value"}},
		{name: "negative runAsUser", mutate: func(p *corev1.Pod) { c0(p).SecurityContext.RunAsUser = ptr(int64(-1)) }, want: []string{"spec.containers[0].securityContext.runAsUser: Invalid value"}},
		{name: "privileged without escalation", mutate: func(p *corev1.Pod) { c0(p).SecurityContext.Privileged = ptr(true) }, want: []string{"spec.containers[0].securityContext: Invalid value"}},
		// volumes
		{name: "volume without source", mutate: func(p *corev1.Pod) { p.Spec.Volumes[1].EmptyDir = nil }, want: []string{"spec.volumes[1]: Required value"}},
		{name: "volume with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[1].HostPath = &corev1.HostPathVolumeSource{Path: "/tmp"}
		}, want: []string{"spec.volumes[1].emptyDir: Forbidden"}},
		{name: "duplicate volume", mutate: func(p *corev1.Pod) { p.Spec.Volumes[1].Name = "config" }, want: []string{"spec.volumes[1].name: Duplicate value", "spec.containers[0].volumeMounts[1].name: Not found"}},
		{name: "bad volume name", mutate: func(p *corev1.Pod) { p.Spec.Volumes[2].Name = "Creds" }, want: []string{"spec.volumes[2].name: Invalid value"}},
		{name: "secret without name", mutate: func(p *corev1.Pod) { p.Spec.Volumes[2].Secret.SecretName = "" }, want: []string{"spec.volumes[2].secret.secretName: Required value"}},
		{name: "bad defaultMode", mutate: func(p *corev1.Pod) { p.Spec.Volumes[0].ConfigMap.DefaultMode = ptr(int32(0o1777)) }, want: []string{"spec.volumes[0].configMap.defaultMode: Invalid value"}},
		{name: "item path escapes", mutate: func(p *corev1.Pod) { p.Spec.Volumes[2].Secret.Items[0].Path = "../token" }, want: []string{"spec.volumes[2].secret.items[0].path: Invalid value"}},
		{name: "hostPath without path", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[1].EmptyDir = nil
			p.Spec.Volumes[1].HostPath = &corev1.HostPathVolumeSource{}
		}, want: []string{"spec.volumes[1].hostPath.path: Required value"}},
		// pod-level fields
		{name: "bad restartPolicy", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, want: []string{"spec.restartPolicy: Unsupported value"}},
		{name: "bad dnsPolicy", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, want: []string{"spec.dnsPolicy: Unsupported value"}},
		{name: "dnsPolicy None without config", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, want: []string{"spec.dnsConfig: Required value"}},
		{name: "dnsPolicy None with config", mutate: func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10"}, Searches: []string{"svc.cluster.local"}}
		}},
		{name: "bad nameserver", mutate: func(p *corev1.Pod) { p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"dns"}} }, want: []string{"spec.dnsConfig.nameservers[0]: Invalid value"}},
		{name: "bad nodeSelector", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector["bad key!"] = "x" }, want: []string{"spec.nodeSelector: Invalid value"}},
		{name: "negative grace period", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-5)) }, want: []string{"spec.terminationGracePeriodSeconds: Invalid value"}},
		{name: "zero active deadline", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }, want: []string{"spec.activeDeadlineSeconds: Invalid value"}},
		{name: "bad serviceAccountName", mutate: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Builder" }, want: []string{"spec.serviceAccountName: Invalid value"}},
		{name: "bad hostname", mutate: func(p *corev1.Pod) { p.Spec.Hostname = "a.b" }, want: []string{"spec.hostname: Invalid value"}},
		{name: "ephemeral containers on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, want: []string{"spec.ephemeralContainers: Forbidden"}},
		// scheduling
		{name: "toleration Exists with value", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].Value = "x" }, want: []string{"spec.tolerations[0].operator: Invalid value"}},
		{name: "toleration bad operator", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].Operator = "Near" }, want: []string{"spec.tolerations[0].operator: Unsupported value"}},
		{name: "toleration bad effect", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = "Evict" }, want: []string{"spec.tolerations[0].effect: Unsupported value", "spec.tolerations[0].effect: Invalid value"}},
		{name: "tolerationSeconds without NoExecute", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = corev1.TaintEffectNoSchedule }, want: []string{"spec.tolerations[0].effect: Invalid value"}},
		{name: "empty key needs Exists", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpEqual, Value: "x"})
		}, want: []string{"spec.tolerations[1].operator: Invalid value"}},
		{name: "tolerate everything", mutate: func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}} }},
		{name: "node affinity without terms", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = nil
		}, want: []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value"}},
		{name: "node affinity bad operator", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Operator = "Like"
		}, want: []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value"}},
		{name: "node affinity Exists with values", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Operator = "Exists"
		}, want: []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Forbidden"}},
		{name: "preferred weight out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight = 0
		}, want: []string{"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value"}},
		{name: "pod anti-affinity without topologyKey", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey = ""
		}, want: []string{"spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey: Required value"}},
		{name: "matchFields with wrong key", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields = []corev1.NodeSelectorRequirement{{Key: "metadata.uid", Operator: "In", Values: []string{"x"}}}
		}, want: []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key: Unsupported value"}},
		{name: "spread maxSkew zero", mutate: func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].MaxSkew = 0 }, want: []string{"spec.topologySpreadConstraints[0].maxSkew: Invalid value"}},
		{name: "spread bad whenUnsatisfiable", mutate: func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = "Maybe" }, want: []string{"spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value"}},
		{name: "spread duplicate", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, p.Spec.TopologySpreadConstraints[0])
		}, want: []string{"spec.topologySpreadConstraints[1]: Duplicate value"}},
		{name: "spread minDomains with ScheduleAnyway", mutate: func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].MinDomains = ptr(int32(2)) }, want: []string{"spec.topologySpreadConstraints[0].minDomains: Invalid value"}},
		{name: "bad priorityClassName", mutate: func(p *corev1.Pod) { p.Spec.PriorityClassName = "High_Priority" }, want: []string{"spec.priorityClassName: Invalid value"}},
		{name: "bad preemptionPolicy", mutate: func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptr(corev1.PreemptionPolicy("Always")) }, want: []string{"spec.preemptionPolicy: Unsupported value"}},
		{name: "pod-level resources", mutate: func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
		}},
		{name: "pod-level ephemeral-storage", mutate: func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("2Gi")}}
		}, want: []string{"spec.resources.limits[ephemeral-storage]: Unsupported value"}},
		{name: "resize policy", mutate: func(p *corev1.Pod) {
			c0(p).ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired}}
		}},
		{name: "bad resize policy", mutate: func(p *corev1.Pod) {
			c0(p).ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: "gpu", RestartPolicy: "Sometimes"}}
		}, want: []string{"spec.containers[0].resizePolicy[0].resourceName: Unsupported value", "spec.containers[0].resizePolicy[0].restartPolicy: Unsupported value"}},
		{name: "bad sysctl", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "Net.Core", Value: "1"}} }, want: []string{"spec.securityContext.sysctls[0].name: Invalid value"}},
	})
}

func TestPodErrorMessages(t *testing.T) {
	// The rendered errors are what kubectl prints; keep them upstream-shaped.
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   string
	}{
		{"image required", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, "spec.containers[0].image: Required value"},
		{"name format", func(p *corev1.Pod) { p.Name = "Foo" }, `metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"restart policy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, `spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`},
		{"request above limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
		}, `spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1`},
		{"mount not found", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" }, `spec.containers[0].volumeMounts[0].name: Not found: "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load[corev1.Pod](t, "pod.yaml")
			tt.mutate(p)
			errs := ValidateCreate(p)
			if len(errs) != 1 {
				t.Fatalf("want 1 error, got %v", errs)
			}
			if got := errs[0].Error(); got != tt.want {
				t.Errorf("message\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	runUpdate(t, "pod.yaml", false, []updateCase[*corev1.Pod]{
		{name: "no change"},
		{name: "image change", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }},
		{name: "init image change", mutate: func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:1.37" }},
		{name: "labels change", mutate: func(p *corev1.Pod) { p.Labels["version"] = "2" }},
		{name: "add toleration", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
		}},
		{name: "shrink tolerationSeconds", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(60)) }},
		{name: "grow tolerationSeconds", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(600)) }, want: []string{"spec.tolerations: Forbidden"}},
		{name: "remove toleration", mutate: func(p *corev1.Pod) { p.Spec.Tolerations = nil }, want: []string{"spec.tolerations: Forbidden"}},
		{name: "lower activeDeadlineSeconds", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(60)) }},
		{name: "raise activeDeadlineSeconds", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(7200)) }, want: []string{"spec.activeDeadlineSeconds: Invalid value"}},
		{name: "unset activeDeadlineSeconds", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, want: []string{"spec.activeDeadlineSeconds: Invalid value"}},
		{name: "grace period change", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(1)) }, want: []string{"spec: Forbidden"}},
		{name: "negative grace period fixed to 1", old: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) }, mutate: func(p *corev1.Pod) {
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(1))
		}},
		{name: "container env change", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Value = "dev" }, want: []string{"spec: Forbidden"}},
		{name: "nodeName change", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, want: []string{"spec: Forbidden"}},
		{name: "add container", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "x", Image: "x", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"})
		}, want: []string{"spec: Forbidden"}},
		{name: "remove scheduling gate", old: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }},
		{name: "add scheduling gate", mutate: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, want: []string{"spec.schedulingGates: Forbidden"}},
		{name: "missing resourceVersion", mutate: func(p *corev1.Pod) { p.ResourceVersion = "" }, want: []string{"metadata.resourceVersion: Invalid value"}},
		{name: "rename", mutate: func(p *corev1.Pod) { p.Name = "other" }, want: []string{"metadata.name: Invalid value"}},
		{name: "change uid", old: func(p *corev1.Pod) { p.UID = "a" }, mutate: func(p *corev1.Pod) { p.UID = "b" }, want: []string{"metadata.uid: Invalid value"}},
		{name: "add finalizer while deleting", old: func(p *corev1.Pod) {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}, mutate: func(p *corev1.Pod) { p.Finalizers = []string{"example.com/x"} }, want: []string{"metadata.finalizers: Forbidden"}},
	})
}

func TestValidatePodStatusUpdate(t *testing.T) {
	running := func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = "10.244.1.5"
		p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
		p.Status.HostIP = "10.0.0.11"
		p.Status.HostIPs = []corev1.HostIP{{IP: "10.0.0.11"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
	runUpdate(t, "pod.yaml", true, []updateCase[*corev1.Pod]{
		{name: "set running", old: func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }, mutate: running},
		{name: "bad phase", mutate: func(p *corev1.Pod) { p.Status.Phase = "Sleeping" }, want: []string{"status.phase: Unsupported value"}},
		{name: "bad podIP", mutate: func(p *corev1.Pod) { p.Status.PodIP = "10.1" }, want: []string{"status.podIP: Invalid value"}},
		{name: "podIPs disagree", mutate: func(p *corev1.Pod) {
			p.Status.PodIP = "10.0.0.1"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.2"}}
		}, want: []string{"status.podIPs[0].ip: Invalid value"}},
		{name: "leave terminal phase", old: func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, mutate: func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }, want: []string{"status.phase: Forbidden"}},
		{name: "unknown container status", mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "ghost"}}
		}, want: []string{"status.containerStatuses[0].name: Not found"}},
		{name: "restart after termination with Never", old: func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
		}, mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}, want: []string{"status.containerStatuses[0].state: Forbidden"}},
		{name: "custom condition type", mutate: func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/Warm", Status: corev1.ConditionTrue}}
		}},
	})
}
