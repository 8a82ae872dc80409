// Package node keeps a kubelet's Node object: it registers the Node with
// the host's capacity, addresses and system info, renews the node's Lease
// in kube-node-lease, and reports the Ready and pressure conditions.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// LeaseNamespace holds node leases.
const LeaseNamespace = "kube-node-lease"

// Health reports whether the node is ready, and if not why.
type Health func(ctx context.Context) (ready bool, reason, message string)

// Pressure reports the node's resource pressure (the eviction signals
// memory.available, nodefs.available and pid.available below threshold).
type Pressure func() (memory, disk, pid bool)

// Options configure a Manager.
type Options struct {
	Client    kubernetes.Interface
	Name      string
	Labels    map[string]string
	Addresses []corev1.NodeAddress
	// Port is the kubelet server port (status.daemonEndpoints).
	Port     int32
	Capacity corev1.ResourceList
	// Allocatable defaults to Capacity.
	Allocatable corev1.ResourceList
	Info        corev1.NodeSystemInfo
	// PodCIDR is set in spec.podCIDR at registration when not empty.
	PodCIDR string
	// Health decides NodeReady (default: always ready).
	Health Health
	// Pressure decides the pressure conditions (default: none).
	Pressure Pressure
	// StatusInterval between status updates (default 10s).
	StatusInterval time.Duration
	// HealthInterval between health checks; a change is reported at once (default 2s).
	HealthInterval time.Duration
	// LeaseDuration of the node lease (default 40s); it is renewed every quarter of it.
	LeaseDuration time.Duration
	Log           *slog.Logger
}

// Manager registers and maintains one Node.
type Manager struct {
	opts Options

	mu       sync.Mutex
	node     *corev1.Node
	watchers []func(*corev1.Node)
	ready    bool
	reason   string
	message  string
	since    metav1.Time
	pressure [3]bool

	registered     chan struct{}
	registeredOnce sync.Once
}

// New returns a Manager.
func New(opts Options) *Manager {
	if opts.StatusInterval == 0 {
		opts.StatusInterval = 10 * time.Second
	}
	if opts.HealthInterval == 0 {
		opts.HealthInterval = 2 * time.Second
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = 40 * time.Second
	}
	if opts.Allocatable == nil {
		opts.Allocatable = opts.Capacity
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Pressure == nil {
		opts.Pressure = func() (bool, bool, bool) { return false, false, false }
	}
	if opts.Health == nil {
		opts.Health = func(context.Context) (bool, string, string) {
			return true, "KubeletReady", "kubelet is posting ready status"
		}
	}
	return &Manager{opts: opts, registered: make(chan struct{})}
}

// Registered is closed once the Node exists.
func (m *Manager) Registered() <-chan struct{} { return m.registered }

// Node returns the last Node seen (nil before registration).
func (m *Manager) Node() *corev1.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// OnUpdate registers f to be called with every Node the manager writes or reads.
func (m *Manager) OnUpdate(f func(*corev1.Node)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watchers = append(m.watchers, f)
}

func (m *Manager) setNode(n *corev1.Node) {
	m.mu.Lock()
	m.node = n
	ws := append([]func(*corev1.Node){}, m.watchers...)
	m.mu.Unlock()
	for _, f := range ws {
		f(n)
	}
}

// Run registers the node (retrying), then keeps its status and lease fresh
// until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	m.checkHealth(ctx)
	backoff := 200 * time.Millisecond
	for {
		err := m.register(ctx)
		if err == nil {
			break
		}
		m.opts.Log.Warn("register node", slog.String("node", m.opts.Name), slog.Any("err", err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
	m.opts.Log.Info("node registered", slog.String("node", m.opts.Name))
	m.registeredOnce.Do(func() { close(m.registered) })
	go m.watchNode(ctx)
	if err := m.renewLease(ctx); err != nil {
		m.opts.Log.Warn("renew lease", slog.Any("err", err))
	}
	statusT := time.NewTicker(m.opts.StatusInterval)
	defer statusT.Stop()
	healthT := time.NewTicker(m.opts.HealthInterval)
	defer healthT.Stop()
	leaseT := time.NewTicker(m.opts.LeaseDuration / 4)
	defer leaseT.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-statusT.C:
			if err := m.updateStatus(ctx); err != nil {
				m.opts.Log.Warn("update node status", slog.Any("err", err))
			}
		case <-healthT.C:
			if m.checkHealth(ctx) {
				if err := m.updateStatus(ctx); err != nil {
					m.opts.Log.Warn("update node status", slog.Any("err", err))
				}
			}
		case <-leaseT.C:
			if err := m.renewLease(ctx); err != nil {
				m.opts.Log.Warn("renew lease", slog.Any("err", err))
			}
		}
	}
}

// watchNode follows the Node object so that changes made by others (the
// pod CIDR assigned by node IPAM, labels) reach OnUpdate watchers at once.
func (m *Manager) watchNode(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(m.opts.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", m.opts.Name).String()
		}))
	inf := factory.Core().V1().Nodes().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok && n.Name == m.opts.Name {
				m.setNode(n)
			}
		},
		UpdateFunc: func(_, obj any) {
			if n, ok := obj.(*corev1.Node); ok && n.Name == m.opts.Name {
				m.setNode(n)
			}
		},
	})
	if err != nil {
		m.opts.Log.Warn("watch node", slog.Any("err", err))
		return
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

// checkHealth runs the health check and reports whether the result changed.
func (m *Manager) checkHealth(ctx context.Context) bool {
	ready, reason, msg := m.opts.Health(ctx)
	mem, disk, pid := m.opts.Pressure()
	m.mu.Lock()
	defer m.mu.Unlock()
	p := [3]bool{mem, disk, pid}
	changed := ready != m.ready || reason != m.reason || m.since.IsZero() || p != m.pressure
	m.pressure = p
	if changed {
		m.since = metav1.Now()
	}
	m.ready, m.reason, m.message = ready, reason, msg
	return changed
}

func (m *Manager) register(ctx context.Context) error {
	nodes := m.opts.Client.CoreV1().Nodes()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: m.opts.Name, Labels: m.opts.Labels},
		Spec:       corev1.NodeSpec{PodCIDR: m.opts.PodCIDR},
	}
	if m.opts.PodCIDR != "" {
		n.Spec.PodCIDRs = []string{m.opts.PodCIDR}
	}
	m.fillStatus(n)
	created, err := nodes.Create(ctx, n, metav1.CreateOptions{})
	switch {
	case err == nil:
		n = created
	case apierrors.IsAlreadyExists(err):
		existing, err := nodes.Get(ctx, m.opts.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", m.opts.Name, err)
		}
		changed := false
		for k, v := range m.opts.Labels {
			if existing.Labels[k] != v {
				if existing.Labels == nil {
					existing.Labels = map[string]string{}
				}
				existing.Labels[k] = v
				changed = true
			}
		}
		if changed {
			if existing, err = nodes.Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("update node %s labels: %w", m.opts.Name, err)
			}
		}
		n = existing
	default:
		return fmt.Errorf("create node %s: %w", m.opts.Name, err)
	}
	m.setNode(n)
	// Creation may drop status; always write it explicitly.
	return m.updateStatus(ctx)
}

func condition(t corev1.NodeConditionType, ok bool, reason, msg string, since metav1.Time) corev1.NodeCondition {
	s := corev1.ConditionFalse
	if ok {
		s = corev1.ConditionTrue
	}
	return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: metav1.Now(), LastTransitionTime: since}
}

// fillStatus writes the desired status into n, keeping transition times
// of unchanged conditions.
func (m *Manager) fillStatus(n *corev1.Node) {
	m.mu.Lock()
	ready, reason, msg, since, p := m.ready, m.reason, m.message, m.since, m.pressure
	m.mu.Unlock()
	old := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range n.Status.Conditions {
		old[c.Type] = c
	}
	pick := func(bad bool, okReason, okMsg, badReason, badMsg string) (string, string) {
		if bad {
			return badReason, badMsg
		}
		return okReason, okMsg
	}
	memR, memM := pick(p[0], "KubeletHasSufficientMemory", "kubelet has sufficient memory available", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
	diskR, diskM := pick(p[1], "KubeletHasNoDiskPressure", "kubelet has no disk pressure", "KubeletHasDiskPressure", "kubelet has disk pressure")
	pidR, pidM := pick(p[2], "KubeletHasSufficientPID", "kubelet has sufficient PID available", "KubeletHasInsufficientPID", "kubelet has insufficient PID available")
	conds := []corev1.NodeCondition{
		condition(corev1.NodeMemoryPressure, p[0], memR, memM, since),
		condition(corev1.NodeDiskPressure, p[1], diskR, diskM, since),
		condition(corev1.NodePIDPressure, p[2], pidR, pidM, since),
		condition(corev1.NodeReady, ready, reason, msg, since),
	}
	for i := range conds {
		if o, ok := old[conds[i].Type]; ok && o.Status == conds[i].Status && !o.LastTransitionTime.IsZero() {
			conds[i].LastTransitionTime = o.LastTransitionTime
		}
	}
	n.Status.Conditions = conds
	n.Status.Capacity = m.opts.Capacity
	n.Status.Allocatable = m.opts.Allocatable
	n.Status.Addresses = m.opts.Addresses
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = m.opts.Port
	n.Status.NodeInfo = m.opts.Info
	if n.Status.Phase == "" {
		n.Status.Phase = corev1.NodeRunning
	}
}

func (m *Manager) updateStatus(ctx context.Context) error {
	nodes := m.opts.Client.CoreV1().Nodes()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n, err := nodes.Get(ctx, m.opts.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Deleted behind our back: register again.
			return m.register(ctx)
		}
		if err != nil {
			return fmt.Errorf("get node: %w", err)
		}
		m.fillStatus(n)
		updated, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			lastErr = err
			continue
		}
		if err != nil {
			return fmt.Errorf("update node status: %w", err)
		}
		m.setNode(updated)
		return nil
	}
	return lastErr
}

func (m *Manager) renewLease(ctx context.Context) error {
	leases := m.opts.Client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	dur := int32(m.opts.LeaseDuration / time.Second)
	l, err := leases.Get(ctx, m.opts.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: m.opts.Name, Namespace: LeaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       &m.opts.Name,
				LeaseDurationSeconds: &dur,
				RenewTime:            &now,
			},
		}
		if n := m.Node(); n != nil && n.UID != "" {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) {
			// The namespace is missing on a bare apiserver: create it.
			_, nerr := m.opts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: LeaseNamespace}}, metav1.CreateOptions{})
			if nerr != nil && !apierrors.IsAlreadyExists(nerr) {
				return fmt.Errorf("create namespace %s: %w", LeaseNamespace, nerr)
			}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		}
		if err != nil {
			return fmt.Errorf("create lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease: %w", err)
	}
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = &m.opts.Name
	l.Spec.LeaseDurationSeconds = &dur
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update lease: %w", err)
	}
	return nil
}
