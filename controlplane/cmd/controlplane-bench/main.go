// Command controlplane-bench measures the controller-manager against a real
// `skiff apiserver` process with hollow nodes: how long a large Deployment
// takes to have all pods created, bound and available, and how long a
// rolling update of it takes. It prints a table.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"skiff.dev/api/testenv"
	"skiff.dev/controlplane"
	"skiff.dev/controlplane/internal/hollow"
)

func main() {
	replicas := flag.Int("replicas", 1000, "replicas of the benchmark Deployment")
	nodes := flag.Int("nodes", 10, "hollow nodes")
	bin := flag.String("skiff", os.Getenv("SKIFF_BIN"), "skiff binary (default $SKIFF_BIN)")
	timeout := flag.Duration("timeout", 10*time.Minute, "overall timeout")
	flag.Parse()
	// client-go logs through klog; the table is the output.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "controlplane-bench: set --skiff or $SKIFF_BIN to a skiff binary")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *bin, *replicas, *nodes); err != nil {
		fmt.Fprintf(os.Stderr, "controlplane-bench: %v\n", err)
		os.Exit(1)
	}
}

func startAPIServer(bin, dir string) (*rest.Config, func(), error) {
	port, err := testenv.PickPort()
	if err != nil {
		return nil, nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "apiserver.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, "apiserver", "--data-dir", filepath.Join(dir, "data"), "--bind-address", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() {
		testenv.StopGroup(cmd, 10*time.Second)
		logf.Close()
	}
	cfg, err := testenv.WaitKubeconfig(filepath.Join(dir, "data", "admin.kubeconfig"), time.Minute)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("%w; log in %s", err, logf.Name())
	}
	return cfg, stop, nil
}

type row struct {
	phase string
	d     time.Duration
	note  string
}

func run(ctx context.Context, bin string, replicas, nodes int) error {
	dir, err := os.MkdirTemp("", "controlplane-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	base, stop, err := startAPIServer(bin, dir)
	if err != nil {
		return err
	}
	defer stop()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The hollow cluster gets its own generous client so it never limits the controllers.
	hcfg := rest.CopyConfig(base)
	hcfg.QPS, hcfg.Burst = 2000, 4000
	hcfg.ContentType = "application/json"
	hclient, err := kubernetes.NewForConfig(hcfg)
	if err != nil {
		return err
	}
	cmCtx, cmCancel := context.WithCancel(ctx)
	defer cmCancel()
	opts := controlplane.Defaults()
	opts.RESTConfig = rest.CopyConfig(base)
	opts.Logger = log
	cmDone := make(chan error, 1)
	go func() { cmDone <- controlplane.Run(cmCtx, opts) }()
	hc, err := hollow.Start(cmCtx, hollow.Options{Client: hclient, Nodes: nodes, BindWithSubresource: true, Workers: 16, Log: log})
	if err != nil {
		return err
	}

	n := int32(replicas)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "bench:1"}}},
			},
		},
	}
	var rows []row
	start := time.Now()
	if _, err := hclient.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	created, bound := time.Duration(0), time.Duration(0)
	err = poll(ctx, func() (bool, error) {
		if created == 0 {
			pods, err := hclient.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench", ResourceVersion: "0"})
			if err != nil {
				return false, err
			}
			if len(pods.Items) >= replicas {
				created = time.Since(start)
			}
		}
		if bound == 0 && hc.Bound() >= int64(replicas) {
			bound = time.Since(start)
		}
		return created > 0 && bound > 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d pods: %w", replicas, err)
	}
	rows = append(rows, row{"create: all pods created", created, ""}, row{"create: all pods bound", bound, ""})
	if err := poll(ctx, func() (bool, error) { return rolledOut(ctx, hclient, "bench") }); err != nil {
		return fmt.Errorf("waiting for availability: %w", err)
	}
	rows = append(rows, row{"create: deployment available (rollout status done)", time.Since(start), ""})

	cur, err := hclient.AppsV1().Deployments("default").Get(ctx, "bench", metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Spec.Template.Spec.Containers[0].Image = "bench:2"
	start = time.Now()
	if _, err := hclient.AppsV1().Deployments("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if err := poll(ctx, func() (bool, error) { return rolledOut(ctx, hclient, "bench") }); err != nil {
		return fmt.Errorf("waiting for rolling update: %w", err)
	}
	rows = append(rows, row{"rolling update (25% surge/unavailable): complete", time.Since(start), ""})
	if err := poll(ctx, func() (bool, error) {
		pods, err := hclient.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench"})
		return err == nil && len(pods.Items) == replicas, err
	}); err != nil {
		return fmt.Errorf("waiting for old pods to go: %w", err)
	}
	rows = append(rows, row{"rolling update: old pods gone", time.Since(start), ""})
	cmCancel()
	<-cmDone

	fmt.Printf("controller-manager: %d-replica Deployment, %d hollow nodes, real skiff apiserver (embedded etcd)\n", replicas, nodes)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tseconds\tpods/s")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\n", r.phase, r.d.Seconds(), float64(replicas)/r.d.Seconds())
	}
	return tw.Flush()
}

func rolledOut(ctx context.Context, c kubernetes.Interface, name string) (bool, error) {
	d, err := c.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	s := d.Status
	want := *d.Spec.Replicas
	return d.Generation <= s.ObservedGeneration && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want, nil
}

func poll(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
