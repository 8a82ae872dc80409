package pod

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type probeKind string

const (
	liveness  probeKind = "liveness"
	readiness probeKind = "readiness"
	startup   probeKind = "startup"
)

// syncProbers runs one prober per probe of every running container and
// stops probers of containers that are gone.
func (w *worker) syncProbers(ctx context.Context, pod *corev1.Pod, obs observed) {
	want := map[string]bool{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := first(obs[c.Name])
		if latest == nil || latest.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		for _, p := range []struct {
			kind  probeKind
			probe *corev1.Probe
		}{{startup, c.StartupProbe}, {readiness, c.ReadinessProbe}, {liveness, c.LivenessProbe}} {
			if p.probe == nil {
				continue
			}
			key := latest.Id + "/" + string(p.kind)
			want[key] = true
			if _, ok := w.probers[key]; ok {
				continue
			}
			pctx, cancel := context.WithCancel(ctx)
			w.probers[key] = cancel
			go w.probeLoop(pctx, pod, c, latest.Id, p.kind, p.probe)
		}
	}
	for key, cancel := range w.probers {
		if !want[key] {
			cancel()
			delete(w.probers, key)
		}
	}
}

// stopProbers stops every prober (prefix "" ) or those of one container.
func (w *worker) stopProbers(prefix string) {
	for key, cancel := range w.probers {
		if strings.HasPrefix(key, prefix) {
			cancel()
			delete(w.probers, key)
		}
	}
}

func orDefault(v, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

// probeLoop runs one probe on its period and records results in w.probeRes.
func (w *worker) probeLoop(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, kind probeKind, p *corev1.Probe) {
	period := orDefault(p.PeriodSeconds, 10)
	timeout := orDefault(p.TimeoutSeconds, 1)
	success := int(max(p.SuccessThreshold, 1))
	failure := int(p.FailureThreshold)
	if failure <= 0 {
		failure = 3
	}
	if d := time.Duration(p.InitialDelaySeconds) * time.Second; d > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
	key := id + "/" + string(kind)
	var okRun, failRun int
	for {
		// Liveness and readiness wait for the startup probe to pass.
		w.mu.Lock()
		gated := kind != startup && c.StartupProbe != nil && !w.probeRes[id+"/startup"]
		podIPs := w.podIPs
		w.mu.Unlock()
		if !gated {
			err := w.m.probe(ctx, pod, c, id, podIPs, p.ProbeHandler, timeout)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				okRun, failRun = okRun+1, 0
			} else {
				okRun, failRun = 0, failRun+1
				w.log.Debug("probe failed", "container", c.Name, "probe", string(kind), "err", err)
				w.m.opts.Recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", strings.ToUpper(string(kind[:1]))+string(kind[1:]), err)
			}
			changed := false
			w.mu.Lock()
			switch {
			case okRun >= success && !w.probeRes[key]:
				w.probeRes[key] = true
				changed = true
			case failRun >= failure && (w.probeRes[key] || kind != readiness):
				if kind == readiness {
					w.probeRes[key] = false
				} else if !w.probeRes[key+"-failed"] {
					w.probeRes[key+"-failed"] = true
				}
				changed = true
			}
			done := kind == startup && w.probeRes[key]
			w.mu.Unlock()
			if changed {
				w.poke()
			}
			if done {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// probe runs one probe action; nil means success.
func (m *Manager) probe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, podIPs []string, h corev1.ProbeHandler, timeout time.Duration) error {
	switch {
	case h.Exec != nil:
		_, _, err := m.opts.Runtime.ExecSync(ctx, id, h.Exec.Command, timeout)
		return err
	case h.HTTPGet != nil:
		return httpGet(ctx, pod, c, podIPs, h.HTTPGet, timeout)
	case h.TCPSocket != nil:
		host := h.TCPSocket.Host
		if host == "" {
			host = firstIP(podIPs)
		}
		port, err := resolvePort(h.TCPSocket.Port, c)
		if err != nil {
			return err
		}
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.GRPC != nil:
		host := firstIP(podIPs)
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(h.GRPC.Port))))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("probe has no handler")
}

func firstIP(ips []string) string {
	if len(ips) > 0 {
		return ips[0]
	}
	return "127.0.0.1"
}

func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found in container %s", p.StrVal, c.Name)
}

func httpGet(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIPs []string, g *corev1.HTTPGetAction, timeout time.Duration) error {
	host := g.Host
	if host == "" {
		host = firstIP(podIPs)
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	full := u.String() + path
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, full, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/skiff")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// runHandler runs a lifecycle hook (exec, httpGet or sleep).
func (m *Manager) runHandler(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, podIPs []string, h *corev1.LifecycleHandler, timeout time.Duration) error {
	switch {
	case h.Exec != nil:
		_, _, err := m.opts.Runtime.ExecSync(ctx, id, h.Exec.Command, timeout)
		return err
	case h.HTTPGet != nil:
		return httpGet(ctx, pod, c, podIPs, h.HTTPGet, timeout)
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(h.Sleep.Seconds)*time.Second, timeout)):
		}
	}
	return nil
}
