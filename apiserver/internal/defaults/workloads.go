package defaults

import (
	"math"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

const (
	defaultRevisionHistoryLimit    = 10
	defaultProgressDeadlineSeconds = 600
	defaultJobBackoffLimit         = 6
	defaultSuccessfulJobsHistory   = 3
	defaultFailedJobsHistory       = 1
	defaultPluginTimeoutMillis     = 100
	defaultSchedulerPluginWeight   = 1
	// legacy label keys the Job controller still sets next to the prefixed ones.
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
)

func deployment(d *appsv1.Deployment) {
	setInt32(&d.Spec.Replicas, 1)
	st := &d.Spec.Strategy
	if st.Type == "" {
		st.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if st.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if st.RollingUpdate == nil {
			st.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if st.RollingUpdate.MaxUnavailable == nil {
			st.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("25%"))
		}
		if st.RollingUpdate.MaxSurge == nil {
			st.RollingUpdate.MaxSurge = ptr(intstr.FromString("25%"))
		}
	}
	setInt32(&d.Spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	setInt32(&d.Spec.ProgressDeadlineSeconds, defaultProgressDeadlineSeconds)
	podTemplateSpec(&d.Spec.Template)
}

func daemonSet(ds *appsv1.DaemonSet) {
	st := &ds.Spec.UpdateStrategy
	if st.Type == "" {
		st.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if st.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if st.RollingUpdate == nil {
			st.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if st.RollingUpdate.MaxUnavailable == nil {
			st.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(1))
		}
		if st.RollingUpdate.MaxSurge == nil {
			st.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(0))
		}
	}
	setInt32(&ds.Spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	podTemplateSpec(&ds.Spec.Template)
}

func statefulSet(ss *appsv1.StatefulSet) {
	s := &ss.Spec
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if s.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && s.UpdateStrategy.RollingUpdate != nil {
		setInt32(&s.UpdateStrategy.RollingUpdate.Partition, 0)
	}
	if s.PersistentVolumeClaimRetentionPolicy == nil {
		s.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if s.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		s.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	setInt32(&s.Replicas, 1)
	setInt32(&s.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	for i := range s.VolumeClaimTemplates {
		pvcSpec(&s.VolumeClaimTemplates[i].Spec)
	}
	podTemplateSpec(&s.Template)
}

// job applies SetDefaults_Job and, when the Job has a UID and no manual
// selector, generates the selector and pod labels as upstream's Job strategy
// does on create.
func job(j *batchv1.Job) {
	s := &j.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = ptr(int32(1))
		s.Parallelism = ptr(int32(1))
	}
	setInt32(&s.Parallelism, 1)
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = ptr(int32(math.MaxInt32))
		} else {
			s.BackoffLimit = ptr(int32(defaultJobBackoffLimit))
		}
	}
	if s.CompletionMode == nil {
		s.CompletionMode = ptr(batchv1.NonIndexedCompletion)
	}
	setBool(&s.Suspend, false)
	if s.PodFailurePolicy != nil {
		for i := range s.PodFailurePolicy.Rules {
			for k := range s.PodFailurePolicy.Rules[i].OnPodConditions {
				c := &s.PodFailurePolicy.Rules[i].OnPodConditions[k]
				if c.Status == "" {
					c.Status = corev1.ConditionTrue
				}
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = ptr(batchv1.Failed)
		} else {
			s.PodReplacementPolicy = ptr(batchv1.TerminatingOrFailed)
		}
	}
	setBool(&s.ManualSelector, false)
	generateJobSelector(j)
	if len(j.Labels) == 0 && s.Template.Labels != nil {
		j.Labels = make(map[string]string, len(s.Template.Labels))
		for k, v := range s.Template.Labels {
			j.Labels[k] = v
		}
	}
	podTemplateSpec(&s.Template)
}

// generateJobSelector labels the pod template with the Job's name and UID
// and makes the selector match the UID, keeping labels the user set (a
// conflicting value then fails validation).
func generateJobSelector(j *batchv1.Job) {
	if *j.Spec.ManualSelector || j.UID == "" {
		return
	}
	uid := string(j.UID)
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		legacyControllerUIDLabel:   uid,
		batchv1.ControllerUidLabel: uid,
		legacyJobNameLabel:         j.Name,
		batchv1.JobNameLabel:       j.Name,
	} {
		if _, ok := j.Spec.Template.Labels[k]; !ok {
			j.Spec.Template.Labels[k] = v
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = uid
	}
}

func cronJob(cj *batchv1.CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	setBool(&s.Suspend, false)
	setInt32(&s.SuccessfulJobsHistoryLimit, defaultSuccessfulJobsHistory)
	setInt32(&s.FailedJobsHistoryLimit, defaultFailedJobsHistory)
	podTemplateSpec(&s.JobTemplate.Spec.Template)
}

func endpointSlice(es *discoveryv1.EndpointSlice) {
	for i := range es.Ports {
		p := &es.Ports[i]
		if p.Name == nil {
			p.Name = ptr("")
		}
		if p.Protocol == nil {
			p.Protocol = ptr(corev1.ProtocolTCP)
		}
	}
}

func admissionPolicy(ap *pluginsv1alpha1.AdmissionPolicy) {
	s := &ap.Spec
	if s.Mode == "" {
		s.Mode = pluginsv1alpha1.ModeEnforce
	}
	if s.FailurePolicy == nil {
		s.FailurePolicy = ptr(admissionregistrationv1.Fail)
	}
	setInt32(&s.TimeoutMilliseconds, defaultPluginTimeoutMillis)
	for i := range s.Rules {
		if s.Rules[i].Scope == nil {
			s.Rules[i].Scope = ptr(admissionregistrationv1.AllScopes)
		}
	}
}

func schedulerPlugin(sp *pluginsv1alpha1.SchedulerPlugin) {
	s := &sp.Spec
	if s.FailurePolicy == nil {
		s.FailurePolicy = ptr(admissionregistrationv1.Ignore)
	}
	setInt32(&s.TimeoutMilliseconds, defaultPluginTimeoutMillis)
	if s.Weight == 0 {
		s.Weight = defaultSchedulerPluginWeight
	}
}
