package kubelet_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/api/pki"
	"skiff.dev/api/testenv"
	"skiff.dev/kubelet"
	"skiff.dev/kubelet/internal/crienv"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*kubelet.Options)
		error string
	}{
		{"defaults with kubeconfig", func(o *kubelet.Options) { o.Kubeconfig = "/k" }, ""},
		{"no kubeconfig", func(o *kubelet.Options) {}, "--kubeconfig is required"},
		{"bad cidr", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.PodCIDR = "10.0.0.0" }, "--pod-cidr"},
		{"bad port", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.ServerPort = 70000 }, "--port"},
		{"relative root", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.RootDir = "rel" }, "--root-dir"},
		{"bad dns", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.ClusterDNS = []string{"x"} }, "--cluster-dns"},
		{"hollow needs nodes", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.Hollow = true }, "--hollow-nodes"},
		{"hollow ok", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.Hollow = true; o.HollowNodes = 3 }, ""},
		{"cert without key", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.TLSCertFile = "/c" }, "--tls-cert-file and --tls-private-key-file"},
		{"cert and key", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.TLSCertFile, o.TLSKeyFile = "/c", "/k" }, ""},
		{"bad authorization mode", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.AuthorizationMode = "RBAC" }, "--authorization-mode"},
		{"AlwaysAllow", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.AuthorizationMode = "AlwaysAllow" }, ""},
		{"bad pod masquerade", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.PodMasquerade = "pod" }, "--pod-masquerade"},
		{"cni masquerade", func(o *kubelet.Options) { o.Kubeconfig = "/k"; o.PodMasquerade = kubelet.MasqueradeCNI }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := kubelet.NewOptions()
			tc.edit(&o)
			err := o.Validate()
			switch {
			case tc.error == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.error != "" && (err == nil || !strings.Contains(err.Error(), tc.error)):
				t.Fatalf("error %v, want %q", err, tc.error)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

// startKubelet runs kubelet.Run in the background against env.
func startKubelet(t *testing.T, o kubelet.Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- kubelet.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("kubelet: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("kubelet did not stop")
		}
	})
}

func testLogger(*testing.T) *slog.Logger { return testLoggerB() }

func testLoggerB() *slog.Logger {
	if os.Getenv("KUBELET_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if err := testenv.Poll(timeout, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// bind creates a pod and binds it to node the way the scheduler does.
func bind(t *testing.T, c kubernetes.Interface, pod *corev1.Pod, node string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	err := c.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bind pod %s: %v", pod.Name, err)
	}
}

func podIn(t *testing.T, c kubernetes.Interface, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := testenv.Poll(timeout, func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s: %s: %v; last status: %+v", name, what, err, last.Status)
	}
	return last
}

// TestKubeletWithAPIServer runs the kubelet against a real apiserver
// process and a real containerd, binding pods directly (no scheduler).
func TestKubeletWithAPIServer(t *testing.T) {
	if why := crienv.Skip(); why != "" {
		t.Skip("needs a real runtime: " + why)
	}
	env := testenv.StartAPIServer(t, testenv.Options{})
	crt := crienv.Start(t)
	nodeName := fmt.Sprintf("node-%d", time.Now().UnixNano()%100000)
	o := kubelet.NewOptions()
	// The kubelet acts as its node (Node authorizer + system:node role)
	// and serves a certificate from the cluster CA, which the apiserver
	// verifies (--kubelet-certificate-authority defaults to it).
	o.RESTConfig = env.UserConfig(t, "system:node:"+nodeName, "system:nodes")
	certDir := t.TempDir()
	var err error
	if o.TLSCertFile, o.TLSKeyFile, err = env.CA.IssueServing(certDir, "kubelet", []string{"127.0.0.1", "localhost", nodeName}); err != nil {
		t.Fatal(err)
	}
	o.NodeName = nodeName
	o.NodeIP = "127.0.0.1"
	o.Address = "127.0.0.1"
	o.ServerPort = testenv.FreePort(t)
	o.ContainerRuntimeEndpoint = crt.Containerd.Endpoint
	o.RootDir = t.TempDir()
	// The kubelet writes the CNI network (no node IPAM here: --pod-cidr).
	o.CNIConfDir = crt.Containerd.CNIConfDir
	o.CNIBridge = crt.Bridge
	// Per-pod rules that go with the pods: the test leaves the host's
	// nat table as it found it ("node" mode is tested in internal/masq).
	o.PodMasquerade = kubelet.MasqueradeCNI
	o.PodCIDR = crt.PodCIDR
	o.PodCIDRWait = 200 * time.Millisecond
	o.CgroupRoot = crt.CgroupRoot
	o.RestartBackoff = time.Second
	o.MaxRestartBackoff = 4 * time.Second
	o.Log = testLogger(t)
	start := time.Now()
	startKubelet(t, o)
	c := env.Client
	ctx := context.Background()

	waitFor(t, 10*time.Second, "node Ready", func() (bool, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		return err == nil && nodeReady(n), nil
	})
	t.Logf("node Ready %s after start", time.Since(start).Round(time.Millisecond))
	n, _ := c.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != int32(o.ServerPort) || n.Status.Capacity.Cpu().IsZero() ||
		!strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") {
		t.Fatalf("node status incomplete: %+v", n.Status)
	}
	waitFor(t, 10*time.Second, "node lease", func() (bool, error) {
		l, err := c.CoordinationV1().Leases("kube-node-lease").Get(ctx, nodeName, metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil, nil
	})

	t.Run("httpd pod runs and is reachable", func(t *testing.T) {
		bind(t, c, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "httpd", Image: "busybox", Command: []string{"httpd", "-f", "-p", "8080", "-h", "/var/www"},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstrName("http")}}, PeriodSeconds: 1},
			}}},
		}, nodeName)
		p := podIn(t, c, "web", 30*time.Second, "Running and Ready", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && isReady(p)
		})
		if _, cidr, _ := net.ParseCIDR(crt.PodCIDR); !cidr.Contains(net.ParseIP(p.Status.PodIP)) {
			t.Fatalf("pod IP %s outside the pod CIDR %s", p.Status.PodIP, crt.PodCIDR)
		}
		resp, err := http.Get("http://" + p.Status.PodIP + ":8080/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "hello from skiff busybox") {
			t.Fatalf("body %q", b)
		}
		out, err := env.Kubectl(t, "get", "pods", "-o", "wide")
		if err != nil || !strings.Contains(out, p.Status.PodIP) || !strings.Contains(out, nodeName) || !strings.Contains(out, "1/1") {
			t.Fatalf("kubectl get pods -o wide: %v\n%s", err, out)
		}
		waitFor(t, 10*time.Second, "describe shows events", func() (bool, error) {
			out, err := env.Kubectl(t, "describe", "pod", "web")
			if os.Getenv("KUBELET_TEST_DEBUG") != "" {
				t.Log(out)
			}
			return err == nil && strings.Contains(out, "Started container httpd") && strings.Contains(out, "Ready:") &&
				strings.Contains(out, "IP:") && strings.Contains(out, "containerd://"), nil
		})
	})

	t.Run("kubelet API authenticates and authorizes", func(t *testing.T) {
		// A user with nodes/proxy but nothing else, bound through RBAC.
		if _, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "node-proxier-test"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/proxy"}, Verbs: []string{"get", "create"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "node-proxier-test"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "node-proxier-test"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "proxier"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Wait until RBAC sees the binding, so the kubelet caches no stale denial.
		waitFor(t, 10*time.Second, "binding effective", func() (bool, error) {
			sar, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: "proxier", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Version: "v1", Resource: "nodes", Subresource: "proxy", Name: nodeName}}}, metav1.CreateOptions{})
			return err == nil && sar.Status.Allowed, nil
		})
		other := t.TempDir()
		otherCA, err := pki.LoadOrCreateCA(other)
		if err != nil {
			t.Fatal(err)
		}
		// A ServiceAccount token, checked by TokenReview at the apiserver.
		if _, err := c.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := c.CoreV1().ServiceAccounts("default").CreateToken(ctx, "reader", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kubeletURL := fmt.Sprintf("https://127.0.0.1:%d", o.ServerPort)
		cases := []struct {
			name   string
			client *http.Client
			path   string
			code   int
		}{
			{"service account token without nodes/proxy", withToken(kubeletClient(t, nil, "", nil), tr.Status.Token), "/containerLogs/default/web/httpd", 403},
			{"forged token", withToken(kubeletClient(t, nil, "", nil), tr.Status.Token+"x"), "/containerLogs/default/web/httpd", 401},
			{"no credentials", kubeletClient(t, nil, "", nil), "/containerLogs/default/web/httpd", 401},
			{"certificate from another CA", kubeletClient(t, otherCA, "admin", []string{"system:masters"}), "/containerLogs/default/web/httpd", 401},
			{"user without nodes/proxy: logs", kubeletClient(t, env.CA, "nobody", nil), "/containerLogs/default/web/httpd", 403},
			{"user without nodes/proxy: exec", kubeletClient(t, env.CA, "nobody", nil), "/exec/default/web/httpd?command=true&stdout=true", 403},
			{"user without nodes/stats", kubeletClient(t, env.CA, "proxier", nil), "/stats/summary", 403},
			{"user with nodes/proxy", kubeletClient(t, env.CA, "proxier", nil), "/containerLogs/default/web/httpd", 200},
			{"admin", kubeletClient(t, env.CA, "admin", []string{"system:masters"}), "/stats/summary", 200},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				waitFor(t, 10*time.Second, fmt.Sprintf("GET %s answers %d", tc.path, tc.code), func() (bool, error) {
					resp, err := tc.client.Get(kubeletURL + tc.path)
					if err != nil {
						return false, err
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.code {
						t.Logf("%d %s", resp.StatusCode, b)
					}
					return resp.StatusCode == tc.code, nil
				})
			})
		}
		// The apiserver reaches the kubelet with its kubelet client certificate.
		if b, err := c.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodeName, "proxy/stats/summary").DoRaw(ctx); err != nil || !strings.Contains(string(b), nodeName) {
			t.Fatalf("nodes/proxy/stats/summary: %v %.200s", err, b)
		}
		if b, err := c.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes", nodeName).DoRaw(ctx); err != nil || !strings.Contains(string(b), "NodeMetrics") {
			t.Fatalf("metrics.k8s.io node: %v %.200s", err, b)
		}
		// Latency of an authorized request with an empty cache (one
		// SubjectAccessReview to the apiserver) and with a warm one.
		probe := kubeletClient(t, env.CA, "latency-probe", []string{"system:masters"})
		get := func() time.Duration {
			start := time.Now()
			resp, err := probe.Get(kubeletURL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("healthz: %d", resp.StatusCode)
			}
			return time.Since(start)
		}
		if resp, err := kubeletClient(t, nil, "", nil).Get(kubeletURL + "/healthz"); err == nil {
			resp.Body.Close()
		}
		// TLS handshake, and an authorization of another verb (create).
		if resp, err := probe.Post(kubeletURL+"/nope-warm-up", "text/plain", nil); err == nil {
			resp.Body.Close()
		}
		cold := get()
		var warm time.Duration
		for i := 0; i < 20; i++ {
			warm += get()
		}
		t.Logf("kubelet API latency over TLS with a real apiserver: uncached authz %v, cached %v",
			cold.Round(time.Microsecond), (warm / 20).Round(time.Microsecond))
	})

	t.Run("kubectl logs and exec through the apiserver", func(t *testing.T) {
		out, err := env.Kubectl(t, "logs", "web")
		if err != nil && (strings.Contains(out, "could not find the requested resource") || strings.Contains(out, "NotFound")) {
			t.Skipf("apiserver does not proxy pods/log yet: %s", out)
		}
		if err != nil {
			t.Fatalf("kubectl logs: %v\n%s", err, out)
		}
		out, err = env.Kubectl(t, "exec", "web", "--", "echo", "ok")
		if err != nil || out != "ok\n" {
			t.Fatalf("kubectl exec: %v\n%q", err, out)
		}
		out, err = env.Kubectl(t, "exec", "web", "--", "sh", "-c", "exit 3")
		if err == nil || !strings.Contains(out, "exit code 3") {
			t.Fatalf("kubectl exec exit 3: %v\n%q", err, out)
		}
		// Issue 6: the end of stdin reaches the process.
		start := time.Now()
		out, err = kubectlStdin(t, env.Kubeconfig, "hello\n", "exec", "-i", "web", "--", "sh", "-c", "cat; echo done")
		if err != nil || out != "hello\ndone\n" {
			t.Fatalf("kubectl exec -i cat: %v\n%q", err, out)
		}
		t.Logf("kubectl exec -i -- cat with closed stdin ended in %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("kubectl port-forward through the apiserver", func(t *testing.T) {
		kubectl, err := osexec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl not installed")
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := osexec.CommandContext(pctx, kubectl, "--kubeconfig", env.Kubeconfig, "port-forward", "pod/web", "0:8080")
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		// "Forwarding from 127.0.0.1:PORT -> 8080"
		sc := bufio.NewScanner(stdout)
		local := ""
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 5 && f[0] == "Forwarding" && strings.HasPrefix(f[2], "127.0.0.1:") {
				local = f[2]
				break
			}
		}
		if local == "" {
			t.Fatalf("kubectl port-forward printed no port: %s", stderr.String())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		resp, err := http.Get("http://" + local + "/")
		if err != nil {
			t.Fatalf("get through port-forward: %v (%s)", err, stderr.String())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "hello from skiff busybox") {
			t.Fatalf("body through port-forward %q", b)
		}
	})

	t.Run("job completes", func(t *testing.T) {
		bind(t, c, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "default"},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
				Name: "main", Image: "busybox", Command: []string{"sh", "-c", "echo done"},
			}}},
		}, nodeName)
		podIn(t, c, "job", 30*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if out, err := env.Kubectl(t, "logs", "job"); err == nil && out != "done\n" {
			t.Fatalf("kubectl logs job = %q", out)
		}
	})

	t.Run("service links in the environment", func(t *testing.T) {
		bind(t, c, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "env", Namespace: "default"},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
				Name: "main", Image: "busybox", Command: []string{"sh", "-c", "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"},
			}}},
		}, nodeName)
		podIn(t, c, "env", 30*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		out, err := env.Kubectl(t, "logs", "env")
		if err != nil || !strings.HasSuffix(out, ":443\n") || strings.HasPrefix(out, ":") {
			t.Fatalf("kubectl logs env = %q, %v; want the kubernetes Service's host:443", out, err)
		}
	})

	t.Run("crashing container backs off", func(t *testing.T) {
		bind(t, c, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "crash", Namespace: "default"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"sh", "-c", "echo boom; exit 1"}}}},
		}, nodeName)
		podIn(t, c, "crash", 45*time.Second, "CrashLoopBackOff", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
		})
		out, err := env.Kubectl(t, "get", "pod", "crash")
		if err != nil || !strings.Contains(out, "CrashLoopBackOff") {
			t.Fatalf("kubectl get pod crash: %v\n%s", err, out)
		}
		if out, err := env.Kubectl(t, "logs", "crash", "--previous"); err == nil && out != "boom\n" {
			t.Fatalf("kubectl logs --previous = %q", out)
		}
	})

	t.Run("failing readiness keeps pod unready", func(t *testing.T) {
		bind(t, c, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "unready", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "main", Image: "busybox", Command: []string{"sleep", "3600"},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}, PeriodSeconds: 1},
			}}},
		}, nodeName)
		podIn(t, c, "unready", 30*time.Second, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		time.Sleep(3 * time.Second)
		p := podIn(t, c, "unready", time.Second, "unready", func(p *corev1.Pod) bool { return !isReady(p) })
		if p.Status.ContainerStatuses[0].Ready {
			t.Fatal("container reported ready")
		}
	})

	t.Run("delete removes pod and containers", func(t *testing.T) {
		for _, name := range []string{"web", "job", "env", "crash", "unready"} {
			grace := int64(2)
			if err := c.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
				t.Fatalf("delete %s: %v", name, err)
			}
		}
		waitFor(t, 60*time.Second, "pods gone", func() (bool, error) {
			l, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err == nil && len(l.Items) == 0, nil
		})
		waitFor(t, 30*time.Second, "containers gone from containerd", func() (bool, error) {
			cs, err := crt.Containers(ctx, nil)
			return err == nil && len(cs) == 0, nil
		})
		if _, err := c.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("web still there: %v", err)
		}
		// No pod cgroups are left behind under the kubelet's cgroup root.
		ctrls, _ := os.ReadDir("/sys/fs/cgroup")
		for _, ctrl := range ctrls {
			left, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", ctrl.Name(), o.CgroupRoot, "pod*"))
			if len(left) > 0 {
				t.Errorf("cgroup leftovers: %v", left)
			}
		}
	})
}

// TestHollowNodes runs hollow nodes against a real apiserver: they
// register Ready with leases, report bound pods Running and remove
// deleted pods.
func TestHollowNodes(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	o := kubelet.NewOptions()
	o.RESTConfig = env.Config
	o.Hollow = true
	o.HollowNodes = 20
	o.NodeName = "hollow"
	o.Log = testLogger(t)
	startKubelet(t, o)
	c := env.Client
	ctx := context.Background()
	waitFor(t, 30*time.Second, "20 hollow nodes Ready", func() (bool, error) {
		l, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		n := 0
		for i := range l.Items {
			if nodeReady(&l.Items[i]) {
				n++
			}
		}
		return n == 20, nil
	})
	waitFor(t, 30*time.Second, "20 leases", func() (bool, error) {
		l, err := c.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 20, nil
	})
	for i := 0; i < 10; i++ {
		bind(t, c, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("h%d", i), Namespace: "default"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, fmt.Sprintf("hollow-%d", i))
	}
	waitFor(t, 30*time.Second, "hollow pods Running", func() (bool, error) {
		l, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		n := 0
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && isReady(&p) {
				n++
			}
		}
		return n == 10, nil
	})
	for i := 0; i < 10; i++ {
		if err := c.CoreV1().Pods("default").Delete(ctx, fmt.Sprintf("h%d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "hollow pods deleted", func() (bool, error) {
		l, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, nil
	})
}

// kubeletClient returns an HTTPS client for the kubelet API presenting a
// client certificate for user from ca (none when ca is nil).
func kubeletClient(t *testing.T, ca *pki.CA, user string, groups []string) *http.Client {
	t.Helper()
	conf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // any kubelet serving cert
	if ca != nil {
		certPEM, keyPEM, err := ca.NewClient(user, groups)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 10 * time.Second}
}

// withToken makes c send a bearer token.
func withToken(c *http.Client, token string) *http.Client {
	c.Transport = bearer{token: token, next: c.Transport}
	return c
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// kubectlStdin runs kubectl with stdin from a string that then ends.
func kubectlStdin(t *testing.T, kubeconfig, stdin string, args ...string) (string, error) {
	t.Helper()
	kubectl, err := osexec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("kubectl %v did not end: %w", args, ctx.Err())
	}
	return out.String(), err
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
