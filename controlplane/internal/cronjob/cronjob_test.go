package cronjob

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/controller"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC)

func cronJob(policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "default", UID: "cj-uid", CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule:          "* * * * *",
			ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			}}},
		},
	}
}

func ownedJob(cj *batchv1.CronJob, at time.Time, finished batchv1.JobConditionType) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: JobName(cj, at), Namespace: "default", UID: types.UID("job-" + JobName(cj, at)), CreationTimestamp: metav1.NewTime(at),
		OwnerReferences: []metav1.OwnerReference{controller.OwnerRef(cj, gvk)},
	}}
	if finished != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: finished, Status: corev1.ConditionTrue}}
		ct := metav1.NewTime(at.Add(10 * time.Second))
		j.Status.CompletionTime = &ct
	}
	return j
}

func TestSync(t *testing.T) {
	cj := cronJob(batchv1.AllowConcurrent)
	tests := []struct {
		name    string
		cj      *batchv1.CronJob
		jobs    []*batchv1.Job
		now     time.Time
		want    []string // job names after the sync
		lastRun string
	}{
		{"not due yet", cj, nil, t0.Add(20 * time.Second), nil, ""},
		{"first run", cj, nil, t0.Add(40 * time.Second), []string{"tick-29926681"}, "10:01"},
		{"missed runs start only the latest", cj, nil, t0.Add(3*time.Minute + 40*time.Second), []string{"tick-29926684"}, "10:04"},
		{"allow runs alongside", cj, []*batchv1.Job{ownedJob(cj, t0.Add(30*time.Second), "")}, t0.Add(100 * time.Second),
			[]string{"tick-29926681", "tick-29926682"}, "10:02"},
		{"forbid waits", cronJob(batchv1.ForbidConcurrent), []*batchv1.Job{ownedJob(cj, t0.Add(30*time.Second), "")}, t0.Add(100 * time.Second),
			[]string{"tick-29926681"}, ""},
		{"replace deletes the running job", cronJob(batchv1.ReplaceConcurrent), []*batchv1.Job{ownedJob(cj, t0.Add(30*time.Second), "")}, t0.Add(100 * time.Second),
			[]string{"tick-29926682"}, "10:02"},
		{"history limit keeps three successes", cj, []*batchv1.Job{
			ownedJob(cj, t0.Add(-4*time.Minute), batchv1.JobComplete), ownedJob(cj, t0.Add(-3*time.Minute), batchv1.JobComplete),
			ownedJob(cj, t0.Add(-2*time.Minute), batchv1.JobComplete), ownedJob(cj, t0.Add(-1*time.Minute), batchv1.JobComplete),
		}, t0.Add(10 * time.Second), []string{"tick-29926677", "tick-29926678", "tick-29926679"}, ""},
		{"suspended", func() *batchv1.CronJob { c := cronJob(""); s := true; c.Spec.Suspend = &s; return c }(), nil, t0.Add(5 * time.Minute), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			objs := []runtime.Object{tc.cj}
			for _, j := range tc.jobs {
				objs = append(objs, j)
			}
			client := fake.NewClientset(objs...)
			f := informers.NewSharedInformerFactory(client, 0)
			c := New(Options{Client: client, CronJobs: f.Batch().V1().CronJobs(), Jobs: f.Batch().V1().Jobs(),
				Recorder: record.NewFakeRecorder(100), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return tc.now }})
			f.Start(ctx.Done())
			cache.WaitForCacheSync(ctx.Done(), c.synced...)
			if err := c.Sync(ctx, "default/tick"); err != nil {
				t.Fatal(err)
			}
			list, err := client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, j := range list.Items {
				names = append(names, j.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.want) {
				t.Fatalf("jobs = %v, want %v", names, tc.want)
			}
			got, _ := client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
			last := ""
			if got.Status.LastScheduleTime != nil {
				last = got.Status.LastScheduleTime.UTC().Format("15:04")
			}
			if last != tc.lastRun {
				t.Fatalf("lastScheduleTime = %q, want %q", last, tc.lastRun)
			}
		})
	}
}
