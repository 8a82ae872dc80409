package integration

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/controlplane"
)

// TestNodesAndServices covers node IPAM, Endpoints/EndpointSlices and node
// lifecycle: a node that stops renewing its Lease goes Ready=Unknown, is
// tainted unreachable, its pods are evicted and replaced elsewhere, and the
// Service's endpoints follow.
func TestNodesAndServices(t *testing.T) {
	c := newCluster(t, 3)
	c.startCM(t, func(o *controlplane.Options) {
		o.NodeMonitorPeriod = 200 * time.Millisecond
		o.NodeMonitorGracePeriod = 2 * time.Second
		o.DefaultTolerationSeconds = 1
	})
	ctx := context.Background()

	cluster := netip.MustParsePrefix("10.244.0.0/16")
	poll(t, 30*time.Second, "pod CIDRs", func() (bool, error) {
		nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, n := range nodes.Items {
			p, err := netip.ParsePrefix(n.Spec.PodCIDR)
			if err != nil || p.Bits() != 24 || !cluster.Contains(p.Addr()) || seen[n.Spec.PodCIDR] {
				return false, nil
			}
			seen[n.Spec.PodCIDR] = true
		}
		return len(seen) == 3, nil
	})

	ns(t, c, "svc")
	if _, err := c.client.AppsV1().Deployments("svc").Create(ctx, deploymentObj("web", 3, "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if _, err := c.client.CoreV1().Services("svc").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "rollout", func() (bool, error) { return rolledOut(ctx, c.client, "svc", "web") })
	endpointsReady := func(excludeNode string) func() (bool, error) {
		return func() (bool, error) {
			ep, err := c.client.CoreV1().Endpoints("svc").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			n := 0
			for _, s := range ep.Subsets {
				for _, a := range s.Addresses {
					if a.NodeName != nil && *a.NodeName == excludeNode {
						return false, nil
					}
					n++
				}
				if len(s.Ports) != 1 || s.Ports[0].Port != 8080 {
					return false, nil
				}
			}
			if n != 3 {
				return false, nil
			}
			sl, err := c.client.DiscoveryV1().EndpointSlices("svc").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
			if err != nil {
				return false, err
			}
			ready := 0
			for _, s := range sl.Items {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready && (e.NodeName == nil || *e.NodeName != excludeNode) {
						ready++
					}
				}
			}
			return ready == 3, nil
		}
	}
	poll(t, 30*time.Second, "endpoints and slices with 3 ready pods", endpointsReady(""))

	silent := c.nodes.NodeName(0)
	c.nodes.SetSilent(silent, true)
	poll(t, 30*time.Second, "node unreachable", func() (bool, error) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, silent, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		unknown, tainted := false, false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionUnknown {
				unknown = true
			}
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == corev1.TaintNodeUnreachable && tn.Effect == corev1.TaintEffectNoExecute {
				tainted = true
			}
		}
		return unknown && tainted, nil
	})
	poll(t, 60*time.Second, "pods moved off the silent node", func() (bool, error) {
		pods, err := c.client.CoreV1().Pods("svc").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName == silent && p.DeletionTimestamp == nil {
				return false, nil
			}
		}
		return true, nil
	})
	poll(t, 60*time.Second, "endpoints without the silent node", endpointsReady(silent))

	// The node comes back: Ready again, and the taint goes away.
	c.nodes.SetSilent(silent, false)
	poll(t, 30*time.Second, "taint removed", func() (bool, error) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, silent, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == corev1.TaintNodeUnreachable {
				return false, nil
			}
		}
		return true, nil
	})
}
