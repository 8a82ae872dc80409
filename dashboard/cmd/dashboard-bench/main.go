// Command dashboard-bench measures the dashboard server against real skiff
// processes: it starts `skiff apiserver` and `skiff dashboard`, creates
// pods, opens browser-like websockets (each watching pods, nodes, events
// and namespaces, like an overview tab) and prints a table: time to the
// first full list, event fan-out latency to every socket, and the
// dashboard process's memory idle and with the sockets open.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/api/testenv"
)

type options struct {
	skiff   string
	pods    int
	sockets int
	events  int
}

func main() {
	var o options
	flag.StringVar(&o.skiff, "skiff", "", "path of the skiff binary (required)")
	flag.IntVar(&o.pods, "pods", 1000, "pods to create before opening sockets")
	flag.IntVar(&o.sockets, "sockets", 20, "browser sockets to open")
	flag.IntVar(&o.events, "events", 30, "pod creations timed for fan-out latency")
	flag.Parse()
	if o.skiff == "" {
		fmt.Fprintln(os.Stderr, "dashboard-bench: --skiff is required")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard-bench:", err)
		os.Exit(1)
	}
}

func start(bin string, logPath string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %v: %w", args, err)
	}
	return cmd, nil
}

func stop(cmd *exec.Cmd) {
	testenv.StopGroup(cmd, 10*time.Second)
}

func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s", url, timeout)
}

// memory returns VmRSS and VmHWM of pid in MiB.
func memory(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

type msg struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
	List   struct {
		Items []json.RawMessage `json:"items"`
	} `json:"list"`
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "dashboard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	apiPort, err := testenv.PickPort()
	if err != nil {
		return err
	}
	// TLS as in any cluster; no controller-manager runs, so ServiceAccount
	// admission (which wants a "default" account) is off.
	api, err := start(o.skiff, filepath.Join(dir, "apiserver.log"), "apiserver", "--data-dir", filepath.Join(dir, "data"),
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(apiPort), "--disable-admission-plugins=ServiceAccount")
	if err != nil {
		return err
	}
	defer stop(api)
	kubeconfig := filepath.Join(dir, "data", "admin.kubeconfig")
	cfg, err := waitKubeconfig(kubeconfig, 60*time.Second)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Resources: corev1.ResourceRequirements{}}}}}
	}
	var wg sync.WaitGroup
	work := make(chan int)
	errc := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := client.CoreV1().Pods("bench").Create(ctx, pod(fmt.Sprintf("pod-%05d", i)), metav1.CreateOptions{}); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range o.pods {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("create pods: %w", err)
	default:
	}

	dashPort, err := testenv.PickPort()
	if err != nil {
		return err
	}
	dash, err := start(o.skiff, filepath.Join(dir, "dashboard.log"), "dashboard", "--kubeconfig", kubeconfig, "--listen", fmt.Sprintf("127.0.0.1:%d", dashPort))
	if err != nil {
		return err
	}
	defer stop(dash)
	dashURL := fmt.Sprintf("127.0.0.1:%d", dashPort)
	if err := waitHTTP("http://"+dashURL+"/", 30*time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second)
	idleRSS, _ := memory(dash.Process.Pid)

	// Open the sockets; each watches what an overview tab watches.
	type sock struct {
		conn  *websocket.Conn
		added chan string
	}
	socks := make([]*sock, o.sockets)
	syncStart := time.Now()
	synced := make(chan time.Duration, o.sockets)
	for i := range socks {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+dashURL+"/ws", nil)
		if err != nil {
			return fmt.Errorf("dial socket %d: %w", i, err)
		}
		defer c.Close()
		s := &sock{conn: c, added: make(chan string, 1024)}
		socks[i] = s
		for _, w := range []struct{ id, path string }{{"pods", "/api/v1/pods"}, {"nodes", "/api/v1/nodes"}, {"events", "/api/v1/events"}, {"ns", "/api/v1/namespaces"}} {
			if err := c.WriteJSON(map[string]string{"op": "watch", "id": w.id, "path": w.path}); err != nil {
				return err
			}
		}
		go func() {
			for {
				var m msg
				if err := c.ReadJSON(&m); err != nil {
					return
				}
				if m.ID != "pods" {
					continue
				}
				switch m.Type {
				case "SYNC":
					synced <- time.Since(syncStart)
				case "ADDED":
					var o struct {
						Metadata struct{ Name string } `json:"metadata"`
					}
					_ = json.Unmarshal(m.Object, &o)
					s.added <- o.Metadata.Name
				}
			}
		}()
	}
	var lastSync time.Duration
	for range socks {
		select {
		case d := <-synced:
			lastSync = max(lastSync, d)
		case <-time.After(120 * time.Second):
			return errors.New("sockets did not all receive the pod list")
		}
	}
	time.Sleep(2 * time.Second)
	openRSS, openHWM := memory(dash.Process.Pid)

	// Fan-out: time from a pod create until every socket has the event.
	var lat []time.Duration
	for i := range o.events {
		name := fmt.Sprintf("fanout-%03d", i)
		t0 := time.Now()
		if _, err := client.CoreV1().Pods("bench").Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
			return err
		}
		for _, s := range socks {
			for got := ""; got != name; {
				select {
				case got = <-s.added:
				case <-time.After(30 * time.Second):
					return fmt.Errorf("socket missed %s", name)
				}
			}
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	afterRSS, afterHWM := memory(dash.Process.Pid)

	fmt.Printf("%-52s %s\n", "metric", "value")
	fmt.Printf("%-52s %d\n", "pods in the cluster", o.pods+o.events)
	fmt.Printf("%-52s %d (4 watches each)\n", "browser sockets", o.sockets)
	fmt.Printf("%-52s %.1f MiB\n", "dashboard RSS idle", idleRSS)
	fmt.Printf("%-52s %.1f MiB (peak %.1f)\n", "dashboard RSS, sockets open, lists sent", openRSS, openHWM)
	fmt.Printf("%-52s %.1f MiB (peak %.1f)\n", "dashboard RSS after fan-out", afterRSS, afterHWM)
	fmt.Printf("%-52s %s\n", fmt.Sprintf("all %d sockets received the %d-pod list", o.sockets, o.pods), lastSync.Round(time.Millisecond))
	fmt.Printf("%-52s p50 %s  p99 %s  max %s\n", "pod create -> ADDED on every socket", lat[len(lat)/2].Round(100*time.Microsecond),
		lat[len(lat)*99/100].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
	return nil
}

// waitKubeconfig waits for the apiserver to write its admin kubeconfig and
// answer /readyz with it.
func waitKubeconfig(path string, timeout time.Duration) (*rest.Config, error) {
	deadline := time.Now().Add(timeout)
	for {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err == nil {
			var hc *http.Client
			if hc, err = rest.HTTPClientFor(cfg); err != nil {
				return nil, err
			}
			hc.Timeout = 2 * time.Second
			var resp *http.Response
			if resp, err = hc.Get(cfg.Host + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return cfg, nil
				}
				err = fmt.Errorf("/readyz: %s", resp.Status)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("apiserver not ready within %s: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
