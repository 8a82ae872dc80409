// Package job is the Job controller: it runs pods until spec.completions of
// them succeed (or, without completions, until one succeeds and the rest
// finish), at most spec.parallelism at a time, recreates failed pods with an
// exponential back-off until spec.backoffLimit, fails the Job after
// activeDeadlineSeconds, honours spec.suspend, supports the Indexed
// completion mode (one pod per index, status.completedIndexes), writes the
// Complete/Failed conditions and deletes finished Jobs after
// ttlSecondsAfterFinished.
package job

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/controller"
)

var gvk = batchv1.SchemeGroupVersion.WithKind("Job")

// Options configures the controller.
type Options struct {
	Client   kubernetes.Interface
	Jobs     batchinformers.JobInformer
	Pods     coreinformers.PodInformer
	Recorder record.EventRecorder
	Log      *slog.Logger
	// BackoffBase is the first delay before a failed pod is replaced
	// (doubling per failure, capped at 6 minutes); 10s by default.
	BackoffBase time.Duration
	Now         func() time.Time
}

// Controller is the Job controller.
type Controller struct {
	o      Options
	jobs   batchlisters.JobLister
	pods   corelisters.PodLister
	exp    *controller.Expectations
	queue  *controller.Queue
	now    func() time.Time
	synced []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	if o.BackoffBase == 0 {
		o.BackoffBase = 10 * time.Second
	}
	c := &Controller{o: o, jobs: o.Jobs.Lister(), pods: o.Pods.Lister(), exp: controller.NewExpectations(), now: o.Now,
		synced: []cache.InformerSynced{o.Jobs.Informer().HasSynced, o.Pods.Informer().HasSynced}}
	if c.now == nil {
		c.now = time.Now
	}
	c.queue = controller.NewQueue("job", c.Sync, o.Log)
	_, _ = o.Jobs.Informer().AddEventHandler(c.queue.Handler())
	ownerUID := func(namespace, name string) (types.UID, bool) {
		j, err := c.jobs.Jobs(namespace).Get(name)
		if err != nil {
			return "", false
		}
		return j.UID, true
	}
	_, _ = o.Pods.Informer().AddEventHandler(controller.OwnedPodHandler("Job", ownerUID, c.exp, c.queue))
	return c
}

// Run waits for the caches and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Run(ctx, workers)
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// Finished returns the Complete or Failed condition of j, or nil.
func Finished(j *batchv1.Job) *batchv1.JobCondition {
	if c := condition(j, batchv1.JobComplete); c != nil {
		return c
	}
	return condition(j, batchv1.JobFailed)
}

// selector is the Job's selector, or the controller-uid label when the
// API server did not generate one.
func selector(j *batchv1.Job) (labels.Selector, map[string]string, error) {
	if j.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		return s, nil, err
	}
	extra := map[string]string{batchv1.ControllerUidLabel: string(j.UID), batchv1.JobNameLabel: j.Name}
	return labels.SelectorFromSet(labels.Set{batchv1.ControllerUidLabel: string(j.UID)}), extra, nil
}

// Sync reconciles the Job named by key.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	j := cached.DeepCopy()
	now := c.now()
	if f := Finished(j); f != nil {
		return c.ttl(ctx, j, now)
	}
	sel, extraLabels, err := selector(j)
	if err != nil {
		c.o.Recorder.Eventf(j, corev1.EventTypeWarning, "InvalidSelector", "invalid selector: %v", err)
		return nil
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	claimer := &controller.Claimer{
		Owner: j, OwnerGVK: gvk, Selector: sel,
		Patch: func(ctx context.Context, ns, name string, b []byte) error {
			_, err := c.o.Client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
			return err
		},
	}
	pods, claimErr := controller.Claim(ctx, claimer, all)

	var active, ready []*corev1.Pod
	var succeeded, failed int32
	var lastFailure time.Time
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded++
		case p.Status.Phase == corev1.PodFailed:
			failed++
			if t := finishedAt(p); t.After(lastFailure) {
				lastFailure = t
			}
		case p.DeletionTimestamp == nil:
			active = append(active, p)
			if controller.IsPodReady(p) {
				ready = append(ready, p)
			}
		}
	}
	s := *j.Status.DeepCopy()
	indexed := j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion && j.Spec.Completions != nil
	var done map[int]bool
	var free []int // indexes neither succeeded nor running
	if indexed {
		done = map[int]bool{}
		for _, p := range pods {
			if i, ok := podIndex(p, *j.Spec.Completions); ok && p.Status.Phase == corev1.PodSucceeded {
				done[i] = true
			}
		}
		running := map[int]bool{}
		for _, p := range active {
			if i, ok := podIndex(p, *j.Spec.Completions); ok {
				running[i] = true
			}
		}
		for i := range int(*j.Spec.Completions) {
			if !done[i] && !running[i] {
				free = append(free, i)
			}
		}
		succeeded = int32(len(done))
		s.CompletedIndexes = CompressIndexes(done)
	}
	s.Active, s.Succeeded, s.Failed = int32(len(active)), succeeded, failed
	nready := int32(len(ready))
	s.Ready = &nready
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	if s.StartTime == nil && !suspended {
		t := metav1.NewTime(now)
		s.StartTime = &t
	}
	backoffLimit := int32(6)
	if j.Spec.BackoffLimit != nil {
		backoffLimit = *j.Spec.BackoffLimit
	}
	parallelism := int32(1)
	if j.Spec.Parallelism != nil {
		parallelism = *j.Spec.Parallelism
	}

	var finish *batchv1.JobCondition
	switch {
	case failed > backoffLimit:
		finish = &batchv1.JobCondition{Type: batchv1.JobFailed, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit"}
	case j.Spec.ActiveDeadlineSeconds != nil && s.StartTime != nil && !suspended &&
		now.Sub(s.StartTime.Time) >= time.Duration(*j.Spec.ActiveDeadlineSeconds)*time.Second:
		finish = &batchv1.JobCondition{Type: batchv1.JobFailed, Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline"}
	case j.Spec.Completions != nil && succeeded >= *j.Spec.Completions:
		finish = &batchv1.JobCondition{Type: batchv1.JobComplete}
	case j.Spec.Completions == nil && succeeded > 0 && len(active) == 0:
		finish = &batchv1.JobCondition{Type: batchv1.JobComplete}
	}

	var manageErr error
	if finish != nil {
		// Stop what still runs, then record the outcome.
		manageErr = c.deletePods(ctx, j, active)
		if manageErr == nil {
			t := metav1.NewTime(now)
			finish.Status, finish.LastProbeTime, finish.LastTransitionTime = corev1.ConditionTrue, t, t
			if finish.Type == batchv1.JobComplete {
				s.CompletionTime = &t
				c.o.Recorder.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
			} else {
				c.o.Recorder.Event(j, corev1.EventTypeWarning, finish.Reason, finish.Message)
			}
			s.Active = 0
			// Upstream order: the target condition, then the terminal one.
			if finish.Type == batchv1.JobComplete {
				s.Conditions = append(s.Conditions, batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue,
					Reason: batchv1.JobReasonCompletionsReached, Message: "Reached expected number of succeeded pods", LastProbeTime: t, LastTransitionTime: t})
				finish.Reason, finish.Message = batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods"
			} else {
				s.Conditions = append(s.Conditions, batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue,
					Reason: finish.Reason, Message: finish.Message, LastProbeTime: t, LastTransitionTime: t})
			}
			s.Conditions = append(s.Conditions, *finish)
		}
	} else if c.exp.Satisfied(key) {
		want := parallelism
		if j.Spec.Completions != nil {
			want = min(want, *j.Spec.Completions-succeeded)
		} else if succeeded > 0 {
			want = 0
		}
		if suspended {
			want = 0
		}
		setSuspended(&s, suspended, now)
		diff := int(want) - len(active)
		switch {
		case diff > 0 && failed > 0:
			delay := min(c.o.BackoffBase<<min(failed-1, 10), 6*time.Minute)
			if wait := lastFailure.Add(delay).Sub(now); wait > 0 {
				c.queue.AddAfter(key, wait)
				break
			}
			manageErr = c.createPods(ctx, j, diff, extraLabels, free)
		case diff > 0:
			manageErr = c.createPods(ctx, j, diff, extraLabels, free)
		case diff < 0:
			victims := active
			if len(victims) > -diff {
				victims = victims[:-diff]
			}
			manageErr = c.deletePods(ctx, j, victims)
		}
	}
	if !apiequality.Semantic.DeepEqual(j.Status, s) {
		j.Status = s
		if _, err := c.o.Client.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status of job %s: %w", key, err)
		}
	}
	if finish == nil && j.Spec.ActiveDeadlineSeconds != nil && s.StartTime != nil && !suspended {
		// Look again when the deadline passes (startTime has second precision).
		left := s.StartTime.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now)
		c.queue.AddAfter(key, max(left, 0)+100*time.Millisecond)
	}
	if manageErr != nil {
		return manageErr
	}
	return claimErr
}

func setSuspended(s *batchv1.JobStatus, suspended bool, now time.Time) {
	for i := range s.Conditions {
		if s.Conditions[i].Type == batchv1.JobSuspended {
			want := corev1.ConditionFalse
			if suspended {
				want = corev1.ConditionTrue
			}
			if s.Conditions[i].Status != want {
				s.Conditions[i].Status = want
				s.Conditions[i].LastTransitionTime = metav1.NewTime(now)
				s.Conditions[i].Reason = map[bool]string{true: "JobSuspended", false: "JobResumed"}[suspended]
			}
			return
		}
	}
	if suspended {
		t := metav1.NewTime(now)
		s.Conditions = append(s.Conditions, batchv1.JobCondition{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue,
			Reason: "JobSuspended", Message: "Job suspended", LastProbeTime: t, LastTransitionTime: t})
	}
}

func finishedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Terminated != nil && s.State.Terminated.FinishedAt.After(t) {
			t = s.State.Terminated.FinishedAt.Time
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

// createPods creates n pods; for Indexed jobs they take the indexes in free.
func (c *Controller) createPods(ctx context.Context, j *batchv1.Job, n int, extraLabels map[string]string, free []int) error {
	key := j.Namespace + "/" + j.Name
	indexed := j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
	if indexed {
		n = min(n, len(free))
	}
	c.exp.ExpectCreations(key, n)
	ref := controller.OwnerRef(j, gvk)
	tmpl := j.Spec.Template.DeepCopy()
	if len(extraLabels) > 0 {
		if tmpl.Labels == nil {
			tmpl.Labels = map[string]string{}
		}
		maps.Copy(tmpl.Labels, extraLabels)
	}
	created, err := controller.SlowStartBatch(n, 1, func(i int) error {
		pod := controller.PodFromTemplate(tmpl, j.Namespace, j.Name+"-", &ref)
		if indexed {
			setIndex(pod, j.Name, free[i])
		}
		_, err := c.o.Client.CoreV1().Pods(j.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			c.o.Recorder.Eventf(j, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return err
		}
		c.o.Recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
		return nil
	})
	for range n - created {
		c.exp.CreationObserved(key)
	}
	if err != nil {
		return fmt.Errorf("create pods for job %s: %w", key, err)
	}
	return nil
}

func (c *Controller) deletePods(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod) error {
	key := j.Namespace + "/" + j.Name
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.exp.ExpectDeletions(key, uids)
	var first error
	for _, p := range pods {
		err := c.o.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil {
			c.exp.DeletionObserved(key, string(p.UID))
			if !apierrors.IsNotFound(err) && first == nil {
				first = fmt.Errorf("delete pod %s of job %s: %w", p.Name, key, err)
			}
			continue
		}
		c.o.Recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	return first
}

// ttl deletes a finished job once ttlSecondsAfterFinished has passed.
func (c *Controller) ttl(ctx context.Context, j *batchv1.Job, now time.Time) error {
	if j.Spec.TTLSecondsAfterFinished == nil || j.DeletionTimestamp != nil {
		return nil
	}
	f := Finished(j)
	at := f.LastTransitionTime.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	if j.Status.CompletionTime != nil && f.Type == batchv1.JobComplete {
		at = j.Status.CompletionTime.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	}
	if wait := at.Sub(now); wait > 0 {
		c.queue.AddAfter(j.Namespace+"/"+j.Name, wait)
		return nil
	}
	policy := metav1.DeletePropagationForeground
	uid := j.UID
	err := c.o.Client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired job %s/%s: %w", j.Namespace, j.Name, err)
	}
	return nil
}

// podIndex returns the completion index of an Indexed Job's pod.
func podIndex(p *corev1.Pod, completions int32) (int, bool) {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= int(completions) {
		return 0, false
	}
	return i, true
}

// setIndex gives pod completion index i the way upstream does: annotation,
// label, hostname <job>-<i> and the JOB_COMPLETION_INDEX variable.
func setIndex(pod *corev1.Pod, job string, i int) {
	idx := strconv.Itoa(i)
	pod.Name = fmt.Sprintf("%s-%d-%s", job, i, pod.Name[len(job)+1:])
	pod.GenerateName = fmt.Sprintf("%s-%d-", job, i)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = idx
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = idx
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = fmt.Sprintf("%s-%d", job, i)
	}
	env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
	for k := range pod.Spec.Containers {
		pod.Spec.Containers[k].Env = append(pod.Spec.Containers[k].Env, env)
	}
	for k := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[k].Env = append(pod.Spec.InitContainers[k].Env, env)
	}
}

// CompressIndexes formats a set of indexes as upstream's completedIndexes,
// e.g. "0-2,4".
func CompressIndexes(set map[int]bool) string {
	idx := make([]int, 0, len(set))
	for i := range set {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var parts []string
	for k := 0; k < len(idx); {
		j := k
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j == k {
			parts = append(parts, strconv.Itoa(idx[k]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[k], idx[j]))
		}
		k = j + 1
	}
	return strings.Join(parts, ",")
}
