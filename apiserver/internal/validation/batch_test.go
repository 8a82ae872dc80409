package validation

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateJob(t *testing.T) {
	runCreate(t, "job.yaml", []createCase[*batchv1.Job]{
		{name: "valid"},
		{name: "restartPolicy Always", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }, want: []string{"spec.template.spec.restartPolicy: Unsupported value"}},
		{name: "negative parallelism", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr(int32(-1)) }, want: []string{"spec.parallelism: Invalid value"}},
		{name: "negative completions", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr(int32(-1)) }, want: []string{"spec.completions: Invalid value"}},
		{name: "negative backoffLimit", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr(int32(-1)) }, want: []string{"spec.backoffLimit: Invalid value"}},
		{name: "negative activeDeadlineSeconds", mutate: func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr(int64(-1)) }, want: []string{"spec.activeDeadlineSeconds: Invalid value"}},
		{name: "missing selector", mutate: func(j *batchv1.Job) { j.Spec.Selector = nil }, want: []string{"spec.selector: Required value"}},
		{name: "selector not generated", mutate: func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "pi"}}
		}, want: []string{"spec.selector: Invalid value"}},
		{name: "conflicting job-name label", mutate: func(j *batchv1.Job) { j.Spec.Template.Labels["job-name"] = "other" }, want: []string{"spec.template.metadata.labels[job-name]: Invalid value"}},
		{name: "missing uid label", mutate: func(j *batchv1.Job) {
			delete(j.Spec.Template.Labels, "batch.kubernetes.io/controller-uid")
		}, want: []string{"spec.template.metadata.labels[batch.kubernetes.io/controller-uid]: Required value", "spec.template.metadata.labels: Invalid value"}},
		{name: "manual selector", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "pi"}}
		}},
		{name: "indexed without completions", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, want: []string{"spec.completions: Required value"}},
		{name: "bad completionMode", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr(batchv1.CompletionMode("Sometimes")) }, want: []string{"spec.completionMode: Unsupported value"}},
		{name: "backoffLimitPerIndex needs Indexed", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr(int32(1)) }, want: []string{"spec.backoffLimitPerIndex: Forbidden"}},
		{name: "pod failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1, 42}},
			}}}
		}},
		{name: "pod failure policy rule without condition", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore}}}
		}, want: []string{"spec.podFailurePolicy.rules[0]: Invalid value"}},
	})
	runUpdate(t, "job.yaml", false, []updateCase[*batchv1.Job]{
		{name: "suspend", mutate: func(j *batchv1.Job) { j.Spec.Suspend = ptr(true) }},
		{name: "raise parallelism", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr(int32(3)) }},
		{name: "change template", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5.36" }, want: []string{"spec.template: Invalid value"}},
		{name: "change selector", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector.MatchLabels["x"] = "y"
			j.Spec.Template.Labels["x"] = "y"
		}, want: []string{"spec.selector: Invalid value", "spec.template: Invalid value"}},
		{name: "change completions", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr(int32(5)) }, want: []string{"spec.completions: Invalid value"}},
		{name: "suspended job may move", old: func(j *batchv1.Job) { j.Spec.Suspend = ptr(true) }, mutate: func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "b"}
		}},
	})
	runUpdate(t, "job.yaml", true, []updateCase[*batchv1.Job]{
		{name: "progress", mutate: func(j *batchv1.Job) {
			now := metav1.Now()
			j.Status = batchv1.JobStatus{Active: 1, StartTime: &now, Ready: ptr(int32(1))}
		}},
		{name: "negative failed", mutate: func(j *batchv1.Job) { j.Status.Failed = -1 }, want: []string{"status.failed: Invalid value"}},
	})
}

func TestValidateCronJob(t *testing.T) {
	runCreate(t, "cronjob.yaml", []createCase[*batchv1.CronJob]{
		{name: "valid"},
		{name: "hourly macro", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "@hourly" }},
		{name: "names and ranges", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "0 9-17/2 * JAN-MAR mon-fri" }},
		{name: "missing schedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, want: []string{"spec.schedule: Required value"}},
		{name: "bad schedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "every minute" }, want: []string{"spec.schedule: Invalid value"}},
		{name: "TZ in schedule", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = nil; c.Spec.Schedule = "TZ=UTC 0 * * * *" }, want: []string{"spec.schedule: Invalid value"}},
		{name: "TZ and timeZone", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, want: []string{"spec.schedule: Invalid value"}},
		{name: "unknown timeZone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Mars/Olympus") }, want: []string{"spec.timeZone: Invalid value"}},
		{name: "Local timeZone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Local") }, want: []string{"spec.timeZone: Invalid value"}},
		{name: "bad concurrencyPolicy", mutate: func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Queue" }, want: []string{"spec.concurrencyPolicy: Unsupported value"}},
		{name: "negative history", mutate: func(c *batchv1.CronJob) { c.Spec.FailedJobsHistoryLimit = ptr(int32(-1)) }, want: []string{"spec.failedJobsHistoryLimit: Invalid value"}},
		{name: "name too long", mutate: func(c *batchv1.CronJob) { c.Name = "a23456789012345678901234567890123456789012345678901234" }, want: []string{"metadata.name: Invalid value"}},
		{name: "template selector", mutate: func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, want: []string{"spec.jobTemplate.spec.selector: Invalid value"}},
		{name: "template restartPolicy Always", mutate: func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, want: []string{"spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value"}},
	})
	runUpdate(t, "cronjob.yaml", false, []updateCase[*batchv1.CronJob]{
		{name: "reschedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "@daily" }},
		{name: "keep legacy TZ", old: func(c *batchv1.CronJob) {
			c.Spec.TimeZone = nil
			c.Spec.Schedule = "TZ=UTC 0 * * * *"
		}, mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 30 * * * *" }},
		{name: "add TZ", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = nil; c.Spec.Schedule = "TZ=UTC 0 * * * *" }, want: []string{"spec.schedule: Invalid value"}},
	})
}

func TestParseCronSchedule(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string
	}{
		{"* * * * *", ""},
		{"*/15 0-23 1,15 * 0", ""},
		{"0 0 ? * SUN", ""},
		{"5/10 * * * *", ""},
		{"0 0 1 jan,jul *", ""},
		{"@yearly", ""},
		{"@annually", ""},
		{"@monthly", ""},
		{"@weekly", ""},
		{"@daily", ""},
		{"@midnight", ""},
		{"@hourly", ""},
		{"@every 1h30m", ""},
		{"TZ=Europe/Paris 0 6 * * *", ""},
		{"CRON_TZ=UTC @daily", ""},
		{"", "empty spec string"},
		{"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
		{"* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"},
		{"60 * * * *", "end of range (60) above maximum (59): 60"},
		{"* 24 * * *", "end of range (24) above maximum (23): 24"},
		{"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
		{"* * * 13 *", "end of range (13) above maximum (12): 13"},
		{"* * * * 7", "end of range (7) above maximum (6): 7"},
		{"5-3 * * * *", "beginning of range (5) beyond end of range (3): 5-3"},
		{"*/0 * * * *", "step of range should be a positive number: */0"},
		{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
		{"*/2/3 * * * *", "too many slashes: */2/3"},
		{"x * * * *", `failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`},
		{"* * * FOO *", `failed to parse int from FOO: strconv.Atoi: parsing "FOO": invalid syntax`},
		{"@often", "unrecognized descriptor: @often"},
		{"@every soon", `failed to parse duration @every soon: time: invalid duration "soon"`},
		{"TZ=Nowhere/Land 0 * * * *", "provided bad location Nowhere/Land: unknown time zone Nowhere/Land"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			err := parseCronSchedule(tt.spec)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("parseCronSchedule(%q) = %q, want %q", tt.spec, got, tt.wantErr)
			}
		})
	}
}
