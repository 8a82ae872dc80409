package pod

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func mkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

// sandboxConfig builds the CRI sandbox config of a pod.
func (m *Manager) sandboxConfig(pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if pod.Spec.HostNetwork {
		// The pod shares the node's UTS namespace: no hostname to set (as
		// the Kubernetes kubelet does; runc refuses one without a private
		// UTS namespace).
		hostname = ""
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt,
		},
		Hostname:     hostname,
		LogDirectory: m.logDir(pod.Namespace, pod.Name, pod.UID),
		Labels: map[string]string{
			LabelPodUID: string(pod.UID), LabelPodName: pod.Name, LabelPodNamespace: pod.Namespace,
		},
		Annotations: map[string]string{},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: m.cgroupParent(pod.UID),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: namespaceOptions(pod),
			},
			Sysctls: map[string]string{},
		},
	}
	for k, v := range pod.Labels {
		if _, ok := cfg.Labels[k]; !ok {
			cfg.Labels[k] = v
		}
	}
	for k, v := range pod.Annotations {
		cfg.Annotations[k] = v
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		for _, s := range psc.Sysctls {
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
		sc := cfg.Linux.SecurityContext
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
	}
	cfg.DnsConfig = m.dnsConfig(pod)
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol:      protocol(p.Protocol),
				ContainerPort: p.ContainerPort,
				HostPort:      p.HostPort,
				HostIp:        p.HostIP,
			})
		}
	}
	return cfg, nil
}

func protocol(p corev1.Protocol) runtimeapi.Protocol {
	switch p {
	case corev1.ProtocolUDP:
		return runtimeapi.Protocol_UDP
	case corev1.ProtocolSCTP:
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		ns.Pid = runtimeapi.NamespaceMode_NODE
	} else if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

// dnsConfig follows the pod's dnsPolicy; nil lets the runtime copy the host's resolv.conf.
func (m *Manager) dnsConfig(pod *corev1.Pod) *runtimeapi.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	var cfg *runtimeapi.DNSConfig
	switch {
	case policy == corev1.DNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case (policy == corev1.DNSClusterFirst && !pod.Spec.HostNetwork) || policy == corev1.DNSClusterFirstWithHostNet:
		if len(m.opts.ClusterDNS) > 0 {
			d := m.opts.ClusterDomain
			cfg = &runtimeapi.DNSConfig{
				Servers:  m.opts.ClusterDNS,
				Searches: []string{pod.Namespace + ".svc." + d, "svc." + d, d},
				Options:  []string{"ndots:5"},
			}
		}
	}
	if pc := pod.Spec.DNSConfig; pc != nil {
		if cfg == nil {
			cfg = hostDNS()
		}
		cfg.Servers = append(cfg.Servers, pc.Nameservers...)
		cfg.Searches = append(cfg.Searches, pc.Searches...)
		for _, o := range pc.Options {
			if o.Value != nil {
				cfg.Options = append(cfg.Options, o.Name+":"+*o.Value)
			} else {
				cfg.Options = append(cfg.Options, o.Name)
			}
		}
	}
	return cfg
}

func hostDNS() *runtimeapi.DNSConfig {
	cfg := &runtimeapi.DNSConfig{}
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return cfg
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search":
			cfg.Searches = append(cfg.Searches, f[1:]...)
		case "options":
			cfg.Options = append(cfg.Options, f[1:]...)
		}
	}
	return cfg
}

// sandboxIPs reads the pod IPs of a sandbox (the node IP for host network).
func (m *Manager) sandboxIPs(ctx context.Context, pod *corev1.Pod, id string) []string {
	if pod.Spec.HostNetwork {
		if m.opts.NodeIP != "" {
			return []string{m.opts.NodeIP}
		}
		return []string{}
	}
	st, err := m.opts.Runtime.PodSandboxStatus(ctx, id, false)
	if err != nil || st.GetStatus().GetNetwork() == nil {
		return []string{}
	}
	ips := []string{}
	if ip := st.Status.Network.Ip; ip != "" {
		ips = append(ips, ip)
	}
	for _, a := range st.Status.Network.AdditionalIps {
		ips = append(ips, a.Ip)
	}
	return ips
}

// ensureImage makes the container's image present per imagePullPolicy. It
// returns the image reference, or a waiting reason and an error.
// beforePull, when set, runs before an actual pull (the worker gives up its
// start slot then: a pull may take long).
func (m *Manager) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *runtimeapi.PodSandboxConfig, beforePull func()) (string, string, error) {
	start := time.Now()
	spec := &runtimeapi.ImageSpec{Image: c.Image}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
		if tagOf(c.Image) == "latest" {
			policy = corev1.PullAlways
		}
	}
	present := ""
	if st, err := m.opts.Images.ImageStatus(ctx, spec, false); err == nil && st.GetImage() != nil {
		present = st.Image.Id
	}
	switch {
	case policy == corev1.PullNever && present == "":
		return "", "ErrImageNeverPull", fmt.Errorf("container image %q is not present with pull policy of Never", c.Image)
	case policy == corev1.PullNever || (policy == corev1.PullIfNotPresent && present != ""):
		m.opts.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return present, "", nil
	}
	if present != "" {
		m.mu.Lock()
		failedAt, failed := m.pullFailed[c.Image]
		m.mu.Unlock()
		if failed && time.Since(failedAt) < 5*time.Minute {
			m.opts.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine (registry unreachable)", c.Image)
			return present, "", nil
		}
	}
	if beforePull != nil {
		beforePull()
	}
	m.opts.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	ref, err := m.opts.Images.PullImage(ctx, spec, nil, sb)
	if err != nil {
		if present != "" {
			// No registry is reachable on skiff nodes: a local image
			// stands in when an Always pull fails.
			m.log.Debug("pull failed, using the local image", "image", c.Image, "err", err)
			m.mu.Lock()
			m.pullFailed[c.Image] = time.Now()
			m.mu.Unlock()
			m.opts.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine (pull failed: no registry reachable)", c.Image)
			return present, "", nil
		}
		return "", "ErrImagePull", fmt.Errorf("failed to pull image %q: %w", c.Image, err)
	}
	m.opts.Recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
	return ref, "", nil
}

func tagOf(image string) string {
	if strings.Contains(image, "@") {
		return ""
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return "latest"
}

// containerConfig builds the CRI config of one container attempt.
func (m *Manager) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32, imageRef string, mounts map[string]string, podIPs []string) (*runtimeapi.ContainerConfig, error) {
	env, err := m.resolveEnv(ctx, pod, c, podIPs)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Key] = string(e.Value)
	}
	if err := checkNonRoot(pod, c); err != nil {
		return nil, err
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:    expandAll(c.Command, vars),
		Args:       expandAll(c.Args, vars),
		WorkingDir: c.WorkingDir,
		Envs:       env,
		Labels: map[string]string{
			LabelPodUID: string(pod.UID), LabelPodName: pod.Name, LabelPodNamespace: pod.Namespace, LabelContainerName: c.Name,
		},
		Annotations: map[string]string{
			"io.kubernetes.container.restartCount": strconv.Itoa(int(attempt)),
		},
		LogPath:   filepath.Join(c.Name, fmt.Sprintf("%d.log", attempt)),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux:     m.linuxConfig(pod, c),
	}
	if err := mkdirAll(filepath.Join(m.logDir(pod.Namespace, pod.Name, pod.UID), c.Name)); err != nil {
		return nil, err
	}
	for _, vm := range c.VolumeMounts {
		host, ok := mounts[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %q of container %q names no volume of the pod", vm.Name, c.Name)
		}
		if vm.SubPath != "" {
			if strings.Contains(vm.SubPath, "..") || filepath.IsAbs(vm.SubPath) {
				return nil, fmt.Errorf("volume mount %q: subPath %q must be a relative path without '..'", vm.Name, vm.SubPath)
			}
			host = filepath.Join(host, vm.SubPath)
			if _, err := os.Stat(host); os.IsNotExist(err) {
				if err := mkdirAll(host); err != nil {
					return nil, err
				}
			}
		}
		prop := runtimeapi.MountPropagation_PROPAGATION_PRIVATE
		if vm.MountPropagation != nil {
			switch *vm.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				prop = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case corev1.MountPropagationBidirectional:
				prop = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			}
		}
		cfg.Mounts = append(cfg.Mounts, &runtimeapi.Mount{
			ContainerPath: vm.MountPath, HostPath: host, Readonly: vm.ReadOnly, Propagation: prop,
		})
	}
	if c.TerminationMessagePath != "" {
		p := filepath.Join(m.podDir(pod.UID), "containers", c.Name, fmt.Sprintf("%d-termination-log", attempt))
		if err := mkdirAll(filepath.Dir(p)); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return nil, fmt.Errorf("termination log: %w", err)
		}
		cfg.Mounts = append(cfg.Mounts, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: p})
	}
	return cfg, nil
}

// checkNonRoot enforces runAsNonRoot: without an image user to inspect,
// the pod or container must name a non-zero runAsUser.
func checkNonRoot(pod *corev1.Pod, c *corev1.Container) error {
	nonRoot := false
	var uid *int64
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsNonRoot != nil {
			nonRoot = *psc.RunAsNonRoot
		}
		uid = psc.RunAsUser
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsNonRoot != nil {
			nonRoot = *csc.RunAsNonRoot
		}
		if csc.RunAsUser != nil {
			uid = csc.RunAsUser
		}
	}
	if !nonRoot {
		return nil
	}
	if uid == nil {
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
	}
	if *uid == 0 {
		return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
	}
	return nil
}

// linuxConfig maps resources and the security context.
func (m *Manager) linuxConfig(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerConfig {
	res := &runtimeapi.LinuxContainerResources{CpuPeriod: 100000}
	cpuReq := c.Resources.Requests.Cpu()
	cpuLim := c.Resources.Limits.Cpu()
	if cpuReq.IsZero() && !cpuLim.IsZero() {
		cpuReq = cpuLim
	}
	res.CpuShares = milliToShares(cpuReq.MilliValue())
	if !cpuLim.IsZero() {
		q := cpuLim.MilliValue() * 100000 / 1000
		if q < 1000 {
			q = 1000
		}
		res.CpuQuota = q
	}
	if mem := c.Resources.Limits.Memory(); !mem.IsZero() {
		res.MemoryLimitInBytes = mem.Value()
	}
	cfg := &runtimeapi.LinuxContainerConfig{Resources: res, SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: namespaceOptions(pod),
	}}
	sc := cfg.SecurityContext
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
		}
		if csc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
		}
		if csc.Privileged != nil {
			sc.Privileged = *csc.Privileged
		}
		if csc.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
		}
		if csc.AllowPrivilegeEscalation != nil {
			sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
		}
		if caps := csc.Capabilities; caps != nil {
			sc.Capabilities = &runtimeapi.Capability{}
			for _, a := range caps.Add {
				sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, capName(a))
			}
			for _, d := range caps.Drop {
				sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, capName(d))
			}
		}
	}
	return cfg
}

func capName(c corev1.Capability) string {
	s := strings.ToUpper(string(c))
	if s == "ALL" || strings.HasPrefix(s, "CAP_") {
		return s
	}
	return "CAP_" + s
}

// milliToShares converts milli-CPU to cgroup v1 cpu.shares as upstream does.
func milliToShares(milli int64) int64 {
	if milli == 0 {
		return 2
	}
	s := milli * 1024 / 1000
	if s < 2 {
		return 2
	}
	return s
}

// admit is the node's final check that a pod fits; it returns a reason
// and message when the pod must be rejected.
func (m *Manager) admit(pod *corev1.Pod) (string, string) {
	node := m.opts.Node()
	if node == nil {
		return "", ""
	}
	if ok, err := matchesNode(pod, node); err != nil || !ok {
		return "NodeAffinity", "Pod was rejected: Predicate NodeAffinity failed"
	}
	others := m.activePods(pod.UID)
	alloc := node.Status.Allocatable
	if max, ok := alloc[corev1.ResourcePods]; ok && int64(len(others)+1) > max.Value() {
		return "OutOfpods", fmt.Sprintf("Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: %d, capacity: %d", len(others), max.Value())
	}
	used := corev1.ResourceList{}
	for _, p := range others {
		for k, v := range podRequests(p) {
			q := used[k]
			q.Add(v)
			used[k] = q
		}
	}
	for name, req := range podRequests(pod) {
		capQ, ok := alloc[name]
		if !ok || req.IsZero() {
			continue
		}
		u := used[name]
		total := u.DeepCopy()
		total.Add(req)
		if total.Cmp(capQ) > 0 {
			return "OutOf" + string(name), fmt.Sprintf("Pod was rejected: Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
				name, quantityValue(name, req), quantityValue(name, u), quantityValue(name, capQ))
		}
	}
	return "", ""
}

func quantityValue(name corev1.ResourceName, q resource.Quantity) int64 {
	if name == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}
