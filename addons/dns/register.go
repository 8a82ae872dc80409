package dns

import (
	"context"
	"fmt"
	"net"
	"strconv"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// Names of the objects that put cluster DNS behind its fixed ClusterIP.
const (
	serviceNamespace = metav1.NamespaceSystem
	serviceName      = "kube-dns"
	sliceName        = "kube-dns-skiff"
	managedBy        = "skiff-dns"
)

// register makes kube-system/kube-dns a Service with the fixed ClusterIP
// o.ServiceIP whose only endpoint is this process (o.AdvertiseAddress at the
// port it listens on), so kube-proxy forwards the ClusterIP to it when DNS
// runs as a process rather than a pod. It is idempotent.
func register(ctx context.Context, client kubernetes.Interface, o Options, port int) error {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: serviceNamespace}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ensure namespace %s: %w", serviceNamespace, err)
	}
	svcs := client.CoreV1().Services(serviceNamespace)
	svc, err := svcs.Get(ctx, serviceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		svc, err = svcs.Create(ctx, &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: serviceName, Labels: map[string]string{"k8s-app": "kube-dns"}},
			Spec: v1.ServiceSpec{ClusterIP: o.ServiceIP, Ports: []v1.ServicePort{
				{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(int32(port))},
				{Name: "dns-tcp", Protocol: v1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(int32(port))},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create service %s/%s: %w", serviceNamespace, serviceName, err)
		}
	case err != nil:
		return fmt.Errorf("get service %s/%s: %w", serviceNamespace, serviceName, err)
	}
	if svc.Spec.ClusterIP != o.ServiceIP {
		return fmt.Errorf("service %s/%s has ClusterIP %s, not %s: delete it or change --service-ip",
			serviceNamespace, serviceName, svc.Spec.ClusterIP, o.ServiceIP)
	}
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: sliceName, Namespace: serviceNamespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: serviceName, discoveryv1.LabelManagedBy: managedBy}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{o.AdvertiseAddress},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)}}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptrTo("dns"), Protocol: ptrTo(v1.ProtocolUDP), Port: ptrTo(int32(port))},
			{Name: ptrTo("dns-tcp"), Protocol: ptrTo(v1.ProtocolTCP), Port: ptrTo(int32(port))},
		},
	}
	slices := client.DiscoveryV1().EndpointSlices(serviceNamespace)
	cur, err := slices.Get(ctx, sliceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := slices.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create endpointslice %s/%s: %w", serviceNamespace, sliceName, err)
		}
	case err != nil:
		return fmt.Errorf("get endpointslice %s/%s: %w", serviceNamespace, sliceName, err)
	default:
		cur.Labels, cur.AddressType, cur.Endpoints, cur.Ports = want.Labels, want.AddressType, want.Endpoints, want.Ports
		if _, err := slices.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update endpointslice %s/%s: %w", serviceNamespace, sliceName, err)
		}
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// listenPort returns the port of a bound "host:port" address.
func listenPort(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
