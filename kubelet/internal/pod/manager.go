// Package pod runs the pods bound to a node on a CRI runtime. A Manager
// watches the node's pods and gives each one a worker goroutine that
// drives the runtime toward the pod spec (sandbox, init containers in
// order, containers, restarts with back-off, probes, graceful termination)
// and writes the pod's status back to the API server.
package pod

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff.dev/kubelet/internal/cri"
)

// CRI labels skiff puts on sandboxes and containers (the upstream names).
const (
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelContainerName = "io.kubernetes.container.name"
)

// Options configure a Manager.
type Options struct {
	Client   kubernetes.Interface
	Runtime  cri.Runtime
	Images   cri.Images
	NodeName string
	// NodeIP is reported as status.hostIP.
	NodeIP string
	// Node returns the current Node (labels and allocatable for admission).
	Node func() *corev1.Node
	// RootDir holds pods/<uid>/volumes and logs/<ns>_<name>_<uid>.
	RootDir string
	// ClusterDNS servers and domain for dnsPolicy ClusterFirst.
	ClusterDNS    []string
	ClusterDomain string
	// CgroupRoot is the cgroupfs parent of pod cgroups (default /skiff).
	CgroupRoot string
	// BackoffBase and BackoffMax bound the container restart back-off
	// (default 10s and 5m, as upstream).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Relist is how often the runtime's sandboxes and containers are listed
	// to notice changes (container exits) and wake the affected pod
	// workers (default 1s).
	Relist time.Duration
	// Resync is how often a settled pod worker re-reads the runtime anyway
	// (default 10s); workers with pending work retry every Relist.
	Resync time.Duration
	// ContainerLogMaxSize rotates a running container's log file when it
	// grows beyond this many bytes; one rotated file is kept (default 10 MiB).
	ContainerLogMaxSize int64
	// LogRotateInterval is how often log sizes are checked (default 10s).
	LogRotateInterval time.Duration
	// MaxParallelStarts bounds how many pods create their sandbox and
	// first containers at the same time (0: no bound). Others wait in
	// arrival order, so a burst of pods becomes Running one after another
	// instead of all at the end, and the runtime does not thrash.
	MaxParallelStarts int
	// Recorder records the pod events `kubectl describe pod` shows
	// (default: none).
	Recorder record.EventRecorder
	Log      *slog.Logger
}

// Manager runs the pods of one node.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	workers map[types.UID]*worker
	done    map[types.UID]time.Time // terminated pods, ignored until forgotten
	// pullFailed remembers images whose pull failed while a local copy
	// exists, so pods do not wait on an unreachable registry every start.
	pullFailed map[string]time.Time
	ctx        context.Context
	lister     func() []*corev1.Pod
	synced     func() bool
	// services and servicesSynced feed the service-link variables; a
	// container does not start before Services were listed once.
	services       corelisters.ServiceLister
	servicesSynced func() bool
	// starts limits concurrent first starts (nil: unbounded).
	starts chan struct{}
	// tokens keeps projected ServiceAccount tokens until 80 % of their life.
	tokens tokenCache
	wg     sync.WaitGroup
}

// New returns a Manager.
func New(opts Options) *Manager {
	if opts.CgroupRoot == "" {
		opts.CgroupRoot = "/skiff"
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 10 * time.Second
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.ContainerLogMaxSize == 0 {
		opts.ContainerLogMaxSize = 10 << 20
	}
	if opts.LogRotateInterval == 0 {
		opts.LogRotateInterval = 10 * time.Second
	}
	if opts.Relist == 0 {
		opts.Relist = time.Second
	}
	if opts.Resync == 0 {
		opts.Resync = 10 * time.Second
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Recorder == nil {
		opts.Recorder = &record.FakeRecorder{}
	}
	if opts.Node == nil {
		opts.Node = func() *corev1.Node { return nil }
	}
	m := &Manager{opts: opts, log: opts.Log, workers: map[types.UID]*worker{}, done: map[types.UID]time.Time{}, pullFailed: map[string]time.Time{}}
	if opts.MaxParallelStarts > 0 {
		m.starts = make(chan struct{}, opts.MaxParallelStarts)
	}
	return m
}

// Run watches the node's pods and runs workers until ctx ends. Running
// containers are left alone on exit (a restarted kubelet adopts them).
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	factory := informers.NewSharedInformerFactoryWithOptions(m.opts.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", m.opts.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.dispatch(obj, false) },
		UpdateFunc: func(_, obj any) { m.dispatch(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			m.dispatch(obj, true)
		},
	})
	if err != nil {
		return fmt.Errorf("pod informer: %w", err)
	}
	m.lister = func() []*corev1.Pod {
		var out []*corev1.Pod
		for _, o := range inf.GetStore().List() {
			if p, ok := o.(*corev1.Pod); ok {
				out = append(out, p)
			}
		}
		return out
	}
	// Services feed the containers' service-link variables
	// (KUBERNETES_SERVICE_HOST…); watched cluster-wide like upstream.
	svcFactory := informers.NewSharedInformerFactory(m.opts.Client, 0)
	svcInf := svcFactory.Core().V1().Services()
	m.services = svcInf.Lister()
	m.servicesSynced = svcInf.Informer().HasSynced
	m.synced = inf.HasSynced
	factory.Start(ctx.Done())
	svcFactory.Start(ctx.Done())
	defer svcFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	m.log.Info("pod manager synced", slog.String("node", m.opts.NodeName))
	m.housekeeping(ctx)
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	relist := time.NewTicker(m.opts.Relist)
	defer relist.Stop()
	logT := time.NewTicker(m.opts.LogRotateInterval)
	defer logT.Stop()
	seen := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			factory.Shutdown()
			m.wg.Wait()
			return nil
		case <-t.C:
			m.housekeeping(ctx)
		case <-logT.C:
			m.rotateLogs(ctx)
		case <-relist.C:
			seen = m.relist(ctx, seen)
		}
	}
}

// rotateLogs rotates the log files of running containers that grew past
// ContainerLogMaxSize: the file is renamed to <file>.1 (replacing an older
// one) and the runtime reopens a fresh file.
func (m *Manager) rotateLogs(ctx context.Context) {
	cs, err := m.opts.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.GetLabels()[LabelPodUID] == "" {
			continue
		}
		st, err := m.opts.Runtime.ContainerStatus(ctx, c.Id, false)
		path := st.GetStatus().GetLogPath()
		if err != nil || path == "" {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size() <= m.opts.ContainerLogMaxSize {
			continue
		}
		if err := os.Rename(path, path+".1"); err != nil {
			m.log.Warn("rotate container log", slog.String("path", path), slog.Any("err", err))
			continue
		}
		if err := m.opts.Runtime.ReopenContainerLog(ctx, c.Id); err != nil {
			m.log.Warn("reopen container log", slog.String("container", c.Id), slog.Any("err", err))
		}
	}
}

// relist lists every sandbox and container once and wakes the workers of
// pods whose runtime state changed since the last relist (the upstream
// kubelet's PLEG, by polling).
func (m *Manager) relist(ctx context.Context, prev map[string]string) map[string]string {
	sbs, err := m.opts.Runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		m.log.Warn("relist sandboxes", slog.Any("err", err))
		return prev
	}
	cs, err := m.opts.Runtime.ListContainers(ctx, nil)
	if err != nil {
		m.log.Warn("relist containers", slog.Any("err", err))
		return prev
	}
	parts := map[string][]string{}
	for _, sb := range sbs {
		uid := sb.GetLabels()[LabelPodUID]
		parts[uid] = append(parts[uid], sb.Id+"="+sb.State.String())
	}
	for _, c := range cs {
		uid := c.GetLabels()[LabelPodUID]
		parts[uid] = append(parts[uid], c.Id+"="+c.State.String())
	}
	cur := make(map[string]string, len(parts))
	for uid, p := range parts {
		sort.Strings(p)
		cur[uid] = strings.Join(p, ",")
	}
	var changed []types.UID
	for uid, fp := range cur {
		if prev[uid] != fp {
			changed = append(changed, types.UID(uid))
		}
	}
	for uid := range prev {
		if _, ok := cur[uid]; !ok {
			changed = append(changed, types.UID(uid))
		}
	}
	if len(changed) > 0 {
		m.mu.Lock()
		for _, uid := range changed {
			if w, ok := m.workers[uid]; ok {
				w.poke()
			}
		}
		m.mu.Unlock()
	}
	return cur
}

func (m *Manager) dispatch(obj any, deleted bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != m.opts.NodeName {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.done[pod.UID]; ok {
		return
	}
	w, ok := m.workers[pod.UID]
	if !ok {
		if m.ctx == nil || m.ctx.Err() != nil {
			return
		}
		w = newWorker(m, pod)
		m.workers[pod.UID] = w
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			w.run(m.ctx)
			m.mu.Lock()
			if m.workers[pod.UID] == w {
				delete(m.workers, pod.UID)
			}
			if m.ctx.Err() == nil {
				m.done[pod.UID] = time.Now()
			}
			m.mu.Unlock()
		}()
	}
	w.update(pod, deleted)
}

// activePods returns the pods admitted by workers and not finished, except uid.
func (m *Manager) activePods(except types.UID) []*corev1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*corev1.Pod
	for uid, w := range m.workers {
		if uid == except {
			continue
		}
		if p, ok := w.admittedPod(); ok {
			out = append(out, p)
		}
	}
	return out
}

// Pods returns the pods bound to this node as last seen.
func (m *Manager) Pods() []*corev1.Pod {
	if m.lister == nil {
		return nil
	}
	return m.lister()
}

// Pod finds a pod bound to this node.
func (m *Manager) Pod(namespace, name string) (*corev1.Pod, bool) {
	for _, p := range m.Pods() {
		if p.Namespace == namespace && p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Containers returns the runtime's containers of one pod container, newest
// attempt first.
func (m *Manager) Containers(ctx context.Context, pod *corev1.Pod, container string) ([]*runtimeapi.ContainerStatus, error) {
	cs, err := m.opts.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{
		LabelPodUID: string(pod.UID), LabelContainerName: container,
	}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*runtimeapi.ContainerStatus
	for _, c := range cs {
		st, err := m.opts.Runtime.ContainerStatus(ctx, c.Id, false)
		if err != nil || st.Status == nil {
			continue
		}
		out = append(out, st.Status)
	}
	sortByAttemptDesc(out)
	return out, nil
}

// Runtime is the CRI runtime the manager drives.
func (m *Manager) Runtime() cri.Runtime { return m.opts.Runtime }

// housekeeping removes sandboxes of pods that no longer exist on this node,
// and their directories and cgroups.
func (m *Manager) housekeeping(ctx context.Context) {
	if m.synced == nil || !m.synced() {
		return
	}
	known := map[string]bool{}
	for _, p := range m.Pods() {
		known[string(p.UID)] = true
	}
	m.mu.Lock()
	for uid := range m.workers {
		known[string(uid)] = true
	}
	for uid, t := range m.done {
		if time.Since(t) > 5*time.Minute {
			delete(m.done, uid)
		}
	}
	m.mu.Unlock()
	m.tokens.prune(known, time.Now())
	sbs, err := m.opts.Runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		m.log.Warn("housekeeping: list sandboxes", slog.Any("err", err))
		return
	}
	for _, sb := range sbs {
		uid := sb.GetLabels()[LabelPodUID]
		if uid == "" || known[uid] {
			continue
		}
		m.log.Info("removing orphaned sandbox", slog.String("sandbox", sb.Id), slog.String("podUID", uid))
		if err := m.removeSandbox(ctx, sb.Id); err != nil {
			m.log.Warn("remove orphaned sandbox", slog.String("sandbox", sb.Id), slog.Any("err", err))
		}
		m.cleanupPodDirs(types.UID(uid), sb.GetMetadata().GetNamespace(), sb.GetMetadata().GetName())
	}
}

// removeSandbox removes a sandbox, stopping it first only when the runtime
// refuses to remove it as it is. The CRI's RemovePodSandbox must stop a
// sandbox that still runs, and containerd tears down its network on each
// stop — i.e. on Stop and again on Remove, one exec of every CNI plugin
// each — so removing directly halves the CNI work of a pod deletion.
// Callers stop the pod's containers (gracefully) before.
func (m *Manager) removeSandbox(ctx context.Context, id string) error {
	err := m.opts.Runtime.RemovePodSandbox(ctx, id)
	if err == nil {
		return nil
	}
	if serr := m.opts.Runtime.StopPodSandbox(ctx, id); serr != nil {
		return fmt.Errorf("remove sandbox %s: %w (stop: %v)", id, err, serr)
	}
	if err := m.opts.Runtime.RemovePodSandbox(ctx, id); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	return nil
}

func (m *Manager) podDir(uid types.UID) string {
	return filepath.Join(m.opts.RootDir, "pods", string(uid))
}

func (m *Manager) logDir(namespace, name string, uid types.UID) string {
	return filepath.Join(m.opts.RootDir, "logs", fmt.Sprintf("%s_%s_%s", namespace, name, uid))
}

func (m *Manager) cgroupParent(uid types.UID) string {
	return filepath.Join(m.opts.CgroupRoot, "pod"+string(uid))
}

// cleanupPodDirs removes a gone pod's volumes, logs and cgroup leftovers.
func (m *Manager) cleanupPodDirs(uid types.UID, namespace, name string) {
	unmountVolumes(m.podDir(uid))
	if err := os.RemoveAll(m.podDir(uid)); err != nil {
		m.log.Warn("remove pod dir", slog.Any("err", err))
	}
	if namespace != "" && name != "" {
		_ = os.RemoveAll(m.logDir(namespace, name, uid))
	}
	RemoveCgroups("/sys/fs/cgroup", m.cgroupParent(uid))
}

// RemoveCgroups removes the cgroup directory rel (and its children) under
// every controller hierarchy mounted below root. Directories still holding
// processes are left in place.
func RemoveCgroups(root, rel string) {
	dirs := []string{filepath.Join(root, rel)}
	if ents, err := os.ReadDir(root); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(root, e.Name(), rel))
			}
		}
	}
	for _, d := range dirs {
		removeCgroupTree(d)
	}
}

func removeCgroupTree(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}
