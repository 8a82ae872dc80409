package kubelet

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"skiff.dev/kubelet/internal/auth"
	"skiff.dev/kubelet/internal/cni"
	"skiff.dev/kubelet/internal/cri"
	"skiff.dev/kubelet/internal/hollow"
	"skiff.dev/kubelet/internal/masq"
	"skiff.dev/kubelet/internal/node"
	"skiff.dev/kubelet/internal/pod"
	"skiff.dev/kubelet/internal/server"
	"skiff.dev/kubelet/internal/servingcert"
)

// Version is reported as the node's kubeletVersion.
const Version = "v1.37.2-skiff"

// Run runs the kubelet until ctx ends.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	cfg := o.RESTConfig
	if cfg == nil {
		var err error
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return fmt.Errorf("kubeconfig %s: %w", o.Kubeconfig, err)
		}
	} else {
		cfg = rest.CopyConfig(cfg)
	}
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
		if o.Hollow {
			cfg.QPS, cfg.Burst = 500, 1000
		}
	}
	cfg.UserAgent = "skiff-kubelet"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if o.Hollow {
		prefix := o.NodeName
		if prefix == "" {
			prefix = "hollow-node"
		}
		return hollow.Run(ctx, hollow.Options{Client: client, Prefix: prefix, Nodes: o.HollowNodes, Labels: o.NodeLabels, Port: int32(o.ServerPort), Log: log})
	}
	return runNode(ctx, o, cfg, client, log)
}

func runNode(ctx context.Context, o Options, cfg *rest.Config, client kubernetes.Interface, log *slog.Logger) error {
	name := o.NodeName
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		name = strings.ToLower(h)
	}
	nodeIP := o.NodeIP
	if nodeIP == "" {
		nodeIP = defaultIP()
	}
	log = log.With(slog.String("node", name))
	rt, err := cri.Dial(ctx, o.ContainerRuntimeEndpoint)
	if err != nil {
		return err
	}
	defer rt.Close()
	ver, err := rt.Version(ctx, "v1")
	if err != nil {
		return fmt.Errorf("runtime version: %w", err)
	}
	for _, d := range []string{o.RootDir, filepath.Join(o.RootDir, "pods"), filepath.Join(o.RootDir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("root dir: %w", err)
		}
	}

	// The CNI network is decided once: the Node's spec.podCIDR when node
	// IPAM assigns one soon after registration, else --pod-cidr. Changing
	// it later would clash with the bridge's address while pods use it.
	var cniMu sync.Mutex
	cniCIDR := ""
	writeCNI := func(cidr, source string) {
		if o.SkipCNI || cidr == "" {
			return
		}
		cniMu.Lock()
		defer cniMu.Unlock()
		if cniCIDR != "" {
			if cidr != cniCIDR && source == "node" {
				log.Warn("node pod CIDR differs from the CNI network in use; keeping it until restart",
					slog.String("inUse", cniCIDR), slog.String("podCIDR", cidr))
			}
			return
		}
		mode := o.PodMasquerade
		if mode == "" {
			mode = MasqueradeNode
		}
		if mode == MasqueradeNode {
			// Before the conflist: no pod may start without the rules.
			if err := masq.Ensure(masq.Options{PodCIDR: cidr, Bridge: o.CNIBridge}); err != nil {
				log.Error("pod masquerade rules", slog.Any("err", err))
			}
		}
		path, err := cni.Write(cni.Options{ConfDir: o.CNIConfDir, PodCIDR: cidr, Bridge: o.CNIBridge,
			DataDir: filepath.Join(o.RootDir, "cni", "networks"), IPMasq: mode == MasqueradeCNI, NoPortMap: o.CNINoPortMap})
		if err != nil {
			log.Error("write CNI config", slog.Any("err", err))
			return
		}
		cniCIDR = cidr
		log.Info("CNI config written", slog.String("path", path), slog.String("podCIDR", cidr), slog.String("from", source))
	}

	labels := map[string]string{
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       runtime.GOOS,
		"kubernetes.io/arch":     runtime.GOARCH,
		"beta.kubernetes.io/os":  runtime.GOOS,
	}
	for k, v := range o.NodeLabels {
		labels[k] = v
	}
	nm := node.New(node.Options{
		Client:         client,
		Name:           name,
		Labels:         labels,
		Addresses:      []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}, {Type: corev1.NodeHostName, Address: name}},
		Port:           int32(o.ServerPort),
		Capacity:       capacity(o.RootDir, o.MaxPods),
		Info:           systemInfo(ver.RuntimeName + "://" + ver.RuntimeVersion),
		StatusInterval: o.StatusInterval,
		Pressure:       func() (bool, bool, bool) { return pressure(o.RootDir) },
		Health: func(ctx context.Context) (bool, string, string) {
			st, err := rt.Status(ctx, false)
			if err != nil {
				return false, "KubeletNotReady", fmt.Sprintf("container runtime status check failed: %v", err)
			}
			var notReady []string
			for _, c := range st.GetStatus().GetConditions() {
				if !c.Status {
					notReady = append(notReady, fmt.Sprintf("%s=false reason:%s message:%s", c.Type, c.Reason, c.Message))
				}
			}
			if len(notReady) > 0 {
				return false, "KubeletNotReady", "container runtime not ready: " + strings.Join(notReady, "; ")
			}
			return true, "KubeletReady", "kubelet is posting ready status"
		},
		Log: log,
	})
	nm.OnUpdate(func(n *corev1.Node) { writeCNI(n.Spec.PodCIDR, "node") })
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-nm.Registered():
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.PodCIDRWait):
			writeCNI(o.PodCIDR, "--pod-cidr")
		}
	}()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: name})

	pm := pod.New(pod.Options{
		Recorder:            recorder,
		Client:              client,
		Runtime:             rt,
		Images:              rt,
		NodeName:            name,
		NodeIP:              nodeIP,
		Node:                nm.Node,
		RootDir:             o.RootDir,
		ClusterDNS:          o.ClusterDNS,
		ClusterDomain:       o.ClusterDomain,
		CgroupRoot:          o.CgroupRoot,
		BackoffBase:         o.RestartBackoff,
		BackoffMax:          o.MaxRestartBackoff,
		ContainerLogMaxSize: o.ContainerLogMaxSize,
		MaxParallelStarts:   o.MaxParallelPodStarts,
		Log:                 log,
	})

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	start := func(what string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", what, err)
				cancel()
			}
		}()
	}
	if o.ServerPort > 0 {
		tlsConf, guard, err := serverSecurity(o, cfg, client, name, nodeIP, log)
		if err != nil {
			return err
		}
		srv := server.New(server.Options{Addr: net.JoinHostPort(o.Address, fmt.Sprint(o.ServerPort)), NodeName: name, Pods: pm, Runtime: rt,
			TLS: tlsConf, Filter: guard.Wrap, Log: log})
		start("server", srv.Serve)
	}
	start("node", nm.Run)
	start("pods", pm.Run)
	log.Info("kubelet started", slog.String("runtime", ver.RuntimeName+" "+ver.RuntimeVersion), slog.String("nodeIP", nodeIP))
	wg.Wait()
	close(errc)
	return <-errc
}

// serverSecurity returns the kubelet server's TLS configuration and its
// authentication/authorization guard.
func serverSecurity(o Options, cfg *rest.Config, client kubernetes.Interface, name, nodeIP string, log *slog.Logger) (*tls.Config, *auth.Auth, error) {
	certFile, keyFile := o.TLSCertFile, o.TLSKeyFile
	if certFile == "" {
		hosts := []string{name, nodeIP, "localhost", "127.0.0.1", "::1"}
		if ip := net.ParseIP(o.Address); ip != nil && !ip.IsUnspecified() {
			hosts = append(hosts, o.Address)
		}
		var err error
		certFile, keyFile, err = servingcert.Ensure(filepath.Join(o.RootDir, "pki"), name, hosts)
		if err != nil {
			return nil, nil, fmt.Errorf("kubelet serving certificate: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet serving certificate %s: %w", certFile, err)
	}
	var caPEM []byte
	caSource := o.ClientCAFile
	switch {
	case o.ClientCAFile != "":
		if caPEM, err = os.ReadFile(o.ClientCAFile); err != nil {
			return nil, nil, fmt.Errorf("--client-ca-file: %w", err)
		}
	case len(cfg.TLSClientConfig.CAData) > 0:
		caPEM, caSource = cfg.TLSClientConfig.CAData, "API server connection"
	case cfg.TLSClientConfig.CAFile != "":
		if caPEM, err = os.ReadFile(cfg.TLSClientConfig.CAFile); err != nil {
			return nil, nil, fmt.Errorf("CA of the API server connection: %w", err)
		}
		caSource = cfg.TLSClientConfig.CAFile
	}
	var pool *x509.CertPool
	if len(caPEM) > 0 {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, nil, fmt.Errorf("client CA bundle from %s holds no PEM certificate", caSource)
		}
	} else {
		log.Warn("kubelet server: no client CA, x509 client certificates are not accepted")
	}
	guard, err := auth.New(auth.Options{NodeName: name, ClientCAs: pool, Client: client, Anonymous: o.AnonymousAuth, Mode: o.AuthorizationMode, Log: log})
	if err != nil {
		return nil, nil, err
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{pair},
		// Certificates are verified by the authenticator, so that a
		// certificate from another CA is a 401, not a broken handshake.
		ClientAuth: tls.RequestClientCert,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}
	if pool != nil {
		conf.ClientCAs = pool
	}
	log.Info("kubelet server security", slog.String("cert", certFile), slog.String("clientCA", caSource),
		slog.Bool("anonymous", o.AnonymousAuth), slog.String("authorization", o.AuthorizationMode))
	return conf, guard, nil
}

// pressure applies the upstream kubelet's default hard eviction thresholds:
// memory.available<100Mi, nodefs.available<10%, pid.available<10%.
func pressure(rootDir string) (memory, disk, pid bool) {
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if n, _ := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); n == 1 {
				memory = kb*1024 < 100<<20
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(rootDir, &st); err == nil && st.Blocks > 0 {
		disk = float64(st.Bavail)/float64(st.Blocks) < 0.10
	}
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		var max int
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d", &max); err == nil && max > 0 {
			if ents, err := os.ReadDir("/proc"); err == nil {
				procs := 0
				for _, e := range ents {
					if c := e.Name()[0]; c >= '0' && c <= '9' {
						procs++
					}
				}
				pid = float64(procs) > 0.9*float64(max)
			}
		}
	}
	return memory, disk, pid
}

// capacity reads the host's cpu, memory and root-dir disk.
func capacity(rootDir string, maxPods int) corev1.ResourceList {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int64
			if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
				rl[corev1.ResourceMemory] = *resource.NewQuantity(kb*1024, resource.BinarySI)
				break
			}
		}
		f.Close()
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(rootDir, &st); err == nil {
		rl[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*int64(st.Bsize), resource.BinarySI)
	}
	return rl
}

func systemInfo(runtimeVersion string) corev1.NodeSystemInfo {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	osImage := "Linux"
	for _, line := range strings.Split(read("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			osImage = strings.Trim(v, `"`)
		}
	}
	return corev1.NodeSystemInfo{
		MachineID:               read("/etc/machine-id"),
		BootID:                  read("/proc/sys/kernel/random/boot_id"),
		KernelVersion:           read("/proc/sys/kernel/osrelease"),
		OSImage:                 osImage,
		ContainerRuntimeVersion: runtimeVersion,
		KubeletVersion:          Version,
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
	}
}

// defaultIP returns the first IPv4 address of the default-route interface,
// else of any up non-loopback interface, else 127.0.0.1.
func defaultIP() string {
	iface := ""
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 2 && f[1] == "00000000" {
				iface = f[0]
				break
			}
		}
	}
	ifaces, _ := net.Interfaces()
	pick := func(i net.Interface) string {
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				return ipn.IP.String()
			}
		}
		return ""
	}
	for _, i := range ifaces {
		if i.Name == iface {
			if ip := pick(i); ip != "" {
				return ip
			}
		}
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			if ip := pick(i); ip != "" {
				return ip
			}
		}
	}
	return "127.0.0.1"
}
