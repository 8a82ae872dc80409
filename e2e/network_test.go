package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"skiff.dev/e2e/cluster"
)

// netIndex is this file's cluster.Options.Index: the cluster runs in its own
// network namespace, but the index still keeps its data and names apart.
const netIndex = 17

// webManifest is a Deployment of three busybox httpd backends that each
// answer with their pod name, behind a NodePort Service.
const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
`

// netTopology is two network namespaces joined by a veth pair: "node",
// where the whole cluster runs (so kube-proxy's rules, the CNI bridge and
// conntrack stay out of the host's), and "client", another host on the
// node's network.
type netTopology struct {
	node, client     string
	nodeIP, clientIP string
}

func newNetTopology(t *testing.T) netTopology {
	t.Helper()
	sweepNetns()
	prefix := fmt.Sprintf("sknet%d-", os.Getpid())
	n := netTopology{node: prefix + "node", client: prefix + "cli", nodeIP: "10.199.17.1", clientIP: "10.199.17.2"}
	for _, ns := range []string{n.node, n.client} {
		ip(t, "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	ip(t, "-n", n.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", n.client)
	ip(t, "-n", n.node, "addr", "add", n.nodeIP+"/24", "dev", "eth0")
	ip(t, "-n", n.client, "addr", "add", n.clientIP+"/24", "dev", "eth0")
	ip(t, "-n", n.node, "link", "set", "eth0", "up")
	ip(t, "-n", n.client, "link", "set", "eth0", "up")
	// The node's default route picks its address (kubelet, DNS endpoint);
	// the client reaches ClusterIPs through the node, like a router would.
	ip(t, "-n", n.node, "route", "add", "default", "via", n.clientIP)
	ip(t, "-n", n.client, "route", "add", "10.96.0.0/12", "via", n.nodeIP)
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"} {
		if out, err := exec.Command("ip", "netns", "exec", n.node, "sysctl", "-q", "-w", kv).CombinedOutput(); err != nil {
			t.Logf("sysctl %s in %s: %v %s", kv, n.node, err, out)
		}
	}
	return n
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sweepNetns deletes "sknet<pid>-…" namespaces whose test process is gone.
func sweepNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, _, ok := strings.Cut(strings.TrimPrefix(name, "sknet"), "-")
		if !strings.HasPrefix(name, "sknet") || !ok {
			continue
		}
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// fetch GETs url with curl from inside ns; it returns the body, or "" and
// a description of the failure.
func fetch(ns, url string) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "3", url).CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), ""
}

// allBackends polls url from ns until every one of want has answered.
func allBackends(t *testing.T, ns, url string, want []string) {
	t.Helper()
	seen := map[string]int{}
	var lastErr string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		body, errMsg := fetch(ns, url)
		if errMsg != "" {
			lastErr = errMsg
			time.Sleep(200 * time.Millisecond)
			continue
		}
		seen[body]++
		missing := 0
		for _, w := range want {
			if seen[w] == 0 {
				missing++
			}
		}
		if missing == 0 {
			for b := range seen {
				if !contains(want, b) {
					t.Errorf("%s answered %q, not one of the backends %v", url, b, want)
				}
			}
			return
		}
	}
	t.Fatalf("%s from %s: backends seen %v, want all of %v (last error: %s)", url, ns, seen, want, lastErr)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestServiceNetworking runs a cluster with kube-proxy and DNS in a
// network namespace of its own and checks Services from three places:
// the node itself (ClusterIP), another host (ClusterIP and NodePort), and a
// pod (DNS names, and the Service by name).
func TestServiceNetworking(t *testing.T) {
	if why := cluster.Requirements(); why != "" {
		t.Skip(why)
	}
	for _, bin := range []string{"ip", "iptables", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skip(bin + " is not installed")
		}
	}
	n := newNetTopology(t)
	c := cluster.Start(t, cluster.Options{Index: netIndex, Netns: n.node, ExtraArgs: []string{"--kube-proxy=true", "--dns=true"}})

	manifest := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(manifest, []byte(webManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.MustKubectl(t, "apply", "-f", manifest)
	c.MustKubectl(t, "run", "dnsclient", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=120s")
	c.MustKubectl(t, "wait", "--for=condition=Ready", "pod/dnsclient", "--timeout=120s")

	pods := strings.Fields(c.MustKubectl(t, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(pods) != 3 {
		t.Fatalf("web pods: %v, want 3", pods)
	}
	clusterIP := c.MustKubectl(t, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	nodePort := c.MustKubectl(t, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
	if clusterIP == "" || nodePort == "" {
		t.Fatalf("service web: clusterIP %q nodePort %q", clusterIP, nodePort)
	}
	// Until the EndpointSlice lists all three, the proxy can't balance over them.
	deadline := time.Now().Add(60 * time.Second)
	for {
		eps := c.MustKubectl(t, "get", "endpointslices", "-l", "kubernetes.io/service-name=web",
			"-o", `jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]} {end}`)
		if len(strings.Fields(eps)) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ready endpoints of web: %q, want 3", eps)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("ClusterIP from the node reaches every backend", func(t *testing.T) {
		allBackends(t, n.node, "http://"+clusterIP+"/", pods)
	})
	t.Run("ClusterIP from another host reaches every backend", func(t *testing.T) {
		allBackends(t, n.client, "http://"+clusterIP+"/", pods)
	})
	t.Run("NodePort from another host reaches every backend", func(t *testing.T) {
		allBackends(t, n.client, "http://"+n.nodeIP+":"+nodePort+"/", pods)
	})
	t.Run("nslookup from a pod resolves the Service", func(t *testing.T) {
		for _, name := range []string{"web.default.svc.cluster.local", "web"} {
			var out string
			deadline := time.Now().Add(30 * time.Second)
			for {
				var err error
				out, err = c.Kubectl(t, "exec", "dnsclient", "--", "nslookup", name)
				// busybox nslookup tries every search domain of a short
				// name and exits 1 because the others are NXDOMAIN (as
				// they should be); the answer is what counts.
				if (err == nil || name == "web") && strings.Contains(out, "Name:\tweb.default.svc.cluster.local\nAddress: "+clusterIP) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("nslookup %s from a pod: want Address: %s, got (err %v):\n%s", name, clusterIP, err, out)
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
	})
	t.Run("Service by name from a pod", func(t *testing.T) {
		out, err := c.Kubectl(t, "exec", "dnsclient", "--", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80")
		if err != nil {
			t.Fatalf("nc web 80 from a pod: %v\n%s", err, out)
		}
		if !strings.Contains(out, "200 OK") || !containsAny(out, pods) {
			t.Errorf("nc web 80 from a pod: want a backend's page, got:\n%s", out)
		}
	})
	t.Run("a backend reaches itself through its Service (hairpin)", func(t *testing.T) {
		// 30 requests over 3 backends: the chance that the pod never picks
		// itself is (2/3)^30, about 5e-6.
		self := pods[0]
		script := "for i in $(seq 30); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80 | tail -n 1; done"
		out, err := c.Kubectl(t, "exec", self, "--", "sh", "-c", script)
		if err != nil {
			t.Fatalf("requests from %s to web: %v\n%s", self, err, out)
		}
		if !strings.Contains(out, self) {
			t.Errorf("%s never reached itself through web in 30 requests (hairpin masquerade missing?):\n%s", self, out)
		}
	})
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
