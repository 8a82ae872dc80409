package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidateNamespace(t *testing.T) {
	runCreate(t, "namespace.yaml", []createCase[*corev1.Namespace]{
		{name: "valid"},
		{name: "dots not allowed", mutate: func(n *corev1.Namespace) { n.Name = "team.a" }, want: []string{"metadata.name: Invalid value"}},
		{name: "too long", mutate: func(n *corev1.Namespace) { n.Name = strings.Repeat("a", 64) }, want: []string{"metadata.name: Invalid value"}},
		{name: "namespace set", mutate: func(n *corev1.Namespace) { n.Namespace = "default" }, want: []string{"metadata.namespace: Forbidden"}},
		{name: "standard spec finalizer", mutate: func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"kubernetes"} }},
		{name: "unqualified spec finalizer", mutate: func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"cleanup"} }, want: []string{"spec.finalizers[0]: Invalid value"}},
	})
	runUpdate(t, "namespace.yaml", false, []updateCase[*corev1.Namespace]{
		{name: "relabel", mutate: func(n *corev1.Namespace) { n.Labels["team"] = "b" }},
		{name: "rename", mutate: func(n *corev1.Namespace) { n.Name = "team-b" }, want: []string{"metadata.name: Invalid value"}},
	})
	runUpdate(t, "namespace.yaml", true, []updateCase[*corev1.Namespace]{
		{name: "active"},
		{name: "terminating without deletion", mutate: func(n *corev1.Namespace) { n.Status.Phase = corev1.NamespaceTerminating }, want: []string{"status.phase: Invalid value"}},
		{name: "terminating while deleting", old: func(n *corev1.Namespace) {
			now := metav1.Now()
			n.DeletionTimestamp = &now
		}, mutate: func(n *corev1.Namespace) { n.Status.Phase = corev1.NamespaceTerminating }},
	})
}

func TestValidateNode(t *testing.T) {
	runCreate(t, "node.yaml", []createCase[*corev1.Node]{
		{name: "valid"},
		{name: "bad name", mutate: func(n *corev1.Node) { n.Name = "Node_1" }, want: []string{"metadata.name: Invalid value"}},
		{name: "bad podCIDR", mutate: func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.1.0"; n.Spec.PodCIDRs = nil }, want: []string{"spec.podCIDR: Invalid value"}},
		{name: "podCIDRs disagree", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.2.0/24"} }, want: []string{"spec.podCIDRs: Invalid value"}},
		{name: "taint without effect", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }, want: []string{"spec.taints[0].effect: Required value"}},
		{name: "duplicate taint", mutate: func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) }, want: []string{"spec.taints[1]: Duplicate value"}},
		{name: "bad taint key", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Key = "bad key" }, want: []string{"spec.taints[0].key: Invalid value"}},
		{name: "negative capacity", mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("-1") }, want: []string{"status.capacity[cpu]: Invalid value"}},
		{name: "bad address", mutate: func(n *corev1.Node) { n.Status.Addresses[0].Address = "node-1" }, want: []string{"status.addresses[0].address: Invalid value"}},
		{name: "bad address type", mutate: func(n *corev1.Node) { n.Status.Addresses[0].Type = "PublicIP" }, want: []string{"status.addresses[0].type: Unsupported value"}},
	})
	runUpdate(t, "node.yaml", false, []updateCase[*corev1.Node]{
		{name: "unschedulable", mutate: func(n *corev1.Node) { n.Spec.Unschedulable = true }},
		{name: "podCIDR change", mutate: func(n *corev1.Node) {
			n.Spec.PodCIDR = "10.244.9.0/24"
			n.Spec.PodCIDRs = []string{"10.244.9.0/24"}
		}, want: []string{"spec.podCIDR: Forbidden", "spec.podCIDRs: Forbidden"}},
		{name: "set podCIDR once", old: func(n *corev1.Node) { n.Spec.PodCIDR = ""; n.Spec.PodCIDRs = nil }},
	})
	runUpdate(t, "node.yaml", true, []updateCase[*corev1.Node]{
		{name: "heartbeat", mutate: func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = metav1.Now() }},
		{name: "bad condition status", mutate: func(n *corev1.Node) { n.Status.Conditions[0].Status = "Yes" }, want: []string{"status.conditions[0].status: Unsupported value"}},
	})
}

func TestValidateService(t *testing.T) {
	runCreate(t, "service.yaml", []createCase[*corev1.Service]{
		{name: "valid"},
		{name: "name must be DNS-1035", mutate: func(s *corev1.Service) { s.Name = "1web" }, want: []string{"metadata.name: Invalid value"}},
		{name: "no ports", mutate: func(s *corev1.Service) { s.Spec.Ports = nil }, want: []string{"spec.ports: Required value"}},
		{name: "headless without ports", mutate: func(s *corev1.Service) { s.Spec.Ports = nil; s.Spec.ClusterIP = "None" }},
		{name: "port out of range", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, want: []string{"spec.ports[0].port: Invalid value"}},
		{name: "port name required with many ports", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }, want: []string{"spec.ports[1].name: Required value"}},
		{name: "duplicate port name", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }, want: []string{"spec.ports[1].name: Duplicate value"}},
		{name: "bad targetPort name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Bad_Name") }, want: []string{"spec.ports[0].targetPort: Invalid value"}},
		{name: "bad protocol", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }, want: []string{"spec.ports[0].protocol: Unsupported value"}},
		{name: "nodePort on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, want: []string{"spec.ports[0].nodePort: Forbidden"}},
		{name: "NodePort type", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.Ports[0].NodePort = 30080
		}},
		{name: "duplicate nodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.Ports[1].NodePort = 30080
		}, want: []string{"spec.ports[1].nodePort: Duplicate value"}},
		{name: "bad type", mutate: func(s *corev1.Service) { s.Spec.Type = "Magic" }, want: []string{"spec.type: Unsupported value"}},
		{name: "duplicate port", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Port = 80 }, want: []string{"spec.ports[1]: Duplicate value"}},
		{name: "same port two protocols", mutate: func(s *corev1.Service) { s.Spec.Ports[1].Port = 80; s.Spec.Ports[1].Protocol = corev1.ProtocolUDP }},
		{name: "headless NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}, want: []string{"spec.clusterIP: Invalid value"}},
		{name: "bad clusterIP", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0" }, want: []string{"spec.clusterIP: Invalid value"}},
		{name: "clusterIPs disagree", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.10"
			s.Spec.ClusterIPs = []string{"10.96.0.11"}
		}, want: []string{"spec.clusterIPs[0]: Invalid value"}},
		{name: "ExternalName", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}},
		{name: "ExternalName without name", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, SessionAffinity: corev1.ServiceAffinityNone}
		}, want: []string{"spec.externalName: Required value"}},
		{name: "ExternalName with clusterIP", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", ClusterIP: "10.96.0.1", SessionAffinity: corev1.ServiceAffinityNone}
		}, want: []string{"spec.clusterIP: Forbidden"}},
		{name: "bad sessionAffinity", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Sticky" }, want: []string{"spec.sessionAffinity: Unsupported value"}},
		{name: "ClientIP timeout too long", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(100000))}}
		}, want: []string{"spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value"}},
		{name: "externalTrafficPolicy on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }, want: []string{"spec.externalTrafficPolicy: Invalid value"}},
		{name: "bad selector", mutate: func(s *corev1.Service) { s.Spec.Selector["app"] = "a b" }, want: []string{"spec.selector: Invalid value"}},
		{name: "bad ipFamily", mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} }, want: []string{"spec.ipFamilies[0]: Unsupported value"}},
		{name: "loadBalancerSourceRanges on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} }, want: []string{"spec.loadBalancerSourceRanges: Forbidden"}},
	})
	allocated := func(s *corev1.Service) {
		s.Spec.ClusterIP = "10.96.0.10"
		s.Spec.ClusterIPs = []string{"10.96.0.10"}
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	runUpdate(t, "service.yaml", false, []updateCase[*corev1.Service]{
		{name: "change selector", old: allocated, mutate: func(s *corev1.Service) { s.Spec.Selector["app"] = "web2" }},
		{name: "change clusterIP", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.11"
			s.Spec.ClusterIPs = []string{"10.96.0.11"}
		}, want: []string{"spec.clusterIPs[0]: Invalid value"}},
		{name: "to ExternalName drops clusterIP", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}},
		{name: "change ipFamily", old: allocated, mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }, want: []string{"spec.ipFamilies[0]: Invalid value"}},
	})
	runUpdate(t, "service.yaml", true, []updateCase[*corev1.Service]{
		{name: "lb ingress", mutate: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
		}},
		{name: "bad lb ingress", mutate: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "x"}}
		}, want: []string{"status.loadBalancer.ingress[0].ip: Invalid value"}},
	})
}

func TestValidateEndpoints(t *testing.T) {
	runCreate(t, "endpoints.yaml", []createCase[*corev1.Endpoints]{
		{name: "valid"},
		{name: "bad ip", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "10.244.1" }, want: []string{"subsets[0].addresses[0].ip: Invalid value"}},
		{name: "no addresses", mutate: func(e *corev1.Endpoints) {
			e.Subsets[0].Addresses = nil
			e.Subsets[0].NotReadyAddresses = nil
		}, want: []string{"subsets[0]: Required value"}},
		{name: "unnamed port among many", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[1].Name = "" }, want: []string{"subsets[0].ports[1].name: Required value"}},
		{name: "bad port", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 }, want: []string{"subsets[0].ports[0].port: Invalid value"}},
	})
	runUpdate(t, "endpoints.yaml", false, []updateCase[*corev1.Endpoints]{
		{name: "add address", mutate: func(e *corev1.Endpoints) {
			e.Subsets[0].Addresses = append(e.Subsets[0].Addresses, corev1.EndpointAddress{IP: "10.244.2.5"})
		}},
	})
}

func TestValidateConfigMap(t *testing.T) {
	runCreate(t, "configmap.yaml", []createCase[*corev1.ConfigMap]{
		{name: "valid"},
		{name: "bad key", mutate: func(c *corev1.ConfigMap) { c.Data["a/b"] = "x" }, want: []string{"data[a/b]: Invalid value"}},
		{name: "key in data and binaryData", mutate: func(c *corev1.ConfigMap) { c.Data["logo.png"] = "x" }, want: []string{"data[logo.png]: Invalid value"}},
		{name: "too large", mutate: func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", 1<<20) }, want: []string{"data: Too long"}},
	})
	immutable := func(c *corev1.ConfigMap) { c.Immutable = ptr(true) }
	runUpdate(t, "configmap.yaml", false, []updateCase[*corev1.ConfigMap]{
		{name: "change data", mutate: func(c *corev1.ConfigMap) { c.Data["level"] = "debug" }},
		{name: "make immutable", mutate: immutable},
		{name: "change immutable data", old: immutable, mutate: func(c *corev1.ConfigMap) { c.Data["level"] = "debug" }, want: []string{"data: Forbidden"}},
		{name: "change immutable binaryData", old: immutable, mutate: func(c *corev1.ConfigMap) { c.BinaryData = nil }, want: []string{"binaryData: Forbidden"}},
		{name: "unset immutable", old: immutable, mutate: func(c *corev1.ConfigMap) { c.Immutable = ptr(false) }, want: []string{"immutable: Forbidden"}},
		{name: "relabel immutable", old: immutable, mutate: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }},
	})
}

func TestValidateSecret(t *testing.T) {
	runCreate(t, "secret.yaml", []createCase[*corev1.Secret]{
		{name: "valid"},
		{name: "tls without key", mutate: func(s *corev1.Secret) { delete(s.Data, "tls.key") }, want: []string{"data[tls.key]: Required value"}},
		{name: "bad key", mutate: func(s *corev1.Secret) { s.Data["bad key"] = nil }, want: []string{"data[bad key]: Invalid value"}},
		{name: "opaque", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque; s.Data = nil }},
		{name: "custom type", mutate: func(s *corev1.Secret) { s.Type = "example.com/token" }},
		{name: "dockerconfigjson not json", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{".dockerconfigjson": []byte("{")}
		}, want: []string{"data[.dockerconfigjson]: Invalid value"}},
		{name: "service account token without annotation", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken }, want: []string{"metadata.annotations[kubernetes.io/service-account.name]: Required value"}},
		{name: "too large", mutate: func(s *corev1.Secret) { s.Data["big"] = make([]byte, 1<<20) }, want: []string{"data: Too long"}},
	})
	runUpdate(t, "secret.yaml", false, []updateCase[*corev1.Secret]{
		{name: "rotate", mutate: func(s *corev1.Secret) { s.Data["tls.key"] = []byte("new") }},
		{name: "change type", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }, want: []string{"type: Invalid value"}},
		{name: "change immutable", old: func(s *corev1.Secret) { s.Immutable = ptr(true) }, mutate: func(s *corev1.Secret) { s.Data["tls.key"] = []byte("new") }, want: []string{"data: Forbidden"}},
	})
}

func TestValidateServiceAccount(t *testing.T) {
	runCreate(t, "serviceaccount.yaml", []createCase[*corev1.ServiceAccount]{
		{name: "valid"},
		{name: "bad name", mutate: func(s *corev1.ServiceAccount) { s.Name = "Builder" }, want: []string{"metadata.name: Invalid value"}},
		{name: "empty pull secret", mutate: func(s *corev1.ServiceAccount) { s.ImagePullSecrets[0].Name = "" }, want: []string{"imagePullSecrets[0].name: Required value"}},
	})
}

func TestValidateCoreEvent(t *testing.T) {
	newStyle := func(e *corev1.Event) {
		e.EventTime = metav1.NowMicro()
		e.ReportingController = "kubelet"
		e.ReportingInstance = "kubelet-node-1"
		e.Action = "Pulling"
	}
	runCreate(t, "event.yaml", []createCase[*corev1.Event]{
		{name: "valid"},
		{name: "namespace mismatch", mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }, want: []string{"involvedObject.namespace: Invalid value"}},
		{name: "cluster-scoped object in default", mutate: func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"} }},
		{name: "cluster-scoped object in other namespace", mutate: func(e *corev1.Event) {
			e.Namespace = "team-a"
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, want: []string{"involvedObject.namespace: Invalid value"}},
		{name: "legacy type is free-form", mutate: func(e *corev1.Event) { e.Type = "Info" }},
		{name: "new style", mutate: newStyle},
		{name: "new style without controller", mutate: func(e *corev1.Event) { newStyle(e); e.ReportingController = "" }, want: []string{"reportingComponent: Required value"}},
		{name: "new style without action", mutate: func(e *corev1.Event) { newStyle(e); e.Action = "" }, want: []string{"action: Required value"}},
		{name: "new style long message", mutate: func(e *corev1.Event) { newStyle(e); e.Message = strings.Repeat("x", 1025) }, want: []string{"message: Invalid value"}},
		{name: "new style node event in kube-system", mutate: func(e *corev1.Event) {
			newStyle(e)
			e.Namespace = "kube-system"
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}},
	})
	runUpdate(t, "event.yaml", false, []updateCase[*corev1.Event]{
		{name: "aggregate", mutate: func(e *corev1.Event) { e.Count = 2; e.Message = "(combined from similar events): x" }},
		{name: "namespace mismatch", mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }, want: []string{"involvedObject.namespace: Invalid value"}},
	})
}

func TestValidateBinding(t *testing.T) {
	tests := []struct {
		name string
		b    corev1.Binding
		want []string
	}{
		{"valid", corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}, nil},
		{"kind may be empty", corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Name: "node-1"}}, nil},
		{"no target", corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, []string{"target.name: Required value"}},
		{"wrong kind", corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Pod", Name: "x"}}, []string{"target.kind: Unsupported value"}},
		{"no name", corev1.Binding{Target: corev1.ObjectReference{Name: "node-1"}}, []string{"metadata.name: Required value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, ValidateCreate(&tt.b), tt.want) })
	}
}
