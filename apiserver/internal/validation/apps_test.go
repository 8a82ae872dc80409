package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidateDeploymentCreate(t *testing.T) {
	runCreate(t, "deployment.yaml", []createCase[*appsv1.Deployment]{
		{name: "valid"},
		{name: "zero replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(0)) }},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }, want: []string{"spec.replicas: Invalid value"}},
		{name: "missing selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil }, want: []string{"spec.selector: Required value"}},
		{name: "empty selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, want: []string{"spec.selector: Invalid value"}},
		{name: "selector does not match", mutate: func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels["app"] = "api" }, want: []string{"spec.template.metadata.labels: Invalid value"}},
		{name: "bad selector operator", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Like", Values: []string{"x"}}}
		}, want: []string{"spec.selector.matchExpressions[0].operator: Invalid value"}},
		{name: "template restartPolicy Never", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, want: []string{"spec.template.spec.restartPolicy: Unsupported value"}},
		{name: "template missing image", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }, want: []string{"spec.template.spec.containers[0].image: Required value"}},
		{name: "template activeDeadlineSeconds", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(10)) }, want: []string{"spec.template.spec.activeDeadlineSeconds: Forbidden"}},
		{name: "surge and unavailable both zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("0%"))
		}, want: []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{name: "maxUnavailable above 100%", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("150%"))
		}, want: []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{name: "maxSurge not a percent", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("many"))
		}, want: []string{"spec.strategy.rollingUpdate.maxSurge: Invalid value"}},
		{name: "recreate with rollingUpdate", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }, want: []string{"spec.strategy.rollingUpdate: Forbidden"}},
		{name: "recreate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}},
		{name: "bad strategy type", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, want: []string{"spec.strategy.type: Unsupported value"}},
		{name: "negative revisionHistoryLimit", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr(int32(-1)) }, want: []string{"spec.revisionHistoryLimit: Invalid value"}},
		{name: "progress deadline not above minReady", mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 }, want: []string{"spec.progressDeadlineSeconds: Invalid value"}},
	})
}

func TestValidateDeploymentUpdate(t *testing.T) {
	runUpdate(t, "deployment.yaml", false, []updateCase[*appsv1.Deployment]{
		{name: "scale", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(10)) }},
		{name: "new image", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" }},
		{name: "selector change", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels["tier"] = "frontend"
		}, want: []string{"spec.selector: Invalid value"}},
	})
	runUpdate(t, "deployment.yaml", true, []updateCase[*appsv1.Deployment]{
		{name: "status ok", mutate: func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2}
		}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Status.Replicas = -1 }, want: []string{
			"status.replicas: Invalid value", "status.updatedReplicas: Invalid value", "status.readyReplicas: Invalid value", "status.availableReplicas: Invalid value"}},
		{name: "ready above replicas", mutate: func(d *appsv1.Deployment) {
			d.Status.Replicas = 1
			d.Status.ReadyReplicas = 2
			d.Status.AvailableReplicas = 1
		}, want: []string{"status.readyReplicas: Invalid value"}},
	})
}

func TestValidateReplicaSet(t *testing.T) {
	runCreate(t, "replicaset.yaml", []createCase[*appsv1.ReplicaSet]{
		{name: "valid"},
		{name: "negative replicas", mutate: func(r *appsv1.ReplicaSet) { r.Spec.Replicas = ptr(int32(-2)) }, want: []string{"spec.replicas: Invalid value"}},
		{name: "selector does not match", mutate: func(r *appsv1.ReplicaSet) { r.Spec.Template.Labels["app"] = "db" }, want: []string{"spec.template.metadata.labels: Invalid value"}},
		{name: "In without values", mutate: func(r *appsv1.ReplicaSet) { r.Spec.Selector.MatchExpressions[0].Values = nil }, want: []string{"spec.selector.matchExpressions[0].values: Required value"}},
		{name: "negative minReadySeconds", mutate: func(r *appsv1.ReplicaSet) { r.Spec.MinReadySeconds = -1 }, want: []string{"spec.minReadySeconds: Invalid value"}},
	})
	runUpdate(t, "replicaset.yaml", false, []updateCase[*appsv1.ReplicaSet]{
		{name: "scale down", mutate: func(r *appsv1.ReplicaSet) { r.Spec.Replicas = ptr(int32(0)) }},
		{name: "selector change", mutate: func(r *appsv1.ReplicaSet) {
			r.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		}, want: []string{"spec.selector: Invalid value"}},
	})
	runUpdate(t, "replicaset.yaml", true, []updateCase[*appsv1.ReplicaSet]{
		{name: "status ok", mutate: func(r *appsv1.ReplicaSet) {
			r.Status = appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}
		}},
		{name: "available above ready", mutate: func(r *appsv1.ReplicaSet) {
			r.Status = appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2}
		}, want: []string{"status.availableReplicas: Invalid value"}},
	})
}

func TestValidateDaemonSet(t *testing.T) {
	runCreate(t, "daemonset.yaml", []createCase[*appsv1.DaemonSet]{
		{name: "valid"},
		{name: "missing selector", mutate: func(d *appsv1.DaemonSet) { d.Spec.Selector = nil }, want: []string{"spec.selector: Required value"}},
		{name: "both zero", mutate: func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
		}, want: []string{"spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{name: "bad update strategy", mutate: func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.Type = "Canary" }, want: []string{"spec.updateStrategy.type: Unsupported value"}},
		{name: "OnDelete", mutate: func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}},
		{name: "hostNetwork hostPort mismatch", mutate: func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Ports[0].HostPort = 1 }, want: []string{"spec.template.spec.containers[0].ports[0].hostPort: Invalid value"}},
	})
	runUpdate(t, "daemonset.yaml", false, []updateCase[*appsv1.DaemonSet]{
		{name: "template change", mutate: func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "busybox:1.37" }},
		{name: "selector change", mutate: func(d *appsv1.DaemonSet) {
			d.Spec.Selector.MatchLabels["x"] = "y"
			d.Spec.Template.Labels["x"] = "y"
		}, want: []string{"spec.selector: Invalid value"}},
	})
	runUpdate(t, "daemonset.yaml", true, []updateCase[*appsv1.DaemonSet]{
		{name: "negative numberReady", mutate: func(d *appsv1.DaemonSet) { d.Status.NumberReady = -1 }, want: []string{"status.numberReady: Invalid value"}},
	})
}

func TestValidateStatefulSet(t *testing.T) {
	runCreate(t, "statefulset.yaml", []createCase[*appsv1.StatefulSet]{
		{name: "valid"},
		{name: "name must be a DNS label", mutate: func(s *appsv1.StatefulSet) { s.Name = "db.main" }, want: []string{"metadata.name: Invalid value"}},
		{name: "bad podManagementPolicy", mutate: func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, want: []string{"spec.podManagementPolicy: Unsupported value"}},
		{name: "negative partition", mutate: func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(-1)) }, want: []string{"spec.updateStrategy.rollingUpdate.partition: Invalid value"}},
		{name: "OnDelete with rollingUpdate", mutate: func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType }, want: []string{"spec.updateStrategy.rollingUpdate: Invalid value"}},
		{name: "bad retention policy", mutate: func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = "Archive" }, want: []string{"spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value"}},
		{name: "claim template without access modes", mutate: func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil }, want: []string{"spec.volumeClaimTemplates[0].spec.accessModes: Required value"}},
		{name: "selector does not match", mutate: func(s *appsv1.StatefulSet) { s.Spec.Template.Labels = nil }, want: []string{"spec.template.metadata.labels: Invalid value"}},
	})
	runUpdate(t, "statefulset.yaml", false, []updateCase[*appsv1.StatefulSet]{
		{name: "scale and new image", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr(int32(5))
			s.Spec.Template.Spec.Containers[0].Image = "postgres:17"
		}},
		{name: "serviceName change", mutate: func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "db2" }, want: []string{"spec: Forbidden"}},
		{name: "claim template change", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadOnlyMany"}
		}, want: []string{"spec: Forbidden"}},
	})
	runUpdate(t, "statefulset.yaml", true, []updateCase[*appsv1.StatefulSet]{
		{name: "current above replicas", mutate: func(s *appsv1.StatefulSet) { s.Status.CurrentReplicas = 1 }, want: []string{"status.currentReplicas: Invalid value"}},
	})
}

func TestValidateControllerRevision(t *testing.T) {
	runCreate(t, "controllerrevision.yaml", []createCase[*appsv1.ControllerRevision]{
		{name: "valid"},
		{name: "no data", mutate: func(c *appsv1.ControllerRevision) { c.Data = runtime.RawExtension{} }, want: []string{"data: Required value"}},
		{name: "negative revision", mutate: func(c *appsv1.ControllerRevision) { c.Revision = -1 }, want: []string{"revision: Invalid value"}},
	})
	runUpdate(t, "controllerrevision.yaml", false, []updateCase[*appsv1.ControllerRevision]{
		{name: "bump revision", mutate: func(c *appsv1.ControllerRevision) { c.Revision = 3 }},
		{name: "change data", mutate: func(c *appsv1.ControllerRevision) { c.Data.Raw = []byte(`{"x":1}`) }, want: []string{"data: Invalid value"}},
		{name: "same data, other whitespace", mutate: func(c *appsv1.ControllerRevision) {
			c.Data.Raw = []byte("{\n  \"spec\": {\"template\": {\"spec\": {\"containers\": [ ]}}}\n}")
		}},
	})
}
