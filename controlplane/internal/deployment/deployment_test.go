package deployment_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/deployment"
	"skiff.dev/controlplane/internal/fakeapi"
	"skiff.dev/controlplane/internal/hollow"
	"skiff.dev/controlplane/internal/replicaset"
)

func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newDeployment(name string, replicas int32, image string, strategy appsv1.DeploymentStrategy) *appsv1.Deployment {
	pd := int32(600)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + "d-" + "1", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas:                &replicas,
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Strategy:                strategy,
			ProgressDeadlineSeconds: &pd,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

// TestRollout drives a rollout end to end on a fake clientset with hollow
// nodes: create, update the image, and check that the old ReplicaSet is
// scaled to zero, revisions advance and status reports completion.
func TestRollout(t *testing.T) {
	oneSurge := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	tests := []struct {
		name     string
		replicas int32
		strategy appsv1.DeploymentStrategy
	}{
		{"rolling default", 5, appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}},
		{"rolling surge only", 4, appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &oneSurge, MaxUnavailable: &zero}}},
		{"recreate", 3, appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			client := fakeapi.NewClientset()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if testing.Verbose() {
				log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			f := informers.NewSharedInformerFactory(client, 0)
			rec := record.NewFakeRecorder(10000)
			rs := replicaset.New(replicaset.Options{Client: client, ReplicaSets: f.Apps().V1().ReplicaSets(), Pods: f.Core().V1().Pods(), Recorder: rec, Log: log})
			dc := deployment.New(deployment.Options{Client: client, Deployments: f.Apps().V1().Deployments(), ReplicaSets: f.Apps().V1().ReplicaSets(), Pods: f.Core().V1().Pods(), Recorder: rec, Log: log})
			f.Start(ctx.Done())
			go rs.Run(ctx, 2)
			go dc.Run(ctx, 2)
			if _, err := hollow.Start(ctx, hollow.Options{Client: client, Nodes: 2, Log: log}); err != nil {
				t.Fatal(err)
			}
			d := newDeployment("web", tc.replicas, "img:1", tc.strategy)
			if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			lister := f.Apps().V1().Deployments().Lister()
			doneFor := func(image string) func() bool {
				return func() bool {
					cur, err := lister.Deployments("default").Get("web")
					if err != nil || cur.Spec.Template.Spec.Containers[0].Image != image {
						return false
					}
					s := cur.Status
					cond := progressingReason(cur)
					return s.UpdatedReplicas == tc.replicas && s.Replicas == tc.replicas && s.AvailableReplicas == tc.replicas &&
						cond == deployment.ReasonNewRSAvailable
				}
			}
			defer func() {
				if t.Failed() {
					d, _ := client.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
					t.Logf("deployment: %+v %+v", d.Annotations, d.Status)
					rl, _ := client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
					for _, r := range rl.Items {
						t.Logf("rs %s spec=%d status=%+v", r.Name, *r.Spec.Replicas, r.Status)
					}
					pl, _ := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
					for _, p := range pl.Items {
						t.Logf("pod %s node=%s phase=%s", p.Name, p.Spec.NodeName, p.Status.Phase)
					}
				}
			}()
			poll(t, 30*time.Second, "first rollout", doneFor("img:1"))

			cur, _ := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			cur.Spec.Template.Spec.Containers[0].Image = "img:2"
			cur.Generation++
			if _, err := client.AppsV1().Deployments("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			poll(t, 30*time.Second, "second rollout", doneFor("img:2"))
			poll(t, 10*time.Second, "old pods gone", func() bool {
				pods, _ := f.Core().V1().Pods().Lister().List(labels.Everything())
				n := 0
				for _, p := range pods {
					if p.Spec.Containers[0].Image == "img:2" {
						n++
					} else {
						return false
					}
				}
				return n == int(tc.replicas)
			})
			rsList, _ := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
			revs := map[string]int32{}
			for _, r := range rsList.Items {
				revs[r.Annotations[deployment.RevisionAnnotation]] = *r.Spec.Replicas
			}
			if len(rsList.Items) != 2 || revs["1"] != 0 || revs["2"] != tc.replicas {
				t.Fatalf("replicasets by revision = %v, want 1:0 2:%d", revs, tc.replicas)
			}
			final, _ := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			if final.Annotations[deployment.RevisionAnnotation] != "2" {
				t.Fatalf("deployment revision = %q, want 2", final.Annotations[deployment.RevisionAnnotation])
			}
		})
	}
}

func progressingReason(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			return c.Reason
		}
	}
	return ""
}
