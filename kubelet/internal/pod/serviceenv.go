package pod

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// masterServiceNamespace holds the "kubernetes" Service whose variables
// every container gets, as upstream.
const masterServiceNamespace = metav1.NamespaceDefault

// serviceEnv returns the Docker-links style variables a container sees
// (FOO_SERVICE_HOST, FOO_SERVICE_PORT, FOO_PORT_80_TCP…): those of the
// services in the pod's namespace when spec.enableServiceLinks is not false,
// and always those of the "kubernetes" Service in "default", so in-cluster
// clients find the API server. Variables the container sets itself win.
func (m *Manager) serviceEnv(pod *corev1.Pod) ([]string, map[string]string, error) {
	if m.services == nil {
		return nil, nil, nil
	}
	if m.servicesSynced != nil && !m.servicesSynced() {
		return nil, nil, errors.New("services have not been listed yet, cannot build the service environment variables")
	}
	all, err := m.services.List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("list services: %w", err)
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	chosen := map[string]*corev1.Service{}
	for _, s := range all {
		if !hasClusterIP(s) {
			continue
		}
		switch {
		case s.Namespace == masterServiceNamespace && s.Name == "kubernetes":
			chosen[s.Name] = s
		case links && s.Namespace == pod.Namespace && s.Name != "kubernetes":
			chosen[s.Name] = s
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	var order []string
	vars := map[string]string{}
	for _, n := range names {
		for _, kv := range serviceVars(chosen[n]) {
			if _, dup := vars[kv[0]]; !dup {
				order = append(order, kv[0])
			}
			vars[kv[0]] = kv[1]
		}
	}
	return order, vars, nil
}

func hasClusterIP(s *corev1.Service) bool {
	return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
}

// serviceVars lists one service's variables in the upstream order.
func serviceVars(s *corev1.Service) [][2]string {
	prefix := envName(s.Name)
	ip := s.Spec.ClusterIP
	out := [][2]string{{prefix + "_SERVICE_HOST", ip}}
	if len(s.Spec.Ports) == 0 {
		return out
	}
	first := s.Spec.Ports[0]
	out = append(out, [2]string{prefix + "_SERVICE_PORT", strconv.Itoa(int(first.Port))})
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			out = append(out, [2]string{prefix + "_SERVICE_PORT_" + envName(p.Name), strconv.Itoa(int(p.Port))})
		}
	}
	proto := strings.ToLower(string(first.Protocol))
	if proto == "" {
		proto = "tcp"
	}
	out = append(out, [2]string{prefix + "_PORT", proto + "://" + hostPort(ip, first.Port)})
	for _, p := range s.Spec.Ports {
		pr := strings.ToUpper(string(p.Protocol))
		if pr == "" {
			pr = "TCP"
		}
		base := prefix + "_PORT_" + strconv.Itoa(int(p.Port)) + "_" + pr
		out = append(out,
			[2]string{base, strings.ToLower(pr) + "://" + hostPort(ip, p.Port)},
			[2]string{base + "_PROTO", strings.ToLower(pr)},
			[2]string{base + "_PORT", strconv.Itoa(int(p.Port))},
			[2]string{base + "_ADDR", ip})
	}
	return out
}

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

func hostPort(ip string, port int32) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(int(port))
	}
	return ip + ":" + strconv.Itoa(int(port))
}
