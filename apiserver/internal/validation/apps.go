package validation

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateWorkloadSelector checks a required selector and that it selects
// the template's labels.
func validateWorkloadSelector(sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, kind string, p *field.Path) field.ErrorList {
	sp := p.Child("selector")
	if sel == nil {
		return field.ErrorList{field.Required(sp, "")}
	}
	errs := labelSelector(sel, sp)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(sp, sel, "empty selector is invalid for "+kind))
	}
	if len(errs) > 0 {
		return errs
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(sp, sel, err.Error()))
	}
	if tmpl != nil && !s.Matches(labels.Set(tmpl.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

// validateControllerTemplate validates the pod template of a controller whose
// pods always restart.
func validateControllerTemplate(t *corev1.PodTemplateSpec, kind string, p *field.Path, extraVolumes ...string) field.ErrorList {
	errs := validatePodTemplateSpec(t, p, podSpecOpts{
		allowedRestartPolicies: []corev1.RestartPolicy{corev1.RestartPolicyAlways},
		extraVolumes:           extraVolumes,
	})
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}

func getIntOrPercent(v intstr.IntOrString) (int, bool) {
	if v.Type == intstr.String {
		n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
		return n, err == nil && strings.HasSuffix(v.StrVal, "%")
	}
	return int(v.IntVal), false
}

func validateIntOrPercent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	var errs field.ErrorList
	if v.Type == intstr.String {
		for _, msg := range utilvalidation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(p, v, msg))
		}
		if len(errs) == 0 {
			if n, _ := getIntOrPercent(*v); n < 0 {
				errs = append(errs, field.Invalid(p, v, isNegativeErrorMsg))
			}
		}
		return errs
	}
	return nonNegative(int64(v.IntVal), p)
}

func notMoreThan100Percent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	if n, pct := getIntOrPercent(*v); pct && n > 100 {
		return field.ErrorList{field.Invalid(p, v, "must not be greater than 100%")}
	}
	return nil
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return true
	}
	n, _ := getIntOrPercent(*v)
	return n == 0
}

func replicasPtr(r *int32, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	return nonNegative(int64(*r), p)
}

// ---- Deployment ----

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := metaCreate(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateDeploymentSpec(&d.Spec, specPath)...)
}

func validateDeploymentSpec(s *appsv1.DeploymentSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, replicasPtr(s.Replicas, p.Child("replicas"))...)
	errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "deployment", p)...)
	errs = append(errs, validateControllerTemplate(&s.Template, "ReplicaSet", p.Child("template"))...)
	sp := p.Child("strategy")
	switch s.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if ru := s.Strategy.RollingUpdate; ru != nil {
			rp := sp.Child("rollingUpdate")
			errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
			if isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
			}
			errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		}
	case "":
		errs = append(errs, field.Required(sp.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), s.Strategy.Type, []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.RevisionHistoryLimit), p.Child("revisionHistoryLimit"))...)
	}
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	if s.ProgressDeadlineSeconds != nil {
		pd := p.Child("progressDeadlineSeconds")
		errs = append(errs, nonNegative(int64(*s.ProgressDeadlineSeconds), pd)...)
		if *s.ProgressDeadlineSeconds <= s.MinReadySeconds {
			errs = append(errs, field.Invalid(pd, *s.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := metaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateDeploymentSpec(&d.Spec, specPath)...)
	return append(errs, immutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

type replicaCounts struct {
	name string
	v    int32
}

func validateCounts(p *field.Path, observedGeneration int64, counts ...replicaCounts) field.ErrorList {
	errs := nonNegative(observedGeneration, p.Child("observedGeneration"))
	for _, c := range counts {
		errs = append(errs, nonNegative(int64(c.v), p.Child(c.name))...)
	}
	return errs
}

func notGreater(p *field.Path, name string, v int32, limitName string, limit int32) field.ErrorList {
	if v > limit {
		return field.ErrorList{field.Invalid(p.Child(name), v, "cannot be greater than status."+limitName)}
	}
	return nil
}

func validateDeploymentStatus(s *appsv1.DeploymentStatus, p *field.Path) field.ErrorList {
	errs := validateCounts(p, s.ObservedGeneration,
		replicaCounts{"replicas", s.Replicas}, replicaCounts{"updatedReplicas", s.UpdatedReplicas},
		replicaCounts{"readyReplicas", s.ReadyReplicas}, replicaCounts{"availableReplicas", s.AvailableReplicas},
		replicaCounts{"unavailableReplicas", s.UnavailableReplicas})
	if s.TerminatingReplicas != nil {
		errs = append(errs, nonNegative(int64(*s.TerminatingReplicas), p.Child("terminatingReplicas"))...)
	}
	if s.CollisionCount != nil {
		errs = append(errs, nonNegative(int64(*s.CollisionCount), p.Child("collisionCount"))...)
	}
	errs = append(errs, notGreater(p, "updatedReplicas", s.UpdatedReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "readyReplicas", s.ReadyReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "availableReplicas", s.AvailableReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "availableReplicas", s.AvailableReplicas, "readyReplicas", s.ReadyReplicas)...)
	return errs
}

// ---- ReplicaSet ----

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := metaCreate(&rs.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateReplicaSetSpec(&rs.Spec, specPath)...)
}

func validateReplicaSetSpec(s *appsv1.ReplicaSetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, replicasPtr(s.Replicas, p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "replicaset", p)...)
	errs = append(errs, validateControllerTemplate(&s.Template, "ReplicaSet", p.Child("template"))...)
	return errs
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := metaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateReplicaSetSpec(&rs.Spec, specPath)...)
	return append(errs, immutable(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateReplicaSetStatus(s *appsv1.ReplicaSetStatus, p *field.Path) field.ErrorList {
	errs := validateCounts(p, s.ObservedGeneration,
		replicaCounts{"replicas", s.Replicas}, replicaCounts{"fullyLabeledReplicas", s.FullyLabeledReplicas},
		replicaCounts{"readyReplicas", s.ReadyReplicas}, replicaCounts{"availableReplicas", s.AvailableReplicas})
	if s.TerminatingReplicas != nil {
		errs = append(errs, nonNegative(int64(*s.TerminatingReplicas), p.Child("terminatingReplicas"))...)
	}
	errs = append(errs, notGreater(p, "fullyLabeledReplicas", s.FullyLabeledReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "readyReplicas", s.ReadyReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "availableReplicas", s.AvailableReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "availableReplicas", s.AvailableReplicas, "readyReplicas", s.ReadyReplicas)...)
	return errs
}

// ---- DaemonSet ----

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := metaCreate(&ds.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateDaemonSetSpec(&ds.Spec, specPath)...)
}

func validateDaemonSetSpec(s *appsv1.DaemonSetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "daemonset", p)...)
	errs = append(errs, validateControllerTemplate(&s.Template, "DaemonSet", p.Child("template"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.RevisionHistoryLimit), p.Child("revisionHistoryLimit"))...)
	}
	up := p.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			rp := up.Child("rollingUpdate")
			errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
			errs = append(errs, notMoreThan100Percent(ru.MaxSurge, rp.Child("maxSurge"))...)
			if isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "cannot be 0 when maxSurge is 0"))
			}
		}
	case "":
		errs = append(errs, field.Required(up.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(up.Child("type"), s.UpdateStrategy.Type, []appsv1.DaemonSetUpdateStrategyType{appsv1.OnDeleteDaemonSetStrategyType, appsv1.RollingUpdateDaemonSetStrategyType}))
	}
	return errs
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := metaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateDaemonSetSpec(&ds.Spec, specPath)...)
	return append(errs, immutable(ds.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateDaemonSetStatus(s *appsv1.DaemonSetStatus, p *field.Path) field.ErrorList {
	errs := validateCounts(p, s.ObservedGeneration,
		replicaCounts{"currentNumberScheduled", s.CurrentNumberScheduled}, replicaCounts{"numberMisscheduled", s.NumberMisscheduled},
		replicaCounts{"desiredNumberScheduled", s.DesiredNumberScheduled}, replicaCounts{"numberReady", s.NumberReady},
		replicaCounts{"updatedNumberScheduled", s.UpdatedNumberScheduled}, replicaCounts{"numberAvailable", s.NumberAvailable},
		replicaCounts{"numberUnavailable", s.NumberUnavailable})
	if s.CollisionCount != nil {
		errs = append(errs, nonNegative(int64(*s.CollisionCount), p.Child("collisionCount"))...)
	}
	return errs
}

// ---- StatefulSet ----

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	errs := metaCreate(&ss.ObjectMeta, true, apivalidation.NameIsDNSLabel)
	return append(errs, validateStatefulSetSpec(&ss.Spec, specPath)...)
}

func validateStatefulSetSpec(s *appsv1.StatefulSetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, oneOf(s.PodManagementPolicy, p.Child("podManagementPolicy"), appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)...)
	up := p.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate"), s.UpdateStrategy.RollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			rp := up.Child("rollingUpdate")
			if ru.Partition != nil {
				errs = append(errs, nonNegative(int64(*ru.Partition), rp.Child("partition"))...)
			}
			if ru.MaxUnavailable != nil {
				errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
				errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
				if isZero(ru.MaxUnavailable) {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "cannot be 0"))
				}
			}
		}
	case "":
		errs = append(errs, field.Required(up, "must specify a type"))
	default:
		errs = append(errs, field.NotSupported(up.Child("type"), s.UpdateStrategy.Type, []appsv1.StatefulSetUpdateStrategyType{appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType}))
	}
	if pol := s.PersistentVolumeClaimRetentionPolicy; pol != nil {
		pp := p.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, oneOf(pol.WhenDeleted, pp.Child("whenDeleted"), appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType)...)
		errs = append(errs, oneOf(pol.WhenScaled, pp.Child("whenScaled"), appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType)...)
	}
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.RevisionHistoryLimit), p.Child("revisionHistoryLimit"))...)
	}
	errs = append(errs, replicasPtr(s.Replicas, p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	if s.Ordinals != nil {
		errs = append(errs, nonNegative(int64(s.Ordinals.Start), p.Child("ordinals", "start"))...)
	}
	if s.ServiceName != "" {
		errs = append(errs, dnsLabel(s.ServiceName, p.Child("serviceName"))...)
	}
	errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "statefulset", p)...)
	claims := make([]string, 0, len(s.VolumeClaimTemplates))
	for _, c := range s.VolumeClaimTemplates {
		claims = append(claims, c.Name)
	}
	errs = append(errs, validateControllerTemplate(&s.Template, "StatefulSet", p.Child("template"), claims...)...)
	for i, pvc := range s.VolumeClaimTemplates {
		vp := p.Child("volumeClaimTemplates").Index(i)
		errs = append(errs, apivalidation.ValidateObjectMeta(&pvc.ObjectMeta, false, func(string, bool) []string { return nil }, vp.Child("metadata"))...)
		if pvc.Name == "" {
			continue
		}
		errs = append(errs, dnsSubdomain(pvc.Name, vp.Child("metadata", "name"))...)
		if len(pvc.Spec.AccessModes) == 0 {
			errs = append(errs, field.Required(vp.Child("spec", "accessModes"), "at least 1 access mode is required"))
		}
	}
	return errs
}

func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := metaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateStatefulSetSpec(&ss.Spec, specPath)...)
	munged := *ss.Spec.DeepCopy()
	munged.Replicas = old.Spec.Replicas
	munged.Ordinals = old.Spec.Ordinals
	munged.Template = old.Spec.Template
	munged.UpdateStrategy = old.Spec.UpdateStrategy
	munged.RevisionHistoryLimit = old.Spec.RevisionHistoryLimit
	munged.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	munged.MinReadySeconds = old.Spec.MinReadySeconds
	if !apiequality.Semantic.DeepEqual(munged, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

func validateStatefulSetStatus(s *appsv1.StatefulSetStatus, p *field.Path) field.ErrorList {
	errs := validateCounts(p, s.ObservedGeneration,
		replicaCounts{"replicas", s.Replicas}, replicaCounts{"readyReplicas", s.ReadyReplicas},
		replicaCounts{"currentReplicas", s.CurrentReplicas}, replicaCounts{"updatedReplicas", s.UpdatedReplicas},
		replicaCounts{"availableReplicas", s.AvailableReplicas})
	if s.CollisionCount != nil {
		errs = append(errs, nonNegative(int64(*s.CollisionCount), p.Child("collisionCount"))...)
	}
	errs = append(errs, notGreater(p, "readyReplicas", s.ReadyReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "currentReplicas", s.CurrentReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "updatedReplicas", s.UpdatedReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "availableReplicas", s.AvailableReplicas, "replicas", s.Replicas)...)
	errs = append(errs, notGreater(p, "availableReplicas", s.AvailableReplicas, "readyReplicas", s.ReadyReplicas)...)
	return errs
}

// ---- ControllerRevision ----

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := metaCreate(&cr.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, nonNegative(cr.Revision, field.NewPath("revision"))...)
}

// sameRaw reports whether two raw values hold the same data, ignoring JSON
// whitespace: storage keeps the bytes a client sent, while a client that
// read the object as JSON sends them back compacted.
func sameRaw(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	errs := metaUpdate(&cr.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, nonNegative(cr.Revision, field.NewPath("revision"))...)
	if !sameRaw(cr.Data.Raw, old.Data.Raw) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "<raw data>", fieldImmutableMsg))
	}
	return errs
}
