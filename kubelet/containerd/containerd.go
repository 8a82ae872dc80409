// Package containerd starts a private containerd for skiff: its own config,
// root, state and socket under one directory, with the CRI settings that
// this kind of machine needs (cgroupfs, restrict_oom_score_adj, network
// namespaces under the state dir, skiff's CNI config dir and pause image)
// and the OCI runtime of choice (crun when installed and usable, else
// runc). `skiff up` and the kubelet's integration tests use it; the
// system's containerd (if any) is never touched.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// DefaultPauseImage is the sandbox image name written into the CRI config.
// skiff builds it locally (see package images); it runs `/bin/sleep infinity`.
const DefaultPauseImage = "registry.k8s.io/pause:3.10"

// Options configures a private containerd.
type Options struct {
	// StateDir holds everything: config.toml, root/, state/, the sockets,
	// the CNI conf dir (cni/net.d) and containerd.log. Required.
	StateDir string
	// Binary is the containerd executable (default: "containerd" on $PATH).
	Binary string
	// CNIBinDir holds the CNI plugins (default /usr/lib/cni).
	CNIBinDir string
	// CNIConfDir is where the CRI plugin reads CNI conflists (default StateDir/cni/net.d).
	CNIConfDir string
	// PauseImage is the sandbox image (default DefaultPauseImage).
	PauseImage string
	// Snapshotter is the CRI snapshotter (default overlayfs).
	Snapshotter string
	// StartTimeout bounds the wait for the socket (default 30s).
	StartTimeout time.Duration
	// LogLevel is containerd's log level (default "warn").
	LogLevel string
	// OCIRuntime is the OCI runtime the runc shim execs for every sandbox
	// and container: "runc", "crun", or an absolute path to a binary with
	// runc's command line. Empty ("auto") picks crun when it is installed
	// and runc otherwise: crun is a small C program and starts a
	// container with a fraction of runc's CPU (docs/benchmarks/kubelet.md).
	OCIRuntime string
}

// ResolveOCIRuntime returns the absolute path of the OCI runtime name
// stands for ("", "auto", "runc", "crun" or a path), without changing the
// machine: "auto" is crun when it is installed and this machine's cgroup
// setup suits it, else runc.
func ResolveOCIRuntime(name string) (string, error) {
	p, _, err := resolveOCIRuntime(name, false)
	return p, err
}

// resolveOCIRuntime resolves name; with fix it may mount cgroup v1
// hierarchies crun needs (see crunCgroups). why says why auto did not
// pick crun.
func resolveOCIRuntime(name string, fix bool) (path, why string, err error) {
	switch name {
	case "", "auto":
		if p, err := exec.LookPath("crun"); err == nil {
			_, err := crunCgroups(fix)
			if err == nil {
				return p, "", nil
			}
			why = "crun unusable here: " + err.Error()
		} else {
			why = "crun not installed"
		}
		if p, err := exec.LookPath("runc"); err == nil {
			return p, why, nil
		}
		return "", why, errors.New("containerd: no OCI runtime found (install the crun or runc package)")
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", "", fmt.Errorf("containerd: OCI runtime %q not found: %w", name, err)
	}
	if !filepath.IsAbs(p) {
		if p, err = filepath.Abs(p); err != nil {
			return "", "", fmt.Errorf("containerd: OCI runtime %q: %w", name, err)
		}
	}
	if filepath.Base(p) == "crun" {
		if _, err := crunCgroups(fix); err != nil {
			return "", "", fmt.Errorf("containerd: crun cannot manage cgroups here (use runc): %w", err)
		}
	}
	return p, "", nil
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.StateDir == "" {
		return errors.New("containerd: StateDir is required")
	}
	if !filepath.IsAbs(o.StateDir) {
		return fmt.Errorf("containerd: StateDir %q must be an absolute path", o.StateDir)
	}
	// A unix socket path is limited to 108 bytes.
	if n := len(filepath.Join(o.StateDir, "containerd.sock.ttrpc")); n > 100 {
		return fmt.Errorf("containerd: StateDir %q is too long for a unix socket path (%d bytes)", o.StateDir, n)
	}
	return nil
}

func (o *Options) defaults() {
	if o.Binary == "" {
		o.Binary = "containerd"
	}
	if o.CNIBinDir == "" {
		o.CNIBinDir = "/usr/lib/cni"
	}
	if o.CNIConfDir == "" {
		o.CNIConfDir = filepath.Join(o.StateDir, "cni", "net.d")
	}
	if o.PauseImage == "" {
		o.PauseImage = DefaultPauseImage
	}
	if o.Snapshotter == "" {
		o.Snapshotter = "overlayfs"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
}

// Containerd is a running private containerd.
type Containerd struct {
	// Socket is the gRPC socket path (CRI and containerd API).
	Socket string
	// Endpoint is Socket as a CRI endpoint, "unix://…".
	Endpoint string
	// ConfigPath is the config.toml written for it.
	ConfigPath string
	// CNIConfDir is where CNI conflists must go.
	CNIConfDir string
	// LogPath is containerd's combined output.
	LogPath string
	// Opts are the effective options.
	Opts Options
	// OCIRuntime is the absolute path of the OCI runtime in use, and
	// OCIRuntimeNote why "auto" did not pick crun ("" when it did).
	OCIRuntime     string
	OCIRuntimeNote string

	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

var configTemplate = template.Must(template.New("config").Parse(`version = 2
root = "{{.StateDir}}/root"
state = "{{.StateDir}}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{{.StateDir}}/containerd.sock"

[ttrpc]
  address = "{{.StateDir}}/containerd.sock.ttrpc"

[debug]
  level = "{{.LogLevel}}"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{{.StateDir}}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{{.PauseImage}}"
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    enable_selinux = false
    disable_apparmor = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    max_container_log_line_size = 16384
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "{{.Snapshotter}}"
      default_runtime_name = "runc"
      discard_unpacked_layers = false
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "{{.RuntimeBinary}}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{{.CNIBinDir}}"
      conf_dir = "{{.CNIConfDir}}"
      max_conf_num = 1
`))

// WriteConfig writes config.toml for opts and returns its path.
func WriteConfig(opts Options) (string, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return "", err
	}
	for _, d := range []string{opts.StateDir, opts.CNIConfDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("containerd: create %s: %w", d, err)
		}
	}
	rt, err := ResolveOCIRuntime(opts.OCIRuntime)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := configTemplate.Execute(&b, struct {
		Options
		RuntimeBinary string
	}{opts, rt}); err != nil {
		return "", fmt.Errorf("containerd: render config: %w", err)
	}
	path := filepath.Join(opts.StateDir, "config.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("containerd: write config: %w", err)
	}
	return path, nil
}

// Start writes the config, runs containerd in its own process group and
// waits until its socket accepts connections. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Containerd, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("containerd: binary %q not found (install the containerd package): %w", opts.Binary, err)
	}
	rt, note, err := resolveOCIRuntime(opts.OCIRuntime, true)
	if err != nil {
		return nil, err
	}
	opts.OCIRuntime = rt
	cfg, err := WriteConfig(opts)
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(opts.StateDir, "containerd.sock")
	_ = os.Remove(sock)
	logPath := filepath.Join(opts.StateDir, "containerd.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("containerd: open log: %w", err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("containerd: start: %w", err)
	}
	c := &Containerd{
		Socket:         sock,
		Endpoint:       "unix://" + sock,
		ConfigPath:     cfg,
		CNIConfDir:     opts.CNIConfDir,
		LogPath:        logPath,
		Opts:           opts,
		OCIRuntime:     rt,
		OCIRuntimeNote: note,
		cmd:            cmd,
		done:           make(chan struct{}),
		log:            logFile,
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	if err := c.waitSocket(ctx, opts.StartTimeout); err != nil {
		c.Stop()
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("containerd: %w\n%s", err, tail(b, 2048))
	}
	return c, nil
}

func (c *Containerd) waitSocket(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("unix", c.Socket, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-c.done:
			return errors.New("exited before its socket was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("socket %s not ready within %s", c.Socket, timeout)
		case <-tick.C:
		}
	}
}

// Pid is the containerd process id.
func (c *Containerd) Pid() int { return c.cmd.Process.Pid }

// Done is closed when containerd exits.
func (c *Containerd) Done() <-chan struct{} { return c.done }

// Stop sends SIGTERM to containerd, then SIGKILL after 10s, and waits. It
// does not stop running containers (their shims outlive containerd); stop
// pod sandboxes through CRI first if they must go.
func (c *Containerd) Stop() {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	if c.log != nil {
		c.log.Close()
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
