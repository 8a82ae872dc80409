package integration

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/controlplane"
	"skiff.dev/controlplane/internal/hollow"
)

func jobObj(name, exitCode string, completions, parallelism, backoff int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism, BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{hollow.ExitCodeAnnotation: exitCode}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				},
			},
		},
	}
}

func TestJob(t *testing.T) {
	c := newCluster(t, 2)
	c.startCM(t, func(o *controlplane.Options) { o.JobBackoffBase = 50 * time.Millisecond })
	ctx := context.Background()
	ns(t, c, "jobs")

	conditionTrue := func(name string, ct batchv1.JobConditionType) func() (bool, error) {
		return func() (bool, error) {
			j, err := c.client.BatchV1().Jobs("jobs").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range j.Status.Conditions {
				if cond.Type == ct && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}
	}

	t.Run("completes", func(t *testing.T) {
		// Times are stored to the second, so a TTL of 1s can delete the
		// Job before the poll below sees it Complete; 3s leaves >= 2s.
		ttl := int32(3)
		j := jobObj("ok", "0", 5, 2, 6)
		j.Spec.TTLSecondsAfterFinished = &ttl
		if _, err := c.client.BatchV1().Jobs("jobs").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 60*time.Second, "Complete", conditionTrue("ok", batchv1.JobComplete))
		got, err := c.client.BatchV1().Jobs("jobs").Get(ctx, "ok", metav1.GetOptions{})
		if err == nil && (got.Status.Succeeded != 5 || got.Status.CompletionTime == nil) {
			t.Fatalf("status = %+v, want 5 succeeded and a completion time", got.Status)
		}
		poll(t, 60*time.Second, "job deleted after its TTL", func() (bool, error) {
			_, err := c.client.BatchV1().Jobs("jobs").Get(ctx, "ok", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
	t.Run("backoff limit", func(t *testing.T) {
		if _, err := c.client.BatchV1().Jobs("jobs").Create(ctx, jobObj("bad", "1", 1, 1, 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 60*time.Second, "Failed", conditionTrue("bad", batchv1.JobFailed))
		got, err := c.client.BatchV1().Jobs("jobs").Get(ctx, "bad", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Failed != 3 {
			t.Fatalf("failed = %d, want backoffLimit+1 = 3", got.Status.Failed)
		}
	})
	t.Run("active deadline", func(t *testing.T) {
		j := jobObj("slow", "", 1, 1, 6)
		delete(j.Spec.Template.Annotations, hollow.ExitCodeAnnotation)
		dl := int64(1)
		j.Spec.ActiveDeadlineSeconds = &dl
		if _, err := c.client.BatchV1().Jobs("jobs").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 60*time.Second, "Failed by deadline", conditionTrue("slow", batchv1.JobFailed))
	})
	t.Run("suspend and resume", func(t *testing.T) {
		j := jobObj("later", "0", 2, 2, 6)
		suspend := true
		j.Spec.Suspend = &suspend
		if _, err := c.client.BatchV1().Jobs("jobs").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 30*time.Second, "Suspended", conditionTrue("later", batchv1.JobSuspended))
		pods, err := c.client.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.Name == "later" {
				t.Fatalf("suspended job has pod %s", p.Name)
			}
		}
		cur, err := c.client.BatchV1().Jobs("jobs").Get(ctx, "later", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		suspend = false
		cur.Spec.Suspend = &suspend
		if _, err := c.client.BatchV1().Jobs("jobs").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 60*time.Second, "Complete after resume", conditionTrue("later", batchv1.JobComplete))
	})
	t.Run("indexed", func(t *testing.T) {
		j := jobObj("idx", "0", 4, 2, 6)
		mode := batchv1.IndexedCompletion
		j.Spec.CompletionMode = &mode
		if _, err := c.client.BatchV1().Jobs("jobs").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 60*time.Second, "Complete", conditionTrue("idx", batchv1.JobComplete))
		got, err := c.client.BatchV1().Jobs("jobs").Get(ctx, "idx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.CompletedIndexes != "0-3" || got.Status.Succeeded != 4 {
			t.Fatalf("completedIndexes=%q succeeded=%d, want 0-3 and 4", got.Status.CompletedIndexes, got.Status.Succeeded)
		}
	})
}
