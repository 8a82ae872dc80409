// Package integration runs the controller-manager in-process against a real
// `skiff apiserver` (embedded etcd) with hollow nodes standing in for the
// scheduler and kubelets.
package integration

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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/api/testenv"
	"skiff.dev/controlplane"
	"skiff.dev/controlplane/internal/hollow"
)

// cluster is an apiserver plus hollow nodes; the controller-manager is started separately.
type cluster struct {
	env    *testenv.Env
	client kubernetes.Interface
	nodes  *hollow.Cluster
	log    *slog.Logger
}

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := logger(t)
	// The test's own client speaks JSON, like kubectl.
	cfg := rest.CopyConfig(env.Config)
	cfg.ContentType = "application/json"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := hollow.Start(ctx, hollow.Options{Client: client, Nodes: nodes, BindWithSubresource: true, Log: log})
	if err != nil {
		t.Fatalf("hollow nodes: %v", err)
	}
	return &cluster{env: env, client: client, nodes: hc, log: log}
}

// startCM runs the controller-manager in-process; the returned func stops it
// and waits for it to return.
func (c *cluster) startCM(t *testing.T, mutate func(*controlplane.Options)) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := controlplane.Defaults()
	o.RESTConfig = c.env.Config
	o.Logger = c.log
	if mutate != nil {
		mutate(&o)
	}
	done := make(chan error, 1)
	go func() { done <- controlplane.Run(ctx, o) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller-manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("controller-manager did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if err := testenv.Poll(timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func ns(t *testing.T, c *cluster, name string) {
	t.Helper()
	_, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func deploymentObj(name string, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

// rolledOut reports what `kubectl rollout status` would: the rollout of the
// current generation is complete.
func rolledOut(ctx context.Context, client kubernetes.Interface, ns, name string) (bool, error) {
	d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return d.Generation <= s.ObservedGeneration && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want, nil
}

func countPods(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, selector string) (total, active int) {
	t.Helper()
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	for _, p := range pods.Items {
		total++
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			active++
		}
	}
	return total, active
}
