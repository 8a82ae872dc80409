// Package endpoints is the Endpoints controller: for every Service with a
// selector it keeps an Endpoints object listing the IPs of matching pods,
// ready pods under addresses and not-ready pods under notReadyAddresses
// (readiness gates respected), with target ports resolved per pod.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/controlplane/internal/controller"
)

// Options configures the controller.
type Options struct {
	Client    kubernetes.Interface
	Services  coreinformers.ServiceInformer
	Pods      coreinformers.PodInformer
	Endpoints coreinformers.EndpointsInformer
	Log       *slog.Logger
}

// Controller is the Endpoints controller.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	queue     *controller.Queue
	synced    []cache.InformerSynced
}

// New wires the controller to its informers.
func New(o Options) *Controller {
	c := &Controller{
		client: o.Client, services: o.Services.Lister(), pods: o.Pods.Lister(), endpoints: o.Endpoints.Lister(),
		synced: []cache.InformerSynced{o.Services.Informer().HasSynced, o.Pods.Informer().HasSynced, o.Endpoints.Informer().HasSynced},
	}
	c.queue = controller.NewQueue("endpoints", c.Sync, o.Log)
	_, _ = o.Services.Informer().AddEventHandler(c.queue.Handler())
	_, _ = o.Pods.Informer().AddEventHandler(PodHandler(c.services, c.queue.Add))
	_, _ = o.Endpoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.queue.AddObj})
	return c
}

// PodHandler enqueues the services selecting a pod before and after each change.
func PodHandler(services corelisters.ServiceLister, add func(string)) cache.ResourceEventHandler {
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			for _, k := range controller.ServicesForPod(services, p) {
				add(k)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(o, n any) {
			enqueue(n)
			if !apiequality.Semantic.DeepEqual(o.(*corev1.Pod).Labels, n.(*corev1.Pod).Labels) {
				enqueue(o)
			}
		},
		DeleteFunc: enqueue,
	}
}

// Run waits for the caches and runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Run(ctx, workers)
}

// Sync reconciles the Endpoints of the Service named by key.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil {
		return nil // endpoints are managed by the user
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	subsets := Subsets(svc, pods)
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: svc.Labels},
		Subsets:    subsets,
	}
	if cur == nil {
		_, err := c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return fmt.Errorf("create endpoints %s: %w", key, err)
		}
		return nil
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, subsets) && apiequality.Semantic.DeepEqual(cur.Labels, svc.Labels) {
		return nil
	}
	up := cur.DeepCopy()
	up.Subsets, up.Labels = subsets, svc.Labels
	if _, err := c.client.CoreV1().Endpoints(ns).Update(ctx, up, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update endpoints %s: %w", key, err)
	}
	return nil
}

// Subsets computes the Endpoints subsets of svc from its pods, grouping
// addresses by their resolved port set, sorted for a stable result.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	for _, p := range pods {
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.DeletionTimestamp != nil && !svc.Spec.PublishNotReadyAddresses {
			continue
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := controller.ResolvePort(p, sp)
			if err != nil {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		var kb strings.Builder
		for _, pt := range ports {
			fmt.Fprintf(&kb, "%s/%d/%s,", pt.Name, pt.Port, pt.Protocol)
		}
		g := groups[kb.String()]
		if g == nil {
			g = &group{ports: ports}
			groups[kb.String()] = g
		}
		nodeName := p.Spec.NodeName
		addr := corev1.EndpointAddress{
			IP:        p.Status.PodIP,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		}
		if nodeName != "" {
			addr.NodeName = &nodeName
		}
		if controller.PodReadyForService(p) || svc.Spec.PublishNotReadyAddresses {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		g := groups[k]
		byIP := func(a, b corev1.EndpointAddress) int { return strings.Compare(a.IP, b.IP) }
		slices.SortFunc(g.ready, byIP)
		slices.SortFunc(g.notReady, byIP)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}
