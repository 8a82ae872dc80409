package pod

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"skiff.dev/kubelet/internal/crienv"
)

// realEnv is a pod manager on a real containerd, fed by a fake clientset.
type realEnv struct {
	crt    *crienv.Env
	client *fake.Clientset
	mgr    *Manager
	root   string
}

func startReal(t *testing.T) *realEnv {
	t.Helper()
	crt := crienv.Start(t)
	client := fake.NewClientset(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"kubernetes.io/hostname": "n1"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110"),
		}},
	})
	root := t.TempDir()
	node, _ := client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
	level := slog.LevelInfo
	if os.Getenv("KUBELET_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	mgr := New(Options{
		Client: client, Runtime: crt.Client, Images: crt.Client, NodeName: "n1", NodeIP: "127.0.0.1",
		Node: func() *corev1.Node { return node }, RootDir: root, CgroupRoot: crt.CgroupRoot,
		BackoffBase: time.Second, BackoffMax: 4 * time.Second, Relist: 200 * time.Millisecond,
		ContainerLogMaxSize: 4096, LogRotateInterval: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = mgr.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &realEnv{crt: crt, client: client, mgr: mgr, root: root}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func (e *realEnv) create(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	pod.Spec.NodeName = "n1"
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	if pod.UID == "" {
		pod.UID = types.UID(fmt.Sprintf("uid-%s-%d", pod.Name, time.Now().UnixNano()))
	}
	p, err := e.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitPod polls the pod until cond holds.
func (e *realEnv) waitPod(t *testing.T, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := e.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("pod %s: %s not reached within %s; status: %+v", name, what, timeout, last.Status)
	}
	t.Fatalf("pod %s: %s not reached within %s", name, what, timeout)
	return nil
}

func busybox(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sh", "-c"}, Args: args}
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestRealRuntime(t *testing.T) {
	e := startReal(t)
	ctx := context.Background()

	t.Run("httpd reachable with env and volumes", func(t *testing.T) {
		_, _ = e.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"greeting": "hello-cm"}}, metav1.CreateOptions{})
		_, _ = e.client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "default"}, Data: map[string][]byte{"password": []byte("s3cret")}}, metav1.CreateOptions{})
		c := busybox("web", `mkdir -p /www && echo "$GREETING $PASS $POD_NAME $(cat /cfg/greeting) $(cat /sec/password)" > /www/index.html && exec httpd -f -p 8080 -h /www`)
		c.Env = []corev1.EnvVar{
			{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
			{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}, {Name: "sec", MountPath: "/sec"}, {Name: "scratch", MountPath: "/scratch"}}
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intOrStr(8080)}}, PeriodSeconds: 1}
		e.create(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.PodSpec{
				Containers:    []corev1.Container{c},
				RestartPolicy: corev1.RestartPolicyAlways,
				Volumes: []corev1.Volume{
					{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
					{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
					{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				},
			},
		})
		p := e.waitPod(t, "web", 30*time.Second, "Running and Ready", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && ready(p)
		})
		resp, err := http.Get("http://" + p.Status.PodIP + ":8080/")
		if err != nil {
			t.Fatalf("GET pod IP: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, want := string(body), "hello-cm s3cret web hello-cm s3cret\n"; got != want {
			t.Fatalf("body = %q, want %q", got, want)
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.ContainerID == "" || cs.ImageID == "" || cs.State.Running == nil || !cs.Ready {
			t.Fatalf("container status incomplete: %+v", cs)
		}
		// The memory limit reached the container's cgroup.
		out, _, err := e.crt.Client.ExecSync(ctx, cs.ContainerID[len(ContainerIDPrefix):], []string{"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}, 5*time.Second)
		if err == nil && string(out) != fmt.Sprintf("%d\n", 64<<20) {
			t.Errorf("memory.limit_in_bytes = %q", out)
		}
	})
}

func intOrStr(i int) intstrT { return intstrFromInt(i) }

func TestRealRuntimeLifecycle(t *testing.T) {
	e := startReal(t)
	ctx := context.Background()

	t.Run("init containers then job succeeds", func(t *testing.T) {
		e.create(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "job"},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				InitContainers: []corev1.Container{
					withMount(busybox("init1", "echo one > /work/order"), "work", "/work"),
					withMount(busybox("init2", "echo two >> /work/order"), "work", "/work"),
				},
				Containers: []corev1.Container{withMount(busybox("main", `test "$(cat /work/order | tr '\n' ' ')" = "one two "`), "work", "/work")},
				Volumes:    []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			},
		})
		p := e.waitPod(t, "job", 30*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if n := len(p.Status.InitContainerStatuses); n != 2 {
			t.Fatalf("init statuses = %d", n)
		}
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Fatalf("main state = %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("memory emptyDir is tmpfs and runAsUser applies", func(t *testing.T) {
		c := withMount(busybox("main", `grep -q ' /mem tmpfs ' /proc/mounts && test "$(id -u)" = 1234`), "mem", "/mem")
		c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(1234)), RunAsNonRoot: ptr(true)}
		p := e.create(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "mem"},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{c},
				Volumes: []corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}},
		})
		e.waitPod(t, "mem", 30*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		// Deleting it unmounts the tmpfs and removes the pod dir.
		cur, _ := e.client.CoreV1().Pods("default").Get(ctx, "mem", metav1.GetOptions{})
		now := metav1.Now()
		cur.DeletionTimestamp = &now
		if _, err := e.client.CoreV1().Pods("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := os.Stat(e.mgr.podDir(p.UID)); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("pod dir with tmpfs not removed")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("runAsNonRoot without a user is refused", func(t *testing.T) {
		c := busybox("main", "true")
		c.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr(true)}
		e.create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nonroot"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}})
		e.waitPod(t, "nonroot", 15*time.Second, "CreateContainerConfigError", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CreateContainerConfigError" && p.Status.Phase == corev1.PodPending
		})
	})

	t.Run("container logs rotate past the size limit", func(t *testing.T) {
		p := e.create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "chatty"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{busybox("main", "i=0; while [ $i -lt 400 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; sleep 3600")}}})
		e.waitPod(t, "chatty", 30*time.Second, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		rotated := e.mgr.logDir("default", "chatty", p.UID) + "/main/0.log.1"
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := os.Stat(rotated); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("log not rotated")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("never restart failing pod fails", func(t *testing.T) {
		e.create(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "fail"},
			Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{withTermLog(busybox("main", "echo bye; exit 3"))}},
		})
		p := e.waitPod(t, "fail", 30*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		// The output of a container that exits at once is in its log.
		logs, err := os.ReadFile(e.mgr.logDir("default", "fail", p.UID) + "/main/0.log")
		if err != nil || !strings.Contains(string(logs), "stdout F bye") {
			t.Fatalf("log of a short-lived container: %q %v", logs, err)
		}
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
			t.Fatalf("state = %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("crash loop backs off with restarts", func(t *testing.T) {
		e.create(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "crash"},
			Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{busybox("main", "echo boom; exit 1")}},
		})
		p := e.waitPod(t, "crash", 45*time.Second, "CrashLoopBackOff with 2 restarts", func(p *corev1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 {
				return false
			}
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount >= 2 && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
		})
		cs := p.Status.ContainerStatuses[0]
		if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
			t.Fatalf("lastState = %+v", cs.LastTerminationState)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Fatalf("phase = %s, want Running while restarting", p.Status.Phase)
		}
		logs, err := os.ReadFile(fmt.Sprintf("%s/main/%d.log", e.mgr.logDir("default", "crash", p.UID), cs.RestartCount))
		if err != nil || !strings.Contains(string(logs), "stdout F boom") {
			t.Fatalf("log of a crashed container: %q %v", logs, err)
		}
	})

	t.Run("failing readiness probe keeps pod unready", func(t *testing.T) {
		c := busybox("main", "sleep 3600")
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/ready"}}}, PeriodSeconds: 1}
		e.create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unready"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}})
		p := e.waitPod(t, "unready", 30*time.Second, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		// Give the probe a few periods; the pod must stay unready.
		time.Sleep(3 * time.Second)
		p = e.waitPod(t, "unready", time.Second, "still unready", func(p *corev1.Pod) bool { return !ready(p) })
		id := p.Status.ContainerStatuses[0].ContainerID[len(ContainerIDPrefix):]
		if _, _, err := e.crt.Client.ExecSync(ctx, id, []string{"touch", "/tmp/ready"}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		e.waitPod(t, "unready", 15*time.Second, "Ready after the probe passes", ready)
	})

	t.Run("liveness failure restarts the container", func(t *testing.T) {
		c := busybox("main", "touch /tmp/alive; sleep 3600")
		c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/alive"}}}, PeriodSeconds: 1, FailureThreshold: 1}
		e.create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "live"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}, TerminationGracePeriodSeconds: ptr(int64(1))}})
		p := e.waitPod(t, "live", 30*time.Second, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		id := p.Status.ContainerStatuses[0].ContainerID[len(ContainerIDPrefix):]
		if _, _, err := e.crt.Client.ExecSync(ctx, id, []string{"rm", "/tmp/alive"}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		e.waitPod(t, "live", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1 && cs[0].State.Running != nil
		})
	})

	t.Run("node admission rejects a pod that does not fit", func(t *testing.T) {
		c := busybox("main", "sleep 3600")
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64")}
		e.create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}})
		p := e.waitPod(t, "huge", 15*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if p.Status.Reason != "OutOfcpu" {
			t.Fatalf("reason = %q (%s)", p.Status.Reason, p.Status.Message)
		}
		e.create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}, Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"disk": "ssd"}, Containers: []corev1.Container{busybox("main", "sleep 3600")}}})
		p = e.waitPod(t, "elsewhere", 15*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if p.Status.Reason != "NodeAffinity" {
			t.Fatalf("reason = %q", p.Status.Reason)
		}
	})

	t.Run("graceful delete runs preStop and removes everything", func(t *testing.T) {
		c := withMount(busybox("main", "trap 'exit 0' TERM; while true; do sleep 0.2; done"), "host", "/host")
		marker := e.root + "/prestop-ran"
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"touch", "/host/prestop-ran"}}}}
		p := e.create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bye"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{c}, TerminationGracePeriodSeconds: ptr(int64(5)),
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: e.root}}}},
		}})
		e.waitPod(t, "bye", 30*time.Second, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		// The fake clientset deletes at once; emulate the API server's
		// graceful deletion by setting deletionTimestamp.
		cur, _ := e.client.CoreV1().Pods("default").Get(ctx, "bye", metav1.GetOptions{})
		now := metav1.Now()
		cur.DeletionTimestamp = &now
		cur.DeletionGracePeriodSeconds = ptr(int64(5))
		if _, err := e.client.CoreV1().Pods("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := e.client.CoreV1().Pods("default").Get(ctx, "bye", metav1.GetOptions{})
			cs, lerr := e.crt.Containers(ctx, map[string]string{LabelPodUID: string(p.UID)})
			if err != nil && lerr == nil && len(cs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod not gone: get err=%v, containers=%d", err, len(cs))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("preStop did not run: %v", err)
		}
		if _, err := os.Stat(e.mgr.podDir(p.UID)); !os.IsNotExist(err) {
			t.Errorf("pod dir left behind: %v", err)
		}
	})
}

func withMount(c corev1.Container, vol, path string) corev1.Container {
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: path})
	return c
}

func ptr[T any](v T) *T { return &v }

func withTermLog(c corev1.Container) corev1.Container {
	c.TerminationMessagePath = "/dev/termination-log"
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	return c
}
