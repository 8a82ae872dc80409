package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"

	"skiff.dev/api/pki"
)

// Component identities (Kubernetes names where Kubernetes has one); the
// apiserver's bootstrap RBAC policy binds a role to each.
const (
	userScheduler         = "system:kube-scheduler"
	userControllerManager = "system:kube-controller-manager"
	userKubeProxy         = "system:kube-proxy"
	userDNS               = "system:skiff:dns"
	userIngress           = "system:skiff:ingress"
	userDashboard         = "system:skiff:dashboard"
	groupNodes            = "system:nodes"
	nodeUserPrefix        = "system:node:"
)

// clusterPKI is the part of <data-dir>/pki that `skiff up` issues itself:
// one client certificate per component and the kubelet's serving
// certificate, all signed by the cluster CA. The apiserver, given the same
// directory, adds its serving certificate, the ServiceAccount key, the
// admin and kubelet-client certificates and the admin kubeconfig.
type clusterPKI struct {
	dir    string
	ca     *pki.CA
	caFile string
}

func newClusterPKI(dir string) (*clusterPKI, error) {
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		return nil, fmt.Errorf("cluster CA in %s: %w", dir, err)
	}
	return &clusterPKI{dir: dir, ca: ca, caFile: filepath.Join(dir, "ca.crt")}, nil
}

// clientConfig issues (or reuses) dir/name.crt for user in groups and
// returns a client config for host that trusts the cluster CA and
// authenticates with that certificate.
func (p *clusterPKI) clientConfig(host, name, user string, groups ...string) (*rest.Config, error) {
	cert, key, err := p.ca.IssueClient(p.dir, name, user, groups)
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", user, err)
	}
	return &rest.Config{
		Host:            host,
		QPS:             200,
		Burst:           400,
		TLSClientConfig: rest.TLSClientConfig{CAFile: p.caFile, CertFile: cert, KeyFile: key},
	}, nil
}

// kubeletServing issues (or reuses) the kubelet's serving certificate,
// valid for the node's name, the host name, loopback and every address of
// the host's interfaces (the node IP the kubelet reports is one of them).
func (p *clusterPKI) kubeletServing(nodeName string) (certFile, keyFile string, err error) {
	hosts := []string{nodeName, "localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, strings.ToLower(h))
	}
	hosts = append(hosts, hostAddresses()...)
	return p.ca.IssueServing(p.dir, "kubelet-server", hosts)
}

// hostAddresses lists the global unicast addresses of the host's
// interfaces that are up.
func hostAddresses() []string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() {
				out = append(out, ipn.IP.String())
			}
		}
	}
	return out
}

// defaultNodeName is the kubelet's default: the lowercased host name.
func defaultNodeName() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("hostname: %w", err)
	}
	return strings.ToLower(h), nil
}
