package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/addons/dns"
	"skiff.dev/addons/ingress"
	"skiff.dev/apiserver"
	"skiff.dev/controlplane"
	"skiff.dev/dashboard"
	"skiff.dev/kubelet"
	"skiff.dev/kubelet/containerd"
	"skiff.dev/kubelet/images"
	"skiff.dev/kubeproxy"
	"skiff.dev/scheduler"
)

// upOptions configures `skiff up`.
type upOptions struct {
	DataDir     string
	Port        int
	NodeName    string
	KubeletPort int
	KubeProxy   bool
	DNS         bool
	DNSListen   string
	ClusterCIDR string
	CNIBridge   string
	Ingress     bool
	IngressHTTP string
	Dashboard   string
	LogLevel    string
	OCIRuntime  string
	// EndpointChains makes kube-proxy program upstream's per-endpoint
	// KUBE-SEP chains instead of the flat layout.
	EndpointChains bool
}

// clusterDNSIP is the fixed ClusterIP of kube-system/kube-dns, first
// usable address after the apiserver's in the default service range.
const clusterDNSIP = "10.96.0.10"

func (o *upOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", ".skiff", "directory for all cluster state (etcd, containerd, kubelet, pki, admin kubeconfig)")
	fs.IntVar(&o.Port, "port", 6443, "apiserver port on 127.0.0.1 (0 picks a free one)")
	fs.StringVar(&o.NodeName, "node-name", "", "name of the local node (default: hostname)")
	fs.IntVar(&o.KubeletPort, "kubelet-port", kubelet.DefaultPort, "kubelet API port")
	fs.BoolVar(&o.KubeProxy, "kube-proxy", true, "run kube-proxy (programs the host's iptables nat table)")
	fs.BoolVar(&o.DNS, "dns", true, "run cluster DNS")
	fs.StringVar(&o.DNSListen, "dns-listen", "", "cluster DNS listen address (default 0.0.0.0:53); pods reach it through the kube-dns Service at "+clusterDNSIP)
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "CIDR from which nodes get their pod CIDRs")
	fs.StringVar(&o.CNIBridge, "cni-bridge", "skiff0", "name of the node's CNI bridge")
	fs.StringVar(&o.Dashboard, "dashboard", "127.0.0.1:8001", "dashboard listen address (empty disables the dashboard)")
	fs.BoolVar(&o.Ingress, "ingress", false, "run the ingress controller")
	fs.StringVar(&o.IngressHTTP, "ingress-http", ":80", "ingress controller HTTP listen address")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&o.EndpointChains, "endpoint-chains", false, "kube-proxy programs upstream's per-endpoint KUBE-SEP chains (slower syncs with many endpoints) instead of DNAT rules in each Service chain")
	fs.StringVar(&o.OCIRuntime, "oci-runtime", "auto", "OCI runtime containerd uses: auto (crun when installed and usable, else runc), crun, runc or a path")
}

func (o *upOptions) validate() error {
	if o.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	o.DataDir = abs
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("--port %d is out of range", o.Port)
	}
	return nil
}

func upCommand() command {
	return command{
		summary: "run a whole single-node cluster (etcd, apiserver, controllers, scheduler, kubelet on containerd)",
		run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("up", flag.ContinueOnError)
			var o upOptions
			o.addFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			if fs.NArg() > 0 {
				return fmt.Errorf("unexpected arguments: %v", fs.Args())
			}
			if err := o.validate(); err != nil {
				return err
			}
			return runUp(ctx, o)
		},
	}
}

// component is one long-running part of the cluster.
type component struct {
	name string
	run  func(ctx context.Context) error
}

func runUp(ctx context.Context, o upOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	start := time.Now()

	// The container runtime first: a private containerd with skiff's own
	// config and state dir, and the locally built images imported into it.
	crt, err := containerd.Start(ctx, containerd.Options{StateDir: filepath.Join(o.DataDir, "containerd"), OCIRuntime: o.OCIRuntime})
	if err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	defer crt.Stop()
	if err := images.BuildAndImport(ctx, crt.Socket, filepath.Join(o.DataDir, "images")); err != nil {
		return fmt.Errorf("import images: %w", err)
	}
	// A bridge left by an earlier cluster may carry another pod CIDR.
	if err := kubelet.RemoveBridge(o.CNIBridge); err != nil {
		log.Warn("removing a stale CNI bridge", "err", err)
	}
	log.Info("containerd ready", "socket", crt.Socket, "ociRuntime", crt.OCIRuntime, "images", []string{images.Busybox, images.Pause})
	if crt.OCIRuntimeNote != "" {
		log.Info("using runc", "why", crt.OCIRuntimeNote)
	}

	// ctx ends on Ctrl-C; runCtx ends when any component fails too.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	// TLS everywhere: one cluster CA in <data-dir>/pki. The apiserver
	// issues its own serving certificate and the admin kubeconfig there;
	// skiff up issues one client certificate per component.
	nodeName := o.NodeName
	if nodeName == "" {
		if nodeName, err = defaultNodeName(); err != nil {
			return err
		}
	}
	certs, err := newClusterPKI(filepath.Join(o.DataDir, "pki"))
	if err != nil {
		return err
	}
	kubeletCert, kubeletKey, err := certs.kubeletServing(nodeName)
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}
	kubeconfig := filepath.Join(o.DataDir, "admin.kubeconfig")
	srv, err := apiserver.New(apiserver.Options{
		DataDir:                     filepath.Join(o.DataDir, "apiserver"),
		Port:                        o.Port,
		KubeconfigPath:              kubeconfig,
		PKIDir:                      certs.dir,
		KubeletCertificateAuthority: certs.caFile,
		Logger:                      log.With("component", "apiserver"),
	})
	if err != nil {
		return fmt.Errorf("apiserver: %w", err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	launch := func(c component) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.run(runCtx); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", c.name, err)
				cancel()
			}
		}()
	}
	launch(component{"apiserver", srv.Run})
	select {
	case <-srv.Ready():
	case err := <-errc:
		wg.Wait()
		return err
	case <-runCtx.Done():
		wg.Wait()
		return nil
	}
	cfgs, err := componentConfigs(certs, srv.URL(), nodeName)
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}

	cm := controlplane.Defaults()
	cm.RESTConfig, cm.Logger = cfgs.controllerManager, log.With("component", "controller-manager")
	cm.ClusterCIDR = o.ClusterCIDR
	cm.RootCAFile = certs.caFile
	launch(component{"controller-manager", func(ctx context.Context) error { return controlplane.Run(ctx, cm) }})

	launch(component{"scheduler", func(ctx context.Context) error {
		return scheduler.Run(ctx, scheduler.Options{RESTConfig: cfgs.scheduler, WasmCacheDir: filepath.Join(o.DataDir, "wasm-cache", "scheduler"), Logger: log.With("component", "scheduler")})
	}})

	kl := kubelet.NewOptions()
	kl.RESTConfig, kl.Log = cfgs.kubelet, log.With("component", "kubelet")
	kl.NodeName = nodeName
	kl.ServerPort = o.KubeletPort
	kl.TLSCertFile, kl.TLSKeyFile, kl.ClientCAFile = kubeletCert, kubeletKey, certs.caFile
	kl.ContainerRuntimeEndpoint = crt.Endpoint
	kl.RootDir = filepath.Join(o.DataDir, "kubelet")
	kl.CNIConfDir = crt.CNIConfDir
	kl.CNIBridge = o.CNIBridge
	if o.DNS {
		kl.ClusterDNS = []string{clusterDNSIP}
	}
	launch(component{"kubelet", func(ctx context.Context) error { return kubelet.Run(ctx, kl) }})

	if o.KubeProxy {
		launch(component{"kube-proxy", func(ctx context.Context) error {
			return kubeproxy.Run(ctx, kubeproxy.Options{RESTConfig: cfgs.kubeProxy, ClusterCIDR: o.ClusterCIDR, NodeName: nodeName, EndpointChains: o.EndpointChains, Logger: log.With("component", "kube-proxy")})
		}})
	}
	if o.DNS {
		launch(component{"dns", func(ctx context.Context) error {
			return dns.Run(ctx, dns.Options{RESTConfig: cfgs.dns, Listen: o.DNSListen, ServiceIP: clusterDNSIP, Logger: log.With("component", "dns")})
		}})
	}
	if o.Dashboard != "" {
		launch(component{"dashboard", func(ctx context.Context) error {
			return dashboard.Run(ctx, dashboard.Options{RESTConfig: cfgs.dashboard, Listen: o.Dashboard, Logger: log.With("component", "dashboard")})
		}})
	}
	if o.Ingress {
		launch(component{"ingress", func(ctx context.Context) error {
			return ingress.Run(ctx, ingress.Options{RESTConfig: cfgs.ingress, HTTPAddr: o.IngressHTTP, Logger: log.With("component", "ingress")})
		}})
	}

	dashboardLine := ""
	if o.Dashboard != "" {
		dashboardLine = "Dashboard: http://" + o.Dashboard + "/\n\n"
	}
	go announce(runCtx, cfgs.controllerManager, kubeconfig, dashboardLine, start, log)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-runCtx.Done():
	}
	cancel()
	wg.Wait()
	// Components are down; now take the node's pods down with them so
	// nothing outlives the cluster, then containerd (deferred above).
	cleanCtx, cleanCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cleanCancel()
	if err := crt.RemoveAllPods(cleanCtx); err != nil {
		log.Warn("removing pods", "err", err)
	} else {
		if err := kubelet.RemoveBridge(o.CNIBridge); err != nil {
			log.Warn("removing the CNI bridge", "err", err)
		}
		if err := kubelet.RemovePodMasquerade(o.CNIBridge); err != nil {
			log.Warn("removing the pod masquerade rules", "err", err)
		}
	}
	if o.KubeProxy {
		if err := kubeproxy.Run(cleanCtx, kubeproxy.Options{RESTConfig: cfgs.kubeProxy, ClusterCIDR: o.ClusterCIDR, Cleanup: true, Logger: log}); err != nil {
			log.Warn("removing kube-proxy rules", "err", err)
		}
	}
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// announce waits for the node to be Ready and prints how to use the cluster.
func announce(ctx context.Context, cfg *rest.Config, kubeconfig, dashboardLine string, start time.Time, log *slog.Logger) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Error("client", "err", err)
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, n := range nodes.Items {
			if nodeReady(&n) {
				fmt.Fprintf(os.Stdout, "\nskiff is up: node %s Ready after %s.\n\n  export KUBECONFIG=%s   # admin client certificate (system:masters), TLS\n  kubectl get nodes\n\n%sCtrl-C stops the cluster.\n\n",
					n.Name, time.Since(start).Round(10*time.Millisecond), shellQuote(kubeconfig), dashboardLine)
				return
			}
		}
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

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " '\"$`\\") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// clientConfigs holds one client config per component, each with its own
// client certificate (identity) and the cluster CA.
type clientConfigs struct {
	controllerManager, scheduler, kubelet, kubeProxy, dns, ingress, dashboard *rest.Config
}

func componentConfigs(certs *clusterPKI, host, nodeName string) (clientConfigs, error) {
	var c clientConfigs
	for _, id := range []struct {
		cfg    **rest.Config
		name   string
		user   string
		groups []string
	}{
		{&c.controllerManager, "controller-manager", userControllerManager, nil},
		{&c.scheduler, "scheduler", userScheduler, nil},
		{&c.kubelet, "kubelet", nodeUserPrefix + nodeName, []string{groupNodes}},
		{&c.kubeProxy, "kube-proxy", userKubeProxy, nil},
		{&c.dns, "dns", userDNS, nil},
		{&c.ingress, "ingress", userIngress, nil},
		{&c.dashboard, "dashboard", userDashboard, nil},
	} {
		cfg, err := certs.clientConfig(host, id.name, id.user, id.groups...)
		if err != nil {
			return c, err
		}
		*id.cfg = cfg
	}
	return c, nil
}
