package validation

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// maxIndexedCompletions bounds completions of an Indexed Job.
	maxIndexedCompletions = 100000
	// maxCronJobNameLength leaves room for the 11-character suffix of the
	// Jobs a CronJob creates.
	maxCronJobNameLength = 52
)

// ---- Job ----

func validateJob(j *batchv1.Job) field.ErrorList {
	errs := metaCreate(&j.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validateGeneratedSelector(j)...)
	return append(errs, validateJobSpec(&j.Spec, specPath, false)...)
}

// validateGeneratedSelector checks that, unless manualSelector is set, the
// selector is the one generated from the Job's UID.
func validateGeneratedSelector(j *batchv1.Job) field.ErrorList {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return nil
	}
	if j.UID == "" || j.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	// Generation put these labels on the template; a user-set conflicting
	// value is an error.
	lp := specPath.Child("template", "metadata", "labels")
	for _, want := range []struct{ key, value string }{
		{legacyControllerUIDLabel, string(j.UID)},
		{batchv1.ControllerUidLabel, string(j.UID)},
		{legacyJobNameLabel, j.Name},
		{batchv1.JobNameLabel, j.Name},
	} {
		got, ok := j.Spec.Template.Labels[want.key]
		switch {
		case !ok:
			errs = append(errs, field.Required(lp.Key(want.key), fmt.Sprintf("must be '%s'", want.value)))
		case got != want.value:
			errs = append(errs, field.Invalid(lp.Key(want.key), got, fmt.Sprintf("must be '%s'", want.value)))
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil {
		return errs // the selector itself is reported by the selector validation
	}
	if !sel.Matches(labels.Set{batchv1.ControllerUidLabel: string(j.UID), legacyControllerUIDLabel: string(j.UID)}) {
		errs = append(errs, field.Invalid(specPath.Child("selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

// Label keys the Job controller sets besides the batch.kubernetes.io ones.
const (
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
)

// validateJobSpec validates a Job spec; inTemplate is true inside a CronJob's
// jobTemplate, where the selector is generated later and must be absent.
func validateJobSpec(s *batchv1.JobSpec, p *field.Path, inTemplate bool) field.ErrorList {
	var errs field.ErrorList
	if s.Parallelism != nil {
		errs = append(errs, nonNegative(int64(*s.Parallelism), p.Child("parallelism"))...)
	}
	if s.Completions != nil {
		errs = append(errs, nonNegative(int64(*s.Completions), p.Child("completions"))...)
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*s.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	}
	if s.BackoffLimit != nil {
		errs = append(errs, nonNegative(int64(*s.BackoffLimit), p.Child("backoffLimit"))...)
	}
	if s.TTLSecondsAfterFinished != nil {
		errs = append(errs, nonNegative(int64(*s.TTLSecondsAfterFinished), p.Child("ttlSecondsAfterFinished"))...)
	}
	indexed := false
	if s.CompletionMode != nil {
		errs = append(errs, oneOf(*s.CompletionMode, p.Child("completionMode"), batchv1.NonIndexedCompletion, batchv1.IndexedCompletion)...)
		indexed = *s.CompletionMode == batchv1.IndexedCompletion
	}
	if indexed {
		if s.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		} else if *s.Completions > maxIndexedCompletions {
			errs = append(errs, field.Invalid(p.Child("completions"), *s.Completions, fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxIndexedCompletions, batchv1.IndexedCompletion)))
		}
	}
	if s.BackoffLimitPerIndex != nil {
		errs = append(errs, nonNegative(int64(*s.BackoffLimitPerIndex), p.Child("backoffLimitPerIndex"))...)
		if !indexed {
			errs = append(errs, field.Forbidden(p.Child("backoffLimitPerIndex"), fmt.Sprintf("requires indexed completion mode")))
		}
	}
	if s.MaxFailedIndexes != nil {
		errs = append(errs, nonNegative(int64(*s.MaxFailedIndexes), p.Child("maxFailedIndexes"))...)
		if s.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(p.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if s.PodReplacementPolicy != nil {
		errs = append(errs, oneOf(*s.PodReplacementPolicy, p.Child("podReplacementPolicy"), batchv1.TerminatingOrFailed, batchv1.Failed)...)
		if s.PodFailurePolicy != nil && *s.PodReplacementPolicy != batchv1.Failed {
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *s.PodReplacementPolicy, []batchv1.PodReplacementPolicy{batchv1.Failed}))
		}
	}
	if s.ManagedBy != nil {
		if *s.ManagedBy == "" {
			errs = append(errs, field.Required(p.Child("managedBy"), ""))
		} else if len(*s.ManagedBy) > 63 {
			errs = append(errs, field.TooLong(p.Child("managedBy"), *s.ManagedBy, 63))
		}
	}
	errs = append(errs, validatePodFailurePolicy(s.PodFailurePolicy, p.Child("podFailurePolicy"))...)

	if inTemplate {
		if s.Selector != nil && (s.ManualSelector == nil || !*s.ManualSelector) {
			errs = append(errs, field.Invalid(p.Child("selector"), s.Selector, "`selector` will be auto-generated"))
		}
	} else {
		errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "job", p)...)
	}
	tp := p.Child("template")
	errs = append(errs, validatePodTemplateSpec(&s.Template, tp, podSpecOpts{
		allowedRestartPolicies: []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever},
	})...)
	if s.PodFailurePolicy != nil && s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		errs = append(errs, field.Invalid(tp.Child("spec", "restartPolicy"), s.Template.Spec.RestartPolicy, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

func validatePodFailurePolicy(pol *batchv1.PodFailurePolicy, p *field.Path) field.ErrorList {
	if pol == nil {
		return nil
	}
	var errs field.ErrorList
	for i, r := range pol.Rules {
		rp := p.Child("rules").Index(i)
		errs = append(errs, oneOf(r.Action, rp.Child("action"), batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionFailIndex,
			batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount)...)
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(rp, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(rp, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := rp.Child("onExitCodes")
			errs = append(errs, oneOf(ec.Operator, ep.Child("operator"), batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn)...)
			if len(ec.Values) == 0 {
				errs = append(errs, field.Invalid(ep.Child("values"), ec.Values, "at least one value is required"))
			}
			for j, v := range ec.Values {
				if v == 0 && ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must not be 0 for the In operator"))
				}
				if j > 0 && v <= ec.Values[j-1] {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must be ordered"))
				}
			}
		}
		for j, c := range r.OnPodConditions {
			cp := rp.Child("onPodConditions").Index(j)
			errs = append(errs, qualifiedName(string(c.Type), cp.Child("type"))...)
			errs = append(errs, oneOf(c.Status, cp.Child("status"), corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown)...)
		}
	}
	return errs
}

func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	errs := metaUpdate(&j.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateJobSpec(&j.Spec, specPath, false)...)
	errs = append(errs, immutable(j.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	errs = append(errs, immutable(j.Spec.CompletionMode, old.Spec.CompletionMode, specPath.Child("completionMode"))...)
	errs = append(errs, immutable(j.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(j.Spec.BackoffLimitPerIndex, old.Spec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, immutable(j.Spec.ManagedBy, old.Spec.ManagedBy, specPath.Child("managedBy"))...)
	// Completions may change only for elastic Indexed Jobs, together with parallelism.
	indexed := j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
	if !apiequality.Semantic.DeepEqual(j.Spec.Completions, old.Spec.Completions) {
		if !indexed || j.Spec.Completions == nil || j.Spec.Parallelism == nil || *j.Spec.Completions != *j.Spec.Parallelism {
			errs = append(errs, field.Invalid(specPath.Child("completions"), j.Spec.Completions, fieldImmutableMsg))
		}
	}
	// The template is immutable, except that a suspended Job that never
	// started may change its scheduling directives.
	tmpl := j.Spec.Template.DeepCopy()
	if suspendedNeverStarted(old) {
		tmpl.Spec.NodeSelector = old.Spec.Template.Spec.NodeSelector
		tmpl.Spec.Affinity = old.Spec.Template.Spec.Affinity
		tmpl.Spec.Tolerations = old.Spec.Template.Spec.Tolerations
		tmpl.Spec.SchedulingGates = old.Spec.Template.Spec.SchedulingGates
		tmpl.Labels = old.Spec.Template.Labels
		tmpl.Annotations = old.Spec.Template.Annotations
	}
	if !apiequality.Semantic.DeepEqual(tmpl, &old.Spec.Template) {
		errs = append(errs, field.Invalid(specPath.Child("template"), field.OmitValueType{}, fieldImmutableMsg))
	}
	return errs
}

func suspendedNeverStarted(j *batchv1.Job) bool {
	return j.Spec.Suspend != nil && *j.Spec.Suspend && j.Status.StartTime == nil
}

func validateJobStatus(s *batchv1.JobStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegative(int64(s.Active), p.Child("active"))...)
	errs = append(errs, nonNegative(int64(s.Succeeded), p.Child("succeeded"))...)
	errs = append(errs, nonNegative(int64(s.Failed), p.Child("failed"))...)
	if s.Ready != nil {
		errs = append(errs, nonNegative(int64(*s.Ready), p.Child("ready"))...)
	}
	if s.Terminating != nil {
		errs = append(errs, nonNegative(int64(*s.Terminating), p.Child("terminating"))...)
	}
	if s.CompletionTime != nil && s.StartTime != nil && s.CompletionTime.Before(s.StartTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "completionTime cannot be set before startTime"))
	}
	for i, c := range s.Conditions {
		cp := p.Child("conditions").Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(cp.Child("type"), ""))
		}
		errs = append(errs, oneOf(c.Status, cp.Child("status"), corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown)...)
	}
	return errs
}

// ---- CronJob ----

// validateCronJob validates a CronJob; old is the stored object on update.
func validateCronJob(cj *batchv1.CronJob, old *batchv1.CronJob) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = metaCreate(&cj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
		if len(cj.Name) > maxCronJobNameLength {
			errs = append(errs, field.Invalid(metaPath.Child("name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
		}
	}
	s := &cj.Spec
	sp := specPath.Child("schedule")
	if s.Schedule == "" {
		errs = append(errs, field.Required(sp, ""))
	} else {
		if err := parseCronSchedule(s.Schedule); err != nil {
			errs = append(errs, field.Invalid(sp, s.Schedule, err.Error()))
		}
		hasTZ := strings.Contains(s.Schedule, "TZ")
		if hasTZ && s.TimeZone != nil {
			errs = append(errs, field.Invalid(sp, s.Schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
		} else if hasTZ && (old == nil || !strings.Contains(old.Spec.Schedule, "TZ")) {
			errs = append(errs, field.Invalid(sp, s.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
		}
	}
	if s.TimeZone != nil {
		errs = append(errs, validateTimeZone(*s.TimeZone, specPath.Child("timeZone"))...)
	}
	errs = append(errs, oneOf(s.ConcurrencyPolicy, specPath.Child("concurrencyPolicy"), batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent)...)
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*s.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	}
	if s.SuccessfulJobsHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.SuccessfulJobsHistoryLimit), specPath.Child("successfulJobsHistoryLimit"))...)
	}
	if s.FailedJobsHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.FailedJobsHistoryLimit), specPath.Child("failedJobsHistoryLimit"))...)
	}
	jp := specPath.Child("jobTemplate")
	errs = append(errs, metav1validation.ValidateLabels(s.JobTemplate.Labels, jp.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(s.JobTemplate.Annotations, jp.Child("metadata", "annotations"))...)
	errs = append(errs, validateJobSpec(&s.JobTemplate.Spec, jp.Child("spec"), true)...)
	return errs
}

func validateTimeZone(tz string, p *field.Path) field.ErrorList {
	if tz == "" {
		return field.ErrorList{field.Invalid(p, tz, "unknown time zone ")}
	}
	if strings.EqualFold(tz, "Local") {
		return field.ErrorList{field.Invalid(p, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return field.ErrorList{field.Invalid(p, tz, err.Error())}
	}
	return nil
}

func validateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	errs := metaUpdate(&cj.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateCronJob(cj, old)...)
}
