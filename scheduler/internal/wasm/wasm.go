// Package wasm turns SchedulerPlugin objects (plugins.skiff.dev/v1alpha1)
// into framework plugins: it watches them, fetches each referenced
// WasmModule's bytes from its content subresource, loads the module with
// skiff.dev/plugins/scheduling, and hands every profile the batch filter
// and score plugins that apply to it — hot, without a restart. A plugin is
// called once per cycle for all candidate nodes; its failurePolicy decides
// whether an error, trap, timeout or memory exhaustion fails the cycle
// (Fail) or skips the plugin for that cycle (Ignore, the default).
package wasm

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/scheduling"

	"skiff.dev/scheduler/internal/framework"
)

// GVR is the SchedulerPlugin resource.
var GVR = schema.GroupVersionResource{Group: pluginsv1alpha1.GroupName, Version: pluginsv1alpha1.Version, Resource: pluginsv1alpha1.ResourceSchedulerPlugins}

// NamePrefix prefixes Wasm plugin names in the framework (and in
// UnschedulablePlugins), so they never collide with built-in plugins.
const NamePrefix = "wasm/"

// Options configures a Manager.
type Options struct {
	// Dynamic lists and watches SchedulerPlugins.
	Dynamic dynamic.Interface
	// REST fetches module content (GET /apis/plugins.skiff.dev/v1alpha1/wasmmodules/NAME/content).
	REST rest.Interface
	// Profiles receive the plugins that apply to them.
	Profiles map[string]*framework.Framework
	// Runtime runs the modules; one per process.
	Runtime *host.Runtime
	// OnChange is called after the plugin set changed (the scheduler
	// retries unschedulable pods).
	OnChange func()
	Logger   *slog.Logger
}

// Manager keeps the profiles' Wasm plugins in step with SchedulerPlugin objects.
type Manager struct {
	opts Options
	log  *slog.Logger

	done chan struct{}

	mu      sync.Mutex
	loaded  map[string]*Plugin // by SchedulerPlugin name
	modules map[string][]byte  // module name -> bytes
}

// New returns a Manager; Run starts it.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, log: opts.Logger, loaded: map[string]*Plugin{}, modules: map[string][]byte{}, done: make(chan struct{})}
}

// Done is closed once, after ctx ended, the watch has stopped and every
// module is closed; only then may the Runtime be closed.
func (m *Manager) Done() <-chan struct{} { return m.done }

// Run watches SchedulerPlugins until ctx ends. It returns once the
// initial list has been applied, or with an error when syncCtx ends
// first; either way it keeps watching in the background.
func (m *Manager) Run(ctx, syncCtx context.Context) error {
	f := dynamicinformer.NewDynamicSharedInformerFactory(m.opts.Dynamic, 0)
	inf := f.ForResource(GVR).Informer()
	// The registration's HasSynced turns true once this handler has
	// applied (loaded) every plugin of the initial list; the informer's own
	// HasSynced only says the list was received. Scheduling must not start
	// before that, or the first pods are placed without the cluster's
	// filter plugins.
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.apply(ctx, obj, false) },
		UpdateFunc: func(_, obj any) { m.apply(ctx, obj, false) },
		DeleteFunc: func(obj any) { m.apply(ctx, obj, true) },
	})
	if err != nil {
		return fmt.Errorf("schedulerplugin handler: %w", err)
	}
	f.Start(ctx.Done())
	go func() {
		defer close(m.done)
		<-ctx.Done()
		f.Shutdown()
		m.closeAll(context.Background())
	}()
	if !toolscache.WaitForCacheSync(syncCtx.Done(), reg.HasSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("schedulerplugins informer did not sync: %w", syncCtx.Err())
	}
	return nil
}

func toTyped(obj any) (*pluginsv1alpha1.SchedulerPlugin, error) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	sp := &pluginsv1alpha1.SchedulerPlugin{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, sp); err != nil {
		return nil, fmt.Errorf("decode SchedulerPlugin %s: %w", u.GetName(), err)
	}
	return sp, nil
}

func (m *Manager) apply(ctx context.Context, obj any, deleted bool) {
	if ctx.Err() != nil {
		return
	}
	sp, err := toTyped(obj)
	if err != nil {
		m.log.Warn("schedulerplugin", slog.String("err", err.Error()))
		return
	}
	if deleted {
		m.remove(ctx, sp.Name)
		return
	}
	m.mu.Lock()
	cur := m.loaded[sp.Name]
	m.mu.Unlock()
	if cur != nil && cur.generation == sp.Generation && cur.resourceSpecEqual(sp) {
		return
	}
	p, err := m.load(ctx, sp)
	if err != nil {
		m.log.Warn("load scheduler plugin", slog.String("plugin", sp.Name), slog.String("err", err.Error()))
		m.setStatus(ctx, sp, metav1.ConditionFalse, "LoadFailed", err.Error())
		m.remove(ctx, sp.Name)
		return
	}
	m.mu.Lock()
	old := m.loaded[sp.Name]
	m.loaded[sp.Name] = p
	m.mu.Unlock()
	m.publish()
	if old != nil {
		_ = old.close(ctx)
	}
	m.log.Info("scheduler plugin loaded", slog.String("plugin", sp.Name), slog.String("module", sp.Spec.Module),
		slog.Bool("filter", p.filter), slog.Bool("score", p.score), slog.Int64("weight", p.weight))
	m.setStatus(ctx, sp, metav1.ConditionTrue, "Loaded", "module loaded")
}

func (m *Manager) remove(ctx context.Context, name string) {
	m.mu.Lock()
	old := m.loaded[name]
	delete(m.loaded, name)
	m.mu.Unlock()
	if old == nil {
		return
	}
	m.publish()
	_ = old.close(ctx)
	m.log.Info("scheduler plugin removed", slog.String("plugin", name))
}

func (m *Manager) closeAll(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, p := range m.loaded {
		_ = p.close(ctx)
		delete(m.loaded, name)
	}
}

// publish recomputes every profile's dynamic plugins.
func (m *Manager) publish() {
	m.mu.Lock()
	list := make([]*Plugin, 0, len(m.loaded))
	used := map[string]bool{}
	for _, p := range m.loaded {
		list = append(list, p)
		used[p.spec.Module] = true
	}
	// Keep the bytes of modules still in use only (a re-load with new
	// settings need not fetch them again).
	for name := range m.modules {
		if !used[name] {
			delete(m.modules, name)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b *Plugin) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	for name, fwk := range m.opts.Profiles {
		d := &framework.Dynamic{}
		for _, p := range list {
			if len(p.profiles) > 0 && !slices.Contains(p.profiles, name) {
				continue
			}
			if p.filter {
				d.Filter = append(d.Filter, p)
			}
			if p.score && p.weight > 0 {
				d.Score = append(d.Score, framework.WeightedScorePlugin{Plugin: p, Weight: p.weight})
			}
		}
		fwk.SetDynamic(d)
	}
	if m.opts.OnChange != nil {
		m.opts.OnChange()
	}
}

func (m *Manager) moduleBytes(ctx context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	b, ok := m.modules[name]
	m.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := m.opts.REST.Get().AbsPath("/apis", pluginsv1alpha1.GroupName, pluginsv1alpha1.Version,
		pluginsv1alpha1.ResourceWasmModules, name, pluginsv1alpha1.SubresourceContent).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch module %s: %w", name, err)
	}
	m.mu.Lock()
	m.modules[name] = b
	m.mu.Unlock()
	return b, nil
}

func (m *Manager) load(ctx context.Context, sp *pluginsv1alpha1.SchedulerPlugin) (*Plugin, error) {
	if sp.Spec.Module == "" {
		return nil, fmt.Errorf("spec.module is empty")
	}
	if !sp.Spec.Filter && !sp.Spec.Score {
		return nil, fmt.Errorf("neither spec.filter nor spec.score is set")
	}
	wasmBytes, err := m.moduleBytes(ctx, sp.Spec.Module)
	if err != nil {
		return nil, err
	}
	cfg := scheduling.Config{Name: sp.Name, Wasm: wasmBytes, Timeout: 100 * time.Millisecond}
	if sp.Spec.TimeoutMilliseconds != nil {
		if *sp.Spec.TimeoutMilliseconds <= 0 || *sp.Spec.TimeoutMilliseconds > 10000 {
			return nil, fmt.Errorf("spec.timeoutMilliseconds %d: must be in 1..10000", *sp.Spec.TimeoutMilliseconds)
		}
		cfg.Timeout = time.Duration(*sp.Spec.TimeoutMilliseconds) * time.Millisecond
	}
	if sp.Spec.Settings != nil {
		cfg.Settings = sp.Spec.Settings.Raw
	}
	sp2, err := scheduling.Load(ctx, m.opts.Runtime, cfg)
	if err != nil {
		return nil, err
	}
	if sp.Spec.Filter && !sp2.HasFilter() {
		_ = sp2.Close(ctx)
		return nil, fmt.Errorf("spec.filter is set but module %s exports no filter", sp.Spec.Module)
	}
	if sp.Spec.Score && !sp2.HasScore() {
		_ = sp2.Close(ctx)
		return nil, fmt.Errorf("spec.score is set but module %s exports no score", sp.Spec.Module)
	}
	return NewPlugin(sp, sp2), nil
}

func (m *Manager) setStatus(ctx context.Context, sp *pluginsv1alpha1.SchedulerPlugin, status metav1.ConditionStatus, reason, msg string) {
	if m.opts.Dynamic == nil {
		return
	}
	cond := metav1.Condition{Type: "Loaded", Status: status, Reason: reason, Message: msg,
		ObservedGeneration: sp.Generation, LastTransitionTime: metav1.Now()}
	for _, c := range sp.Status.Conditions {
		if c.Type == cond.Type && c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message && c.ObservedGeneration == cond.ObservedGeneration {
			return
		}
	}
	upd := sp.DeepCopy()
	upd.Status.ObservedGeneration = sp.Generation
	upd.Status.Conditions = []metav1.Condition{cond}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(upd)
	if err != nil {
		return
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(pluginsv1alpha1.SchemeGroupVersion.String())
	u.SetKind("SchedulerPlugin")
	// Best effort: another replica may have written it first.
	if _, err := m.opts.Dynamic.Resource(GVR).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		m.log.Debug("update schedulerplugin status", slog.String("plugin", sp.Name), slog.String("err", err.Error()))
	}
}

// Plugin adapts a loaded module to the framework's batch interfaces.
type Plugin struct {
	name       string
	mod        *scheduling.Plugin
	filter     bool
	score      bool
	weight     int64
	ignore     bool
	profiles   []string
	generation int64
	spec       pluginsv1alpha1.SchedulerPluginSpec

	inputPool  sync.Pool // *[]scheduling.NodeInput
	resultPool sync.Pool // *[]scheduling.FilterResult
}

// NewPlugin wraps a loaded module with the SchedulerPlugin's policy.
func NewPlugin(sp *pluginsv1alpha1.SchedulerPlugin, mod *scheduling.Plugin) *Plugin {
	w := int64(sp.Spec.Weight)
	if w == 0 {
		w = 1
	}
	return &Plugin{
		name:       sp.Name,
		mod:        mod,
		filter:     sp.Spec.Filter,
		score:      sp.Spec.Score,
		weight:     w,
		ignore:     sp.Spec.FailurePolicy == nil || *sp.Spec.FailurePolicy != admissionregistrationv1.Fail,
		profiles:   sp.Spec.Profiles,
		generation: sp.Generation,
		spec:       sp.DeepCopy().Spec,
	}
}

func (p *Plugin) resourceSpecEqual(sp *pluginsv1alpha1.SchedulerPlugin) bool {
	a, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(&p.spec)
	b, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(&sp.Spec)
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func (p *Plugin) close(ctx context.Context) error { return p.mod.Close(ctx) }

// Name returns "wasm/<SchedulerPlugin name>".
func (p *Plugin) Name() string { return NamePrefix + p.name }

// Inputs converts node infos to what the module sees, filling only the
// field groups it asked for.
func Inputs(nodes []*framework.NodeInfo, fields uint32) []scheduling.NodeInput {
	return appendInputs(nil, nodes, fields)
}

// appendInputs is Inputs reusing dst's capacity (and that of its entries'
// Extended slices). dst must come from earlier calls with the same fields:
// groups not in fields are not reset.
func appendInputs(dst []scheduling.NodeInput, nodes []*framework.NodeInfo, fields uint32) []scheduling.NodeInput {
	if cap(dst) < len(nodes) {
		dst = append(dst[:cap(dst)], make([]scheduling.NodeInput, len(nodes)-cap(dst))...)
	}
	out := dst[:len(nodes)]
	for i, ni := range nodes {
		n := &out[i]
		node := ni.Node()
		// Field by field, not a struct literal: most fields stay zero, and
		// this runs for every node of every cycle.
		n.Name, n.Generation = node.Name, ni.Generation
		if fields&scheduling.FieldResources != 0 {
			n.Allocatable = scheduling.Resources{MilliCPU: ni.Allocatable.MilliCPU, Memory: ni.Allocatable.Memory, Pods: ni.Allocatable.AllowedPodNumber}
			n.Requested = scheduling.Resources{MilliCPU: ni.Requested.MilliCPU, Memory: ni.Requested.Memory, Pods: int64(len(ni.Pods))}
		}
		if len(n.Extended) > 0 {
			n.Extended = n.Extended[:0]
		}
		if fields&scheduling.FieldExtended != 0 && len(ni.Allocatable.Scalar) > 0 {
			for name, v := range ni.Allocatable.Scalar {
				n.Extended = append(n.Extended, scheduling.ExtendedResource{Name: string(name), Allocatable: v, Requested: ni.Requested.Scalar[name]})
			}
			slices.SortFunc(n.Extended, func(a, b scheduling.ExtendedResource) int {
				if a.Name < b.Name {
					return -1
				}
				if a.Name > b.Name {
					return 1
				}
				return 0
			})
		}
		if fields&scheduling.FieldLabels != 0 {
			n.Labels = node.Labels
		}
		if fields&scheduling.FieldTaints != 0 {
			n.Taints = node.Spec.Taints
		}
	}
	return out
}

// inputs returns pooled inputs for nodes; release gives them back.
func (p *Plugin) inputs(nodes []*framework.NodeInfo) (in []scheduling.NodeInput, release func()) {
	bp, _ := p.inputPool.Get().(*[]scheduling.NodeInput)
	if bp == nil {
		bp = new([]scheduling.NodeInput)
	}
	*bp = appendInputs((*bp)[:0], nodes, p.mod.Fields())
	// The entries keep pointing into the nodes of this cycle until the next
	// call overwrites them; clearing them would cost more than it frees.
	return *bp, func() { p.inputPool.Put(bp) }
}

func (p *Plugin) failed(err error) *framework.Status {
	if p.ignore {
		return framework.NewStatus(framework.Skip, err.Error())
	}
	return framework.AsStatus(err)
}

// FilterNodes runs the module's filter once over all nodes.
func (p *Plugin) FilterNodes(ctx context.Context, _ *framework.CycleState, pi *framework.PodInfo, nodes []*framework.NodeInfo) ([]*framework.Status, *framework.Status) {
	in, release := p.inputs(nodes)
	rp, _ := p.resultPool.Get().(*[]scheduling.FilterResult)
	if rp == nil {
		rp = new([]scheduling.FilterResult)
	}
	res := slices.Grow((*rp)[:0], len(nodes))[:len(nodes)]
	*rp = res
	defer p.resultPool.Put(rp)
	err := p.mod.FilterInto(ctx, pi.Pod, in, res)
	release()
	if err != nil {
		return nil, p.failed(err)
	}
	out := make([]*framework.Status, len(nodes))
	for i, r := range res {
		switch r.Code {
		case scheduling.Success:
		case scheduling.Unschedulable:
			out[i] = framework.NewStatus(framework.Unschedulable, reason(r.Reason, p.name))
		default:
			out[i] = framework.NewStatus(framework.UnschedulableAndUnresolvable, reason(r.Reason, p.name))
		}
	}
	return out, nil
}

func reason(r, name string) string {
	if r == "" {
		return "node(s) were rejected by plugin " + name
	}
	return r
}

// ScoreNodes runs the module's score once over all nodes.
func (p *Plugin) ScoreNodes(ctx context.Context, _ *framework.CycleState, pi *framework.PodInfo, nodes []*framework.NodeInfo, scores []int64) *framework.Status {
	if len(scores) < len(nodes) {
		return framework.AsStatus(fmt.Errorf("plugin %s: %d score slots for %d nodes", p.name, len(scores), len(nodes)))
	}
	in, release := p.inputs(nodes)
	err := p.mod.ScoreInto(ctx, pi.Pod, in, scores[:len(nodes)])
	release()
	if err != nil {
		return p.failed(err)
	}
	return nil
}
