// Package core is the scheduling loop: it feeds the queue and the cache
// from informers, pops one pod at a time, runs its profile's framework over
// a cache snapshot, assumes the chosen node and binds asynchronously so the
// next cycle starts at once, and reports failures as a PodScheduled=False
// condition and a FailedScheduling Event.
package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"

	"skiff.dev/scheduler/internal/cache"
	"skiff.dev/scheduler/internal/config"
	"skiff.dev/scheduler/internal/events"
	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
	"skiff.dev/scheduler/internal/profile"
	"skiff.dev/scheduler/internal/queue"
)

// Condition reasons, as upstream.
const (
	ReasonUnschedulable  = v1.PodReasonUnschedulable
	ReasonSchedulerError = v1.PodReasonSchedulerError
)

// BoundFunc is told about every successful binding (benchmarks, metrics).
type BoundFunc func(pod *v1.Pod, node string, queued time.Time)

// Options configures a Scheduler.
type Options struct {
	Client kubernetes.Interface
	Config *config.Configuration
	Logger *slog.Logger
	// OnBound, when set, is called after each successful bind.
	OnBound BoundFunc
	// MaxConcurrentBinds bounds in-flight binding requests (default 256).
	MaxConcurrentBinds int
}

// Scheduler schedules pods for its profiles.
type Scheduler struct {
	opts     Options
	client   kubernetes.Interface
	log      *slog.Logger
	queue    *queue.Queue
	cache    *cache.Cache
	snapshot *framework.Snapshot
	profiles map[string]*framework.Framework
	factory  informers.SharedInformerFactory
	nsLister listerscorev1.NamespaceLister
	podInf   toolscache.SharedIndexInformer

	broadcaster record.EventBroadcaster
	recorders   map[string]record.EventRecorder
	// events writes the Scheduled Events (one per bound pod) concurrently;
	// the record broadcaster keeps the rarer, repeating ones.
	events *events.Writer

	// bindSem counts bind workers (at most MaxConcurrentBinds); bindJobs
	// hands bindings to idle ones; closing bindStop ends them.
	bindSem  chan struct{}
	bindJobs chan bindJob
	bindStop chan struct{}
	binds    sync.WaitGroup
}

type handle struct {
	s       *Scheduler
	profile string
}

func (h handle) ClientSet() kubernetes.Interface { return h.s.client }
func (h handle) Framework() *framework.Framework { return h.s.profiles[h.profile] }
func (h handle) NamespaceLabels(ns string) labels.Set {
	if h.s.nsLister == nil {
		return nil
	}
	n, err := h.s.nsLister.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

// New builds a scheduler; Run starts it.
func New(opts Options) (*Scheduler, error) {
	if opts.Client == nil {
		return nil, errors.New("scheduler: no client")
	}
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConcurrentBinds <= 0 {
		opts.MaxConcurrentBinds = 256
	}
	s := &Scheduler{
		opts:   opts,
		client: opts.Client,
		log:    opts.Logger,
		queue: queue.New(queue.Options{
			InitialBackoff: time.Duration(opts.Config.PodInitialBackoffSeconds) * time.Second,
			MaxBackoff:     time.Duration(opts.Config.PodMaxBackoffSeconds) * time.Second,
		}),
		cache:     cache.New(cache.Options{Logger: opts.Logger}),
		snapshot:  cache.NewSnapshot(),
		recorders: map[string]record.EventRecorder{},
		bindSem:   make(chan struct{}, opts.MaxConcurrentBinds),
		bindJobs:  make(chan bindJob),
	}
	profiles, err := profile.Build(opts.Config, func(name string) framework.Handle { return handle{s: s, profile: name} })
	if err != nil {
		return nil, err
	}
	s.profiles = profiles
	s.factory = informers.NewSharedInformerFactory(opts.Client, 0)
	s.podInf = s.factory.Core().V1().Pods().Informer()
	nodeInf := s.factory.Core().V1().Nodes().Informer()
	nsInf := s.factory.Core().V1().Namespaces()
	s.nsLister = nsInf.Lister()
	_ = nsInf.Informer()

	if _, err := s.podInf.AddEventHandler(toolscache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool { p, ok := podOf(obj); return ok && assigned(p) },
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.onAssignedPodAdd(obj) },
			UpdateFunc: func(old, obj any) { s.onAssignedPodUpdate(old, obj) },
			DeleteFunc: func(obj any) { s.onAssignedPodDelete(obj) },
		},
	}); err != nil {
		return nil, fmt.Errorf("pod handler: %w", err)
	}
	if _, err := s.podInf.AddEventHandler(toolscache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool { p, ok := podOf(obj); return ok && !assigned(p) && s.responsible(p) },
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if p, ok := podOf(obj); ok {
					s.queue.Add(p)
				}
			},
			UpdateFunc: func(old, obj any) {
				op, _ := podOf(old)
				if p, ok := podOf(obj); ok {
					s.queue.Update(op, p)
				}
			},
			DeleteFunc: func(obj any) {
				if p, ok := podOf(obj); ok {
					s.queue.Delete(p)
				}
			},
		},
	}); err != nil {
		return nil, fmt.Errorf("pod handler: %w", err)
	}
	if _, err := nodeInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*v1.Node); ok {
				s.cache.AddNode(n)
				s.queue.Move(queue.Event{Name: "NodeAdd"})
			}
		},
		UpdateFunc: func(old, obj any) {
			o, _ := old.(*v1.Node)
			n, ok := obj.(*v1.Node)
			if !ok {
				return
			}
			s.cache.UpdateNode(n)
			if o == nil || nodeSchedulingChanged(o, n) {
				s.queue.Move(queue.Event{Name: "NodeUpdate"})
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*v1.Node); ok {
				s.cache.RemoveNode(n)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("node handler: %w", err)
	}
	return s, nil
}

// Profiles returns the frameworks by schedulerName.
func (s *Scheduler) Profiles() map[string]*framework.Framework { return s.profiles }

// Queue exposes the queue (tests, metrics).
func (s *Scheduler) Queue() *queue.Queue { return s.queue }

// Cache exposes the cache (tests, metrics).
func (s *Scheduler) Cache() *cache.Cache { return s.cache }

// MoveAll retries every unschedulable pod (e.g. after plugins changed).
func (s *Scheduler) MoveAll(reason string) { s.queue.Move(queue.Event{Name: reason}) }

func podOf(obj any) (*v1.Pod, bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*v1.Pod)
	return p, ok
}

func assigned(p *v1.Pod) bool {
	return p.Spec.NodeName != "" && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed
}

func (s *Scheduler) responsible(p *v1.Pod) bool {
	if p.Spec.NodeName != "" || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
		return false
	}
	_, ok := s.profiles[schedulerName(p)]
	return ok
}

func schedulerName(p *v1.Pod) string {
	if p.Spec.SchedulerName == "" {
		return config.DefaultSchedulerName
	}
	return p.Spec.SchedulerName
}

func nodeSchedulingChanged(o, n *v1.Node) bool {
	if o.Spec.Unschedulable != n.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
		!equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
		!equality.Semantic.DeepEqual(o.Status.Allocatable, n.Status.Allocatable) {
		return true
	}
	cond := func(x *v1.Node) map[v1.NodeConditionType]v1.ConditionStatus {
		m := map[v1.NodeConditionType]v1.ConditionStatus{}
		for _, c := range x.Status.Conditions {
			m[c.Type] = c.Status
		}
		return m
	}
	return !equality.Semantic.DeepEqual(cond(o), cond(n))
}

var affinityPlugins = sets.New(names.InterPodAffinity, names.PodTopologySpread)

func (s *Scheduler) onAssignedPodAdd(obj any) {
	p, ok := podOf(obj)
	if !ok {
		return
	}
	s.cache.AddPod(p)
	// The pod may have been pending in our queue under another name's
	// binding race; it is placed now.
	s.queue.Delete(p)
	s.queue.Move(queue.Event{Name: "AssignedPodAdd", Plugins: affinityPlugins})
}

func (s *Scheduler) onAssignedPodUpdate(old, obj any) {
	p, ok := podOf(obj)
	if !ok {
		return
	}
	s.cache.UpdatePod(p)
	if o, ok := podOf(old); ok && !equality.Semantic.DeepEqual(o.Labels, p.Labels) {
		s.queue.Move(queue.Event{Name: "AssignedPodUpdate", Plugins: affinityPlugins})
	}
}

func (s *Scheduler) onAssignedPodDelete(obj any) {
	p, ok := podOf(obj)
	if !ok {
		return
	}
	s.cache.RemovePod(p)
	s.queue.Move(queue.Event{Name: "AssignedPodDelete"})
}

func (s *Scheduler) recorder(profile string) record.EventRecorder {
	return s.recorders[profile]
}

// Run starts informers, waits for their caches, and schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	// Events outlive ctx a little so that the last ones are not cut off
	// mid-request at shutdown.
	ectx, ecancel := context.WithCancel(context.WithoutCancel(ctx))
	defer ecancel()
	s.broadcaster = record.NewBroadcaster(record.WithContext(ectx))
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
	defer s.broadcaster.Shutdown()
	ew, err := events.New(events.Options{Client: s.client, Logger: s.log})
	if err != nil {
		return err
	}
	ew.Start()
	// Deferred before the bindings are waited for below, so it runs after
	// them: their Scheduled Events are queued by then.
	defer ew.Close(10 * time.Second)
	s.events = ew
	for name := range s.profiles {
		s.recorders[name] = s.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: name})
	}
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	synced := s.factory.WaitForCacheSync(ctx.Done())
	for typ, ok := range synced {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("informer cache for %v did not sync", typ)
		}
	}
	n, p := s.cache.Counts()
	s.log.Info("scheduler caches synced", slog.Int("nodes", n), slog.Int("assignedPods", p), slog.Int("profiles", len(s.profiles)))
	go s.queue.Run(ctx)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.cache.Cleanup()
			}
		}
	}()
	s.bindStop = make(chan struct{})
	defer close(s.bindStop)
	for {
		qp, err := s.queue.Pop(ctx)
		if err != nil {
			break
		}
		s.scheduleOne(ctx, qp)
	}
	s.binds.Wait()
	return nil
}

// scheduleOne runs one scheduling cycle for a popped pod.
func (s *Scheduler) scheduleOne(ctx context.Context, qp *queue.QueuedPod) {
	pod := qp.Pod
	fwk, ok := s.profiles[schedulerName(pod)]
	if !ok || pod.DeletionTimestamp != nil || s.cache.Has(pod.UID) {
		s.queue.Done(pod.UID)
		return
	}
	cycle := s.queue.SchedulingCycle()
	s.cache.UpdateSnapshot(s.snapshot)
	state := framework.NewCycleState()
	res, err := fwk.Schedule(ctx, state, qp.PodInfo, s.snapshot)
	if err != nil {
		var fe *framework.FitError
		if errors.As(err, &fe) {
			nominated := ""
			if fwk.HasPostFilter() {
				r, st := fwk.RunPostFilter(ctx, state, qp.PodInfo, s.snapshot, fe.NodeToStatus)
				if r != nil {
					nominated = r.NominatedNodeName
				} else if st.Code() == framework.Error {
					s.log.Warn("preemption failed", slog.String("pod", key(pod)), slog.String("err", st.Message()))
				}
			}
			qp.UnschedulablePlugins = sets.KeySet(fe.UnschedulablePlugins)
			s.fail(ctx, fwk, qp, cycle, true, ReasonUnschedulable, fe.Error(), nominated)
			return
		}
		s.fail(ctx, fwk, qp, cycle, false, ReasonSchedulerError, err.Error(), "")
		return
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = res.SuggestedHost
	if err := s.cache.AssumePodInfo(qp.PodInfo.WithPod(assumed)); err != nil {
		s.fail(ctx, fwk, qp, cycle, false, ReasonSchedulerError, err.Error(), "")
		return
	}
	if st := fwk.RunReserve(ctx, state, assumed, res.SuggestedHost); !st.IsSuccess() {
		s.cache.ForgetPod(assumed)
		s.fail(ctx, fwk, qp, cycle, false, ReasonSchedulerError, st.Message(), "")
		return
	}
	s.binds.Add(1)
	s.startBind(ctx, bindJob{fwk: fwk, state: state, qp: qp, assumed: assumed, node: res.SuggestedHost, cycle: cycle})
}

// bindJob is one binding for a bind worker.
type bindJob struct {
	fwk     *framework.Framework
	state   *framework.CycleState
	qp      *queue.QueuedPod
	assumed *v1.Pod
	node    string
	cycle   int64
}

// startBind hands job to an idle bind worker, or starts a new worker while
// fewer than MaxConcurrentBinds run, or else waits for one to be free.
// Workers live until Run ends: a goroutine per binding would grow a fresh
// stack through the HTTP/2 client on every bind.
func (s *Scheduler) startBind(ctx context.Context, job bindJob) {
	select {
	case s.bindJobs <- job:
		return
	default:
	}
	select {
	case s.bindSem <- struct{}{}:
		go s.bindWorker(ctx, job)
	case s.bindJobs <- job:
	case <-ctx.Done():
		// Still bind (the pod is assumed); the request fails fast.
		go func() {
			defer s.binds.Done()
			s.bind(ctx, job.fwk, job.state, job.qp, job.assumed, job.node, job.cycle)
		}()
	}
}

func (s *Scheduler) bindWorker(ctx context.Context, job bindJob) {
	defer func() { <-s.bindSem }()
	for {
		s.bind(ctx, job.fwk, job.state, job.qp, job.assumed, job.node, job.cycle)
		s.binds.Done()
		var ok bool
		select {
		case job, ok = <-s.bindJobs:
			if !ok {
				return
			}
		case <-s.bindStop:
			return
		}
	}
}

func (s *Scheduler) bind(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, qp *queue.QueuedPod, assumed *v1.Pod, node string, cycle int64) {
	st := fwk.RunBind(ctx, state, assumed, node)
	if st.IsSuccess() {
		s.cache.FinishBinding(assumed)
		s.queue.Done(assumed.UID)
		if s.events != nil {
			s.events.Event(qp.Pod, fwk.ProfileName(), v1.EventTypeNormal, "Scheduled",
				"Successfully assigned "+assumed.Namespace+"/"+assumed.Name+" to "+node)
		}
		if s.opts.OnBound != nil {
			s.opts.OnBound(assumed, node, qp.InitialAttempt)
		}
		return
	}
	s.cache.ForgetPod(assumed)
	fwk.RunUnreserve(ctx, state, assumed, node)
	err := st.AsError()
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) {
		// Another scheduler bound it first, or it is gone: the informer
		// delivers the truth; drop our attempt.
		s.log.Info("binding lost", slog.String("pod", key(assumed)), slog.String("node", node), slog.String("err", err.Error()))
		s.queue.Done(assumed.UID)
		return
	}
	if ctx.Err() != nil {
		return
	}
	s.log.Warn("binding failed", slog.String("pod", key(assumed)), slog.String("node", node), slog.String("err", err.Error()))
	s.fail(ctx, fwk, qp, cycle, false, ReasonSchedulerError, err.Error(), "")
	s.queue.Move(queue.Event{Name: "AssumedPodForgotten"})
}

// fail requeues the pod and reports why, asynchronously.
func (s *Scheduler) fail(ctx context.Context, fwk *framework.Framework, qp *queue.QueuedPod, cycle int64, unschedulable bool, reason, msg, nominated string) {
	pod := qp.Pod
	s.queue.Requeue(qp, cycle, unschedulable)
	s.log.Debug("pod not scheduled", slog.String("pod", key(pod)), slog.String("reason", reason), slog.String("message", msg))
	if r := s.recorder(fwk.ProfileName()); r != nil {
		r.Event(pod, v1.EventTypeWarning, "FailedScheduling", msg)
	}
	s.binds.Add(1)
	go func() {
		defer s.binds.Done()
		if err := s.setCondition(ctx, pod, reason, msg, nominated); err != nil && ctx.Err() == nil {
			s.log.Warn("update pod condition", slog.String("pod", key(pod)), slog.String("err", err.Error()))
		}
	}()
}

// setCondition writes PodScheduled=False through pods/status, skipping
// the write when nothing would change.
func (s *Scheduler) setCondition(ctx context.Context, pod *v1.Pod, reason, msg, nominated string) error {
	pods := s.client.CoreV1().Pods(pod.Namespace)
	cur := pod
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			var err error
			if cur, err = pods.Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
				return err
			}
			if cur.UID != pod.UID || cur.Spec.NodeName != "" {
				return nil
			}
		}
		first = false
		upd := cur.DeepCopy()
		if !setPodScheduledFalse(upd, reason, msg) && (nominated == "" || upd.Status.NominatedNodeName == nominated) {
			return nil
		}
		if nominated != "" {
			upd.Status.NominatedNodeName = nominated
		}
		_, err := pods.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// setPodScheduledFalse sets the condition and reports whether it changed.
func setPodScheduledFalse(pod *v1.Pod, reason, msg string) bool {
	now := metav1.Now()
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type != v1.PodScheduled {
			continue
		}
		if c.Status == v1.ConditionFalse && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != v1.ConditionFalse {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = v1.ConditionFalse, reason, msg
		c.LastProbeTime = metav1.Time{}
		return true
	}
	pod.Status.Conditions = append(pod.Status.Conditions, v1.PodCondition{
		Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: now,
	})
	return true
}

func key(p *v1.Pod) string { return p.Namespace + "/" + p.Name }
