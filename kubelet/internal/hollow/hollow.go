// Package hollow runs many fake nodes in one process for scale tests of
// the scheduler and controllers: each node registers, keeps its Lease and
// status fresh, and reports the pods bound to it Running (without any
// container runtime); deleted pods are removed at once.
package hollow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff.dev/kubelet/internal/node"
)

// Options configure the hollow nodes.
type Options struct {
	Client kubernetes.Interface
	// Prefix of node names: <prefix>-0 … <prefix>-<Nodes-1>.
	Prefix string
	Nodes  int
	// Capacity of every node (default cpu 4, memory 16Gi, pods 110).
	Capacity corev1.ResourceList
	Labels   map[string]string
	// Port reported as the kubelet endpoint.
	Port int32
	// StatusInterval between node status updates (default 1m; the lease
	// carries liveness).
	StatusInterval time.Duration
	// Workers writing pod statuses (default 8).
	Workers int
	Log     *slog.Logger
}

// Run runs the hollow nodes until ctx ends.
func Run(ctx context.Context, opts Options) error {
	if opts.Nodes <= 0 {
		return fmt.Errorf("hollow: need at least one node, got %d", opts.Nodes)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.StatusInterval == 0 {
		opts.StatusInterval = time.Minute
	}
	if opts.Capacity == nil {
		opts.Capacity = corev1.ResourceList{
			corev1.ResourceCPU:    resourceMust("4"),
			corev1.ResourceMemory: resourceMust("16Gi"),
			corev1.ResourcePods:   resourceMust("110"),
		}
	}
	names := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < opts.Nodes; i++ {
		name := fmt.Sprintf("%s-%d", opts.Prefix, i)
		names[name] = i
		labels := map[string]string{
			"kubernetes.io/hostname": name,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
			"skiff.dev/hollow":       "true",
		}
		for k, v := range opts.Labels {
			labels[k] = v
		}
		ip := fmt.Sprintf("10.%d.%d.%d", 200+i/65536%50, i/256%256, i%256)
		m := node.New(node.Options{
			Client:         opts.Client,
			Name:           name,
			Labels:         labels,
			Addresses:      []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
			Port:           opts.Port,
			Capacity:       opts.Capacity,
			Info:           corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: "hollow://0.0.0", KubeletVersion: "v1.37.2-skiff-hollow", OSImage: "hollow", KernelVersion: "hollow"},
			StatusInterval: opts.StatusInterval,
			HealthInterval: time.Hour,
			Log:            opts.Log,
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread start-up and renewals over time.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(i%100) * 10 * time.Millisecond):
			}
			_ = m.Run(ctx)
		}()
	}
	p := &pods{opts: opts, names: names, queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	err := p.run(ctx)
	wg.Wait()
	return err
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

// pods reports the hollow nodes' pods Running.
type pods struct {
	opts  Options
	names map[string]int
	queue workqueue.TypedRateLimitingInterface[string]
	store cache.Store
	ipMu  sync.Mutex
	ipSeq int
}

func (p *pods) run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(p.opts.Client, 0)
	inf := factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok {
			if _, mine := p.names[pod.Spec.NodeName]; mine {
				p.queue.Add(pod.Namespace + "/" + pod.Name)
			}
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("hollow: pod informer: %w", err)
	}
	p.store = inf.GetStore()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < p.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	p.queue.ShutDown()
	wg.Wait()
	return nil
}

func (p *pods) next(ctx context.Context) bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(key)
	if err := p.sync(ctx, key); err != nil {
		p.opts.Log.Debug("hollow pod sync", slog.String("pod", key), slog.Any("err", err))
		p.queue.AddRateLimited(key)
		return true
	}
	p.queue.Forget(key)
	return true
}

func (p *pods) sync(ctx context.Context, key string) error {
	obj, ok, err := p.store.GetByKey(key)
	if err != nil || !ok {
		return err
	}
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		zero := int64(0)
		uid := pod.UID
		err := p.opts.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	st := p.runningStatus(pod)
	cp := pod.DeepCopy()
	cp.Status = st
	_, err = p.opts.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (p *pods) podIP() string {
	p.ipMu.Lock()
	defer p.ipMu.Unlock()
	p.ipSeq++
	n := p.ipSeq
	return fmt.Sprintf("10.%d.%d.%d", 100+n/65536%100, n/256%256, n%256)
}

func (p *pods) runningStatus(pod *corev1.Pod) corev1.PodStatus {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	idx := p.names[pod.Spec.NodeName]
	hostIP := fmt.Sprintf("10.%d.%d.%d", 200+idx/65536%50, idx/256%256, idx%256)
	ip := p.podIP()
	st := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &now,
		QOSClass:  pod.Status.QOSClass,
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	started := true
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: "hollow://" + c.Name}},
		})
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: &started,
			ContainerID: "hollow://" + string(pod.UID) + "/" + c.Name,
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return st
}
