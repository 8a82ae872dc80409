package rest

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// needsClusterIP reports whether a Service should get an allocated IP.
func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// allocateServiceIPs reserves the Service's cluster IP and node ports,
// picking free ones where the client left them empty. old is nil on create.
func (h *Handler) allocateServiceIPs(ctx context.Context, svc, old *corev1.Service) error {
	owner := svc.Namespace + "/" + svc.Name
	if h.opts.ServiceIPs != nil && needsClusterIP(svc) && (old == nil || svc.Spec.ClusterIP == "") {
		ip, err := h.opts.ServiceIPs.Allocate(ctx, svc.Spec.ClusterIP, owner)
		if err != nil {
			return err
		}
		svc.Spec.ClusterIP = ip
		svc.Spec.ClusterIPs = []string{ip}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &p
		}
	}
	if h.opts.NodePorts != nil && needsNodePorts(svc) {
		held := map[int32]bool{}
		if old != nil {
			for _, p := range old.Spec.Ports {
				held[p.NodePort] = true
			}
		}
		for i := range svc.Spec.Ports {
			np := svc.Spec.Ports[i].NodePort
			if np != 0 && held[np] {
				continue
			}
			want := ""
			if np != 0 {
				want = strconv.Itoa(int(np))
			}
			got, err := h.opts.NodePorts.Allocate(ctx, want, owner)
			if err != nil {
				return err
			}
			n, _ := strconv.Atoi(got)
			svc.Spec.Ports[i].NodePort = int32(n)
			held[int32(n)] = true
		}
	}
	return nil
}

// releaseServiceIPs frees a deleted Service's cluster IP and node ports.
func (h *Handler) releaseServiceIPs(ctx context.Context, svc *corev1.Service) {
	if h.opts.ServiceIPs != nil && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if err := h.opts.ServiceIPs.Release(ctx, svc.Spec.ClusterIP); err != nil {
			h.log.Warn("release cluster IP", "ip", svc.Spec.ClusterIP, "service", svc.Namespace+"/"+svc.Name, "err", err)
		}
	}
	if h.opts.NodePorts != nil {
		for _, p := range svc.Spec.Ports {
			if p.NodePort == 0 {
				continue
			}
			if err := h.opts.NodePorts.Release(ctx, strconv.Itoa(int(p.NodePort))); err != nil {
				h.log.Warn("release node port", "port", p.NodePort, "service", svc.Namespace+"/"+svc.Name, "err", err)
			}
		}
	}
}
