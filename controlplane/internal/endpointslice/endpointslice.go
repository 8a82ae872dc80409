// Package endpointslice is the EndpointSlice controller: for every Service
// with a selector it keeps EndpointSlices (at most MaxEndpoints endpoints
// each, owned by the Service, labelled kubernetes.io/service-name) listing
// the matching pods with ready/serving/terminating conditions.
package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/controlplane/internal/controller"
	"skiff.dev/controlplane/internal/endpoints"
)

// ManagedBy is the value of the endpointslice.kubernetes.io/managed-by label.
const ManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpoints is the most endpoints one slice holds (upstream default).
const MaxEndpoints = 100

// Options configures the controller.
type Options struct {
	Client         kubernetes.Interface
	Services       coreinformers.ServiceInformer
	Pods           coreinformers.PodInformer
	EndpointSlices discoveryinformers.EndpointSliceInformer
	Log            *slog.Logger
}

// Controller is the EndpointSlice controller.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   discoverylisters.EndpointSliceLister
	queue    *controller.Queue
	synced   []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{
		client: o.Client, services: o.Services.Lister(), pods: o.Pods.Lister(), slices: o.EndpointSlices.Lister(),
		synced: []cache.InformerSynced{o.Services.Informer().HasSynced, o.Pods.Informer().HasSynced, o.EndpointSlices.Informer().HasSynced},
	}
	c.queue = controller.NewQueue("endpointslice", c.Sync, o.Log)
	_, _ = o.Services.Informer().AddEventHandler(c.queue.Handler())
	_, _ = o.Pods.Informer().AddEventHandler(endpoints.PodHandler(c.services, c.queue.Add))
	sliceChanged := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Labels[discoveryv1.LabelManagedBy] == ManagedBy {
			if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
				c.queue.Add(s.Namespace + "/" + svc)
			}
		}
	}
	_, _ = o.EndpointSlices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, n any) { sliceChanged(n) },
		DeleteFunc: sliceChanged,
	})
	return c
}

// Run waits for the caches and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Run(ctx, workers)
}

type desiredSlice struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

// Sync reconciles the EndpointSlices of the Service named by key.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // the garbage collector removes owned slices
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ManagedBy,
	}))
	if err != nil {
		return err
	}
	existing = slices.DeleteFunc(slices.Clone(existing), func(s *discoveryv1.EndpointSlice) bool { return s.DeletionTimestamp != nil })
	sort.Slice(existing, func(i, j int) bool { return existing[i].Name < existing[j].Name })

	want := Desired(svc, pods)
	var errs []string
	i := 0
	for ; i < len(want); i++ {
		w := want[i]
		if i < len(existing) {
			cur := existing[i]
			if apiequality.Semantic.DeepEqual(cur.Endpoints, w.endpoints) && apiequality.Semantic.DeepEqual(cur.Ports, w.ports) &&
				cur.AddressType == discoveryv1.AddressTypeIPv4 && labelsOK(cur, svc) {
				continue
			}
			up := cur.DeepCopy()
			up.Endpoints, up.Ports = w.endpoints, w.ports
			up.Labels = sliceLabels(svc)
			if up.AddressType != discoveryv1.AddressTypeIPv4 {
				// addressType is immutable: replace the slice.
				if err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, cur.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err.Error())
				}
				continue
			}
			if _, err := c.client.DiscoveryV1().EndpointSlices(ns).Update(ctx, up, metav1.UpdateOptions{}); err != nil {
				errs = append(errs, err.Error())
			}
			continue
		}
		t := true
		s := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name:      svc.Name + "-" + utilrand.String(5),
				Namespace: ns,
				Labels:    sliceLabels(svc),
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: &t, BlockOwnerDeletion: &t,
				}},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   w.endpoints,
			Ports:       w.ports,
		}
		if _, err := c.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil &&
			!apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			errs = append(errs, err.Error())
		}
	}
	for ; i < len(existing); i++ {
		if err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, existing[i].Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sync endpointslices of %s: %s", key, strings.Join(errs, "; "))
	}
	return nil
}

func sliceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		l[k] = v
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[corev1.IsHeadlessService] = ""
	}
	return l
}

func labelsOK(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	return apiequality.Semantic.DeepEqual(s.Labels, sliceLabels(svc))
}

// Desired computes the slices svc should have: endpoints grouped by port
// set, sorted by IP, chunked at MaxEndpoints. An empty service gets one
// empty slice, as upstream.
func Desired(svc *corev1.Service, pods []*corev1.Pod) []desiredSlice {
	groups := map[string]*desiredSlice{}
	for _, p := range pods {
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if a, err := netip.ParseAddr(p.Status.PodIP); err != nil || !a.Is4() {
			continue
		}
		var ports []discoveryv1.EndpointPort
		var kb strings.Builder
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := controller.ResolvePort(p, sp)
			if err != nil {
				continue
			}
			n, proto := sp.Name, sp.Protocol
			ports = append(ports, discoveryv1.EndpointPort{Name: &n, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
			fmt.Fprintf(&kb, "%s/%d/%s,", n, port, proto)
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		g := groups[kb.String()]
		if g == nil {
			g = &desiredSlice{ports: ports}
			groups[kb.String()] = g
		}
		terminating := p.DeletionTimestamp != nil
		serving := controller.PodReadyForService(p)
		ready := serving && !terminating
		if svc.Spec.PublishNotReadyAddresses {
			ready = true
		}
		ep := discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		}
		if p.Spec.NodeName != "" {
			nn := p.Spec.NodeName
			ep.NodeName = &nn
		}
		g.endpoints = append(g.endpoints, ep)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []desiredSlice
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g.endpoints, func(a, b discoveryv1.Endpoint) int { return strings.Compare(a.Addresses[0], b.Addresses[0]) })
		for start := 0; start < len(g.endpoints); start += MaxEndpoints {
			out = append(out, desiredSlice{ports: g.ports, endpoints: g.endpoints[start:min(start+MaxEndpoints, len(g.endpoints))]})
		}
	}
	if len(out) == 0 {
		var ports []discoveryv1.EndpointPort
		out = append(out, desiredSlice{ports: ports, endpoints: []discoveryv1.Endpoint{}})
	}
	return out
}
