// Package cronjob is the CronJob controller: it creates a Job for every
// time the schedule fires (in spec.timeZone), honours concurrencyPolicy
// (Allow, Forbid, Replace), startingDeadlineSeconds and suspend, starts only
// the latest of many missed runs, tracks active Jobs and the last
// schedule/success times in status, and trims finished Jobs to the history
// limits. Job names derive from the scheduled time, so a restart never
// starts the same run twice.
package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/controller"
	"skiff.dev/controlplane/internal/job"
)

var gvk = batchv1.SchemeGroupVersion.WithKind("CronJob")

// ScheduledTimestampAnnotation records on each Job the time it was scheduled for.
const ScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// maxMissed is how many missed runs are tolerated before a warning.
const maxMissed = 100

// Options configures the controller.
type Options struct {
	Client   kubernetes.Interface
	CronJobs batchinformers.CronJobInformer
	Jobs     batchinformers.JobInformer
	Recorder record.EventRecorder
	Log      *slog.Logger
	Now      func() time.Time
}

// Controller is the CronJob controller.
type Controller struct {
	o      Options
	cjs    batchlisters.CronJobLister
	jobs   batchlisters.JobLister
	queue  *controller.Queue
	now    func() time.Time
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{o: o, cjs: o.CronJobs.Lister(), jobs: o.Jobs.Lister(), now: o.Now,
		synced: []cache.InformerSynced{o.CronJobs.Informer().HasSynced, o.Jobs.Informer().HasSynced}}
	if c.now == nil {
		c.now = time.Now
	}
	c.queue = controller.NewQueue("cronjob", c.Sync, o.Log)
	_, _ = o.CronJobs.Informer().AddEventHandler(c.queue.Handler())
	jobEvent := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if j, ok := obj.(*batchv1.Job); ok {
			if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == "CronJob" {
				c.queue.Add(j.Namespace + "/" + ref.Name)
			}
		}
	}
	_, _ = o.Jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: jobEvent, UpdateFunc: func(_, n any) { jobEvent(n) }, DeleteFunc: jobEvent,
	})
	return c
}

// Run waits for the caches and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Run(ctx, workers)
}

// JobName is the name of the Job a CronJob runs for scheduled time t.
func JobName(cj *batchv1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}

// Sync reconciles the CronJob named by key.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.cjs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	cj := cached.DeepCopy()
	if cj.DeletionTimestamp != nil {
		return nil
	}
	all, err := c.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var owned []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			owned = append(owned, j)
		}
	}
	now := c.now()
	s := *cj.Status.DeepCopy()
	s.Active = nil
	var running []*batchv1.Job
	for _, j := range owned {
		if f := job.Finished(j); f != nil {
			if f.Type == batchv1.JobComplete && j.Status.CompletionTime != nil &&
				(s.LastSuccessfulTime == nil || j.Status.CompletionTime.After(s.LastSuccessfulTime.Time)) {
				t := *j.Status.CompletionTime
				s.LastSuccessfulTime = &t
			}
			continue
		}
		if j.DeletionTimestamp == nil {
			running = append(running, j)
			s.Active = append(s.Active, corev1.ObjectReference{
				Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion,
			})
		}
	}
	slices.SortFunc(s.Active, func(a, b corev1.ObjectReference) int { return cmp(a.Name, b.Name) })
	if err := c.trimHistory(ctx, cj, owned); err != nil {
		return err
	}

	sched, err := Parse(cj.Spec.Schedule)
	if err != nil {
		c.o.Recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %v", err)
		return c.writeStatus(ctx, cj, s)
	}
	loc := time.UTC
	if cj.Spec.TimeZone != nil {
		if loc, err = time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			c.o.Recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone %q: %v", *cj.Spec.TimeZone, err)
			return c.writeStatus(ctx, cj, s)
		}
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return c.writeStatus(ctx, cj, s)
	}

	// The most recent time the schedule fired and was not yet acted on.
	from := cj.CreationTimestamp.Time
	if s.LastScheduleTime != nil {
		from = s.LastScheduleTime.Time
	}
	if cj.Spec.StartingDeadlineSeconds != nil {
		earliest := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second)
		if earliest.After(from) {
			from = earliest
		}
	}
	var scheduled time.Time
	missed := 0
	for t := sched.Next(from.In(loc)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		scheduled = t
		missed++
		if missed > maxMissed*10 {
			break
		}
	}
	if missed > maxMissed {
		c.o.Recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times (%d); starting only the most recent. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	if next := sched.Next(now.In(loc)); !next.IsZero() {
		c.queue.AddAfter(key, next.Sub(now)+100*time.Millisecond)
	}
	if scheduled.IsZero() {
		return c.writeStatus(ctx, cj, s)
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(running) > 0 {
			c.o.Recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			// Keep the run pending: it starts when the active one finishes (if within the deadline).
			return c.writeStatus(ctx, cj, s)
		}
	case batchv1.ReplaceConcurrent:
		for _, j := range running {
			policy := metav1.DeletePropagationBackground
			if err := c.o.Client.BatchV1().Jobs(ns).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("replace job %s: %w", j.Name, err)
			}
			c.o.Recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %s", j.Name)
		}
		s.Active = nil
	}
	j, err := c.createJob(ctx, cj, scheduled)
	if err != nil {
		return err
	}
	t := metav1.NewTime(scheduled)
	s.LastScheduleTime = &t
	if j != nil && !slices.ContainsFunc(s.Active, func(r corev1.ObjectReference) bool { return r.UID == j.UID }) {
		s.Active = append(s.Active, corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: ns, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion})
	}
	return c.writeStatus(ctx, cj, s)
}

func cmp(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, at time.Time) (*batchv1.Job, error) {
	tmpl := cj.Spec.JobTemplate
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            JobName(cj, at),
			Namespace:       cj.Namespace,
			Labels:          maps.Clone(tmpl.Labels),
			Annotations:     maps.Clone(tmpl.Annotations),
			OwnerReferences: []metav1.OwnerReference{controller.OwnerRef(cj, gvk)},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[ScheduledTimestampAnnotation] = at.UTC().Format(time.RFC3339)
	created, err := c.o.Client.BatchV1().Jobs(cj.Namespace).Create(ctx, j, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Created before a restart or a lost status update: that run happened.
		existing, gerr := c.jobs.Jobs(cj.Namespace).Get(j.Name)
		if gerr != nil {
			return nil, nil
		}
		return existing, nil
	}
	if err != nil {
		c.o.Recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, fmt.Errorf("create job %s: %w", j.Name, err)
	}
	c.o.Recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %s", created.Name)
	return created, nil
}

// trimHistory deletes the oldest finished Jobs beyond the history limits.
func (c *Controller) trimHistory(ctx context.Context, cj *batchv1.CronJob, owned []*batchv1.Job) error {
	okLimit, failLimit := int32(3), int32(1)
	if cj.Spec.SuccessfulJobsHistoryLimit != nil {
		okLimit = *cj.Spec.SuccessfulJobsHistoryLimit
	}
	if cj.Spec.FailedJobsHistoryLimit != nil {
		failLimit = *cj.Spec.FailedJobsHistoryLimit
	}
	var ok, failed []*batchv1.Job
	for _, j := range owned {
		if j.DeletionTimestamp != nil {
			continue
		}
		if f := job.Finished(j); f != nil {
			if f.Type == batchv1.JobComplete {
				ok = append(ok, j)
			} else {
				failed = append(failed, j)
			}
		}
	}
	for _, group := range []struct {
		jobs  []*batchv1.Job
		limit int32
	}{{ok, okLimit}, {failed, failLimit}} {
		jobs := group.jobs
		if len(jobs) <= int(group.limit) {
			continue
		}
		slices.SortFunc(jobs, func(a, b *batchv1.Job) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
		for _, j := range jobs[:len(jobs)-int(group.limit)] {
			policy := metav1.DeletePropagationBackground
			err := c.o.Client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete old job %s: %w", j.Name, err)
			}
			c.o.Recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Deleted job %s", j.Name)
		}
	}
	return nil
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, s batchv1.CronJobStatus) error {
	if apiequality.Semantic.DeepEqual(cj.Status, s) {
		return nil
	}
	cj.Status = s
	if _, err := c.o.Client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	return nil
}
