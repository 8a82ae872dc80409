package framework

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/parallel"
)

// Upstream's adaptive percentageOfNodesToScore constants.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// WeightedScorePlugin is a score plugin (ScorePlugin or BatchScorePlugin) with its weight.
type WeightedScorePlugin struct {
	Plugin Plugin
	Weight int64
}

// Plugins lists a profile's plugins per extension point, in call order.
type Plugins struct {
	PreFilter  []PreFilterPlugin
	Filter     []FilterPlugin
	PostFilter []PostFilterPlugin
	PreScore   []PreScorePlugin
	Score      []WeightedScorePlugin
	Reserve    []ReservePlugin
	Bind       []BindPlugin
}

// Dynamic holds plugins registered at run time (Wasm), swapped atomically.
type Dynamic struct {
	Filter []BatchFilterPlugin
	Score  []WeightedScorePlugin
}

// Options configures a Framework.
type Options struct {
	// ProfileName is the schedulerName the profile serves.
	ProfileName string
	// Parallelism bounds the goroutines filtering/scoring nodes (default 16).
	Parallelism int
	// PercentageOfNodesToScore: 0 means adaptive (upstream's default);
	// 100 considers every node.
	PercentageOfNodesToScore int32
}

// Framework runs one profile.
type Framework struct {
	opts    Options
	plugins Plugins
	dynamic atomic.Pointer[Dynamic]

	// nextStart rotates the node where filtering starts so that sampling
	// does not always favour the same nodes. Only the scheduling goroutine
	// touches it.
	nextStart int
	// scratch holds per-cycle buffers reused by the next cycle, so that a
	// cycle allocates little; like nextStart it belongs to the scheduling
	// goroutine (Schedule is not safe for concurrent use).
	scratch scratch
}

// scratch is the reusable working memory of one Schedule call.
type scratch struct {
	filters  []FilterPlugin
	window   []*NodeInfo
	rejected []*Status
	feasible []*NodeInfo
	plugins  []WeightedScorePlugin
	perNode  []indexedScorer
	scores   [][]NodeScore
	raw      []int64
	totals   []int64
}

// New returns a framework running plugins.
func New(opts Options, plugins Plugins) *Framework {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 16
	}
	f := &Framework{opts: opts, plugins: plugins}
	f.dynamic.Store(&Dynamic{})
	return f
}

// ProfileName returns the schedulerName of the profile.
func (f *Framework) ProfileName() string { return f.opts.ProfileName }

// SetDynamic replaces the run-time registered plugins (hot reload).
func (f *Framework) SetDynamic(d *Dynamic) {
	if d == nil {
		d = &Dynamic{}
	}
	f.dynamic.Store(d)
}

// Dynamic returns the current run-time plugins.
func (f *Framework) Dynamic() *Dynamic { return f.dynamic.Load() }

// PluginNames lists the configured plugins per extension point (for logs and tests).
func (f *Framework) PluginNames() map[string][]string {
	out := map[string][]string{}
	for _, p := range f.plugins.PreFilter {
		out["preFilter"] = append(out["preFilter"], p.Name())
	}
	for _, p := range f.plugins.Filter {
		out["filter"] = append(out["filter"], p.Name())
	}
	for _, p := range f.plugins.PostFilter {
		out["postFilter"] = append(out["postFilter"], p.Name())
	}
	for _, p := range f.plugins.PreScore {
		out["preScore"] = append(out["preScore"], p.Name())
	}
	for _, p := range f.plugins.Score {
		out["score"] = append(out["score"], fmt.Sprintf("%s:%d", p.Plugin.Name(), p.Weight))
	}
	for _, p := range f.plugins.Reserve {
		out["reserve"] = append(out["reserve"], p.Name())
	}
	for _, p := range f.plugins.Bind {
		out["bind"] = append(out["bind"], p.Name())
	}
	return out
}

// ScheduleResult is the outcome of a successful Schedule.
type ScheduleResult struct {
	SuggestedHost  string
	EvaluatedNodes int
	FeasibleNodes  int
}

// NumFeasibleNodesToFind returns how many feasible nodes to look for among numAll.
func (f *Framework) NumFeasibleNodesToFind(numAll int) int {
	pct := f.opts.PercentageOfNodesToScore
	if numAll < minFeasibleNodesToFind || pct >= 100 {
		return numAll
	}
	adaptive := int(pct)
	if adaptive <= 0 {
		adaptive = 50 - numAll/125
		if adaptive < minFeasibleNodesPercentageToFind {
			adaptive = minFeasibleNodesPercentageToFind
		}
	}
	n := numAll * adaptive / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// Schedule picks a node for pod from snapshot. A *FitError means no node
// fits. Schedule reuses buffers across calls: it must not be called
// concurrently on one Framework (the scheduler runs one cycle at a time).
func (f *Framework) Schedule(ctx context.Context, state *CycleState, pi *PodInfo, snap *Snapshot) (ScheduleResult, error) {
	all := len(snap.NodeInfoList)
	if all == 0 {
		return ScheduleResult{}, &FitError{Pod: pi.Pod, NodeToStatus: map[string]*Status{}, PreFilterMsg: ErrNoNodesAvailable}
	}
	state.Write(SnapshotStateKey, snap)
	skip, st := f.RunPreFilter(ctx, state, pi, snap)
	if !st.IsSuccess() {
		if st.IsRejected() {
			fe := &FitError{Pod: pi.Pod, NumAllNodes: all, NodeToStatus: map[string]*Status{},
				UnschedulablePlugins: map[string]struct{}{st.Plugin(): {}}, PreFilterMsg: st.Message()}
			for _, ni := range snap.NodeInfoList {
				fe.NodeToStatus[ni.Name()] = st
			}
			return ScheduleResult{}, fe
		}
		return ScheduleResult{}, fmt.Errorf("prefilter %s: %w", st.Plugin(), st.AsError())
	}
	state.Write(skipFiltersKey, skip)
	feasible, statuses, err := f.findFeasible(ctx, state, pi, snap, skip)
	if err != nil {
		return ScheduleResult{}, err
	}
	if len(feasible) == 0 {
		fe := &FitError{Pod: pi.Pod, NumAllNodes: all, NodeToStatus: statuses, UnschedulablePlugins: map[string]struct{}{}}
		for _, s := range statuses {
			fe.UnschedulablePlugins[s.Plugin()] = struct{}{}
		}
		return ScheduleResult{}, fe
	}
	res := ScheduleResult{EvaluatedNodes: len(feasible) + len(statuses), FeasibleNodes: len(feasible)}
	if len(feasible) == 1 {
		res.SuggestedHost = feasible[0].Name()
		return res, nil
	}
	totals, err := f.score(ctx, state, pi, feasible)
	if err != nil {
		return ScheduleResult{}, err
	}
	res.SuggestedHost = selectHost(feasible, totals)
	return res, nil
}

const skipFiltersKey = "framework/skip-filters"

// RunPreFilter runs the PreFilter plugins; it returns the plugins whose
// Filter must be skipped.
func (f *Framework) RunPreFilter(ctx context.Context, state *CycleState, pi *PodInfo, snap *Snapshot) (map[string]bool, *Status) {
	skip := map[string]bool{}
	for _, p := range f.plugins.PreFilter {
		st := p.PreFilter(ctx, state, pi, snap)
		if st.IsSkip() {
			skip[p.Name()] = true
			continue
		}
		if !st.IsSuccess() {
			return nil, st.WithPlugin(p.Name())
		}
	}
	return skip, nil
}

// RunFilters runs every (per-node) Filter plugin on one node.
func (f *Framework) RunFilters(ctx context.Context, state *CycleState, pi *PodInfo, ni *NodeInfo) *Status {
	skip, _ := state.Read(skipFiltersKey).(map[string]bool)
	for _, p := range f.plugins.Filter {
		if skip[p.Name()] {
			continue
		}
		if st := p.Filter(ctx, state, pi, ni); !st.IsSuccess() {
			if !st.IsRejected() {
				st = AsStatus(fmt.Errorf("filter %s on node %s: %w", p.Name(), ni.Name(), st.AsError()))
			}
			return st.WithPlugin(p.Name())
		}
	}
	return nil
}

// RunBatchFilters runs the batch (Wasm) filters over nodes and returns the
// survivors; rejected nodes get a status in statuses.
func (f *Framework) RunBatchFilters(ctx context.Context, state *CycleState, pi *PodInfo, nodes []*NodeInfo, statuses map[string]*Status) ([]*NodeInfo, error) {
	for _, p := range f.dynamic.Load().Filter {
		if len(nodes) == 0 {
			break
		}
		res, st := p.FilterNodes(ctx, state, pi, nodes)
		if st.IsSkip() {
			continue
		}
		if !st.IsSuccess() {
			return nil, fmt.Errorf("filter plugin %s: %w", p.Name(), st.AsError())
		}
		if len(res) != len(nodes) {
			return nil, fmt.Errorf("filter plugin %s returned %d results for %d nodes", p.Name(), len(res), len(nodes))
		}
		kept := nodes[:0:0]
		for i, ni := range nodes {
			if res[i].IsSuccess() {
				kept = append(kept, ni)
				continue
			}
			s := res[i]
			if !s.IsRejected() {
				s = NewStatus(UnschedulableAndUnresolvable, s.Reasons()...)
			}
			statuses[ni.Name()] = s.WithPlugin(p.Name())
		}
		nodes = kept
	}
	return nodes, nil
}

func (f *Framework) findFeasible(ctx context.Context, state *CycleState, pi *PodInfo, snap *Snapshot, skip map[string]bool) ([]*NodeInfo, map[string]*Status, error) {
	nodes := snap.NodeInfoList
	n := len(nodes)
	want := f.NumFeasibleNodesToFind(n)
	sc := &f.scratch
	sc.filters = sc.filters[:0]
	for _, p := range f.plugins.Filter {
		if !skip[p.Name()] {
			sc.filters = append(sc.filters, p)
		}
	}
	statuses := map[string]*Status{}
	feasible := sc.feasible[:0]
	hasBatch := len(f.dynamic.Load().Filter) > 0
	start := f.nextStart % n
	examined := 0
	for examined < n && len(feasible) < want {
		// Examine nodes in windows until enough survive every filter
		// (one window when there are no batch filters).
		found, processed, err := f.filterWindow(ctx, state, pi, nodes, (start+examined)%n, n-examined, want-len(feasible), statuses)
		if err != nil {
			return nil, nil, err
		}
		examined += processed
		if hasBatch {
			found, err = f.RunBatchFilters(ctx, state, pi, found, statuses)
			if err != nil {
				return nil, nil, err
			}
		}
		feasible = append(feasible, found...)
	}
	sc.feasible = feasible
	f.nextStart = (start + examined) % n
	return feasible, statuses, nil
}

// filterWindow runs the cycle's per-node filters (f.scratch.filters) over
// up to count nodes from start, stopping after want feasible ones; rejected
// nodes get a status in statuses. It returns the feasible nodes (a scratch
// buffer, valid until the next call) and how many nodes it processed.
func (f *Framework) filterWindow(ctx context.Context, state *CycleState, pi *PodInfo, nodes []*NodeInfo, start, count, want int, statuses map[string]*Status) ([]*NodeInfo, int, error) {
	n := len(nodes)
	sc := &f.scratch
	filters := sc.filters
	if len(filters) == 0 {
		count = min(count, want)
		feasible := grow(sc.window, count)
		for i := 0; i < count; i++ {
			feasible[i] = nodes[(start+i)%n]
		}
		sc.window = feasible
		return feasible, count, nil
	}
	feasible := grow(sc.window, want)
	rejected := grow(sc.rejected, count)
	clear(rejected)
	sc.window, sc.rejected = feasible, rejected
	var found, failed atomic.Int32
	var firstErr error
	var errOnce sync.Once
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parallel.Until(wctx, count, f.opts.Parallelism, func(i int) {
		if int(found.Load()) >= want {
			return
		}
		ni := nodes[(start+i)%n]
		st := runFilters(wctx, filters, state, pi, ni)
		if st.IsSuccess() {
			k := found.Add(1)
			if int(k) > want {
				cancel()
				found.Add(-1)
				return
			}
			if int(k) == want {
				cancel()
			}
			feasible[k-1] = ni
			return
		}
		if st.Code() == Error {
			errOnce.Do(func() { firstErr = st.AsError() })
			cancel()
			return
		}
		failed.Add(1)
		rejected[i] = st
	})
	if firstErr != nil {
		return nil, 0, firstErr
	}
	nf := int(found.Load())
	processed := nf
	if failed.Load() > 0 {
		for i, st := range rejected {
			if st != nil {
				statuses[nodes[(start+i)%n].Name()] = st
				processed++
			}
		}
	}
	if nf < want && ctx.Err() == nil {
		// Not cancelled early: every node in the window was examined.
		processed = count
	}
	return feasible[:nf], processed, ctx.Err()
}

// runFilters runs filters on one node and returns the first failure.
func runFilters(ctx context.Context, filters []FilterPlugin, state *CycleState, pi *PodInfo, ni *NodeInfo) *Status {
	for _, p := range filters {
		if st := p.Filter(ctx, state, pi, ni); !st.IsSuccess() {
			if !st.IsRejected() {
				st = AsStatus(fmt.Errorf("filter %s on node %s: %w", p.Name(), ni.Name(), st.AsError()))
			}
			return st.WithPlugin(p.Name())
		}
	}
	return nil
}

// grow returns buf resliced to n elements, reallocating when it is too small.
func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n, n+n/4)
	}
	return buf[:n]
}

func (f *Framework) score(ctx context.Context, state *CycleState, pi *PodInfo, nodes []*NodeInfo) ([]int64, error) {
	sc := &f.scratch
	// Plugins whose PreScore says Skip have nothing to score this cycle:
	// they are left out, as upstream does (their normalized scores would
	// all be 0).
	var skipped map[string]bool
	for _, p := range f.plugins.PreScore {
		st := p.PreScore(ctx, state, pi, nodes)
		if st.IsSkip() {
			if skipped == nil {
				skipped = map[string]bool{}
			}
			skipped[p.Name()] = true
			continue
		}
		if !st.IsSuccess() {
			return nil, fmt.Errorf("prescore %s: %w", p.Name(), st.AsError())
		}
	}
	dyn := f.dynamic.Load()
	plugins := sc.plugins[:0]
	for _, p := range f.plugins.Score {
		if !skipped[p.Plugin.Name()] {
			plugins = append(plugins, p)
		}
	}
	plugins = append(plugins, dyn.Score...)
	sc.plugins = plugins
	if cap(sc.scores) < len(plugins) {
		sc.scores = make([][]NodeScore, len(plugins))
	}
	scores := sc.scores[:len(plugins)]
	perNode := sc.perNode[:0]
	for j, p := range plugins {
		scores[j] = grow(scores[j], len(nodes))
		if _, ok := p.Plugin.(ScoreNormalizer); ok {
			// Only a normalizer sees the NodeScores, names included.
			for i, ni := range nodes {
				scores[j][i] = NodeScore{Name: ni.Name()}
			}
		} else {
			clear(scores[j])
		}
		if sp, ok := p.Plugin.(ScorePlugin); ok {
			if _, batch := p.Plugin.(BatchScorePlugin); !batch {
				perNode = append(perNode, indexedScorer{j: j, p: sp})
			}
		}
	}
	sc.perNode = perNode
	// Per-node plugins run on parallel workers while the batch plugins
	// (Wasm: one call for all nodes) run on this goroutine, so a cycle
	// with a Wasm score plugin takes about the longer of the two instead
	// of their sum.
	var firstErr error
	var errOnce sync.Once
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var perNodeDone chan struct{}
	if len(perNode) > 0 {
		perNodeDone = make(chan struct{})
		go func() {
			defer close(perNodeDone)
			parallel.Until(wctx, len(nodes), f.opts.Parallelism, func(i int) {
				for _, s := range perNode {
					v, st := s.p.Score(wctx, state, pi, nodes[i])
					if !st.IsSuccess() {
						errOnce.Do(func() { firstErr = fmt.Errorf("score %s: %w", s.p.Name(), st.AsError()) })
						cancel()
						return
					}
					scores[s.j][i].Score = v
				}
			})
		}()
	}
	batchErr := f.scoreBatch(ctx, state, pi, nodes, plugins, scores)
	if batchErr != nil {
		cancel()
	}
	if perNodeDone != nil {
		<-perNodeDone
	}
	if batchErr != nil {
		return nil, batchErr
	}
	if firstErr != nil {
		return nil, firstErr
	}
	totals := grow(sc.totals, len(nodes))
	clear(totals)
	sc.totals = totals
	for j, p := range plugins {
		if n, ok := p.Plugin.(ScoreNormalizer); ok {
			if st := n.NormalizeScore(ctx, state, pi, scores[j]); !st.IsSuccess() {
				return nil, fmt.Errorf("normalize score %s: %w", p.Plugin.Name(), st.AsError())
			}
		}
		for i := range nodes {
			s := scores[j][i].Score
			if s < 0 || s > MaxNodeScore {
				return nil, fmt.Errorf("plugin %s returned score %d for node %s, outside [0, %d]", p.Plugin.Name(), s, nodes[i].Name(), MaxNodeScore)
			}
			totals[i] += s * p.Weight
		}
	}
	return totals, nil
}

// scoreBatch runs the batch score plugins among plugins, one call each
// for all nodes, into scores. A plugin that answers Skip (failure policy
// Ignore) gets weight 0 for this cycle.
func (f *Framework) scoreBatch(ctx context.Context, state *CycleState, pi *PodInfo, nodes []*NodeInfo, plugins []WeightedScorePlugin, scores [][]NodeScore) error {
	sc := &f.scratch
	for j, p := range plugins {
		bp, ok := p.Plugin.(BatchScorePlugin)
		if !ok {
			continue
		}
		raw := grow(sc.raw, len(nodes))
		clear(raw)
		sc.raw = raw
		st := bp.ScoreNodes(ctx, state, pi, nodes, raw)
		if st.IsSkip() {
			plugins[j].Weight = 0
			continue
		}
		if !st.IsSuccess() {
			return fmt.Errorf("score %s: %w", bp.Name(), st.AsError())
		}
		for i := range nodes {
			scores[j][i].Score = raw[i]
		}
	}
	return nil
}

// indexedScorer is a per-node score plugin and its index in the cycle's plugin list.
type indexedScorer struct {
	j int
	p ScorePlugin
}

// selectHost returns the highest-scoring node, breaking ties uniformly at random.
func selectHost(nodes []*NodeInfo, totals []int64) string {
	best, ties := 0, 1
	for i := 1; i < len(nodes); i++ {
		switch {
		case totals[i] > totals[best]:
			best, ties = i, 1
		case totals[i] == totals[best]:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best].Name()
}

// RunPostFilter runs PostFilter plugins until one nominates a node.
func (f *Framework) RunPostFilter(ctx context.Context, state *CycleState, pi *PodInfo, snap *Snapshot, statuses map[string]*Status) (*PostFilterResult, *Status) {
	var last *Status
	for _, p := range f.plugins.PostFilter {
		res, st := p.PostFilter(ctx, state, pi, snap, statuses)
		if st.IsSuccess() {
			return res, nil
		}
		if st.Code() == Error {
			return nil, st.WithPlugin(p.Name())
		}
		last = st.WithPlugin(p.Name())
	}
	if last == nil {
		last = NewStatus(Unschedulable, "no PostFilter plugin")
	}
	return nil, last
}

// HasPostFilter reports whether the profile has PostFilter plugins.
func (f *Framework) HasPostFilter() bool { return len(f.plugins.PostFilter) > 0 }

// RunReserve runs Reserve plugins; on failure it unreserves those that ran.
func (f *Framework) RunReserve(ctx context.Context, state *CycleState, pod *v1.Pod, node string) *Status {
	for i, p := range f.plugins.Reserve {
		if st := p.Reserve(ctx, state, pod, node); !st.IsSuccess() {
			for k := i; k >= 0; k-- {
				f.plugins.Reserve[k].Unreserve(ctx, state, pod, node)
			}
			return st.WithPlugin(p.Name())
		}
	}
	return nil
}

// RunUnreserve runs Unreserve plugins in reverse order.
func (f *Framework) RunUnreserve(ctx context.Context, state *CycleState, pod *v1.Pod, node string) {
	for i := len(f.plugins.Reserve) - 1; i >= 0; i-- {
		f.plugins.Reserve[i].Unreserve(ctx, state, pod, node)
	}
}

// RunBind runs Bind plugins until one does not Skip.
func (f *Framework) RunBind(ctx context.Context, state *CycleState, pod *v1.Pod, node string) *Status {
	for _, p := range f.plugins.Bind {
		st := p.Bind(ctx, state, pod, node)
		if st.IsSkip() {
			continue
		}
		return st.WithPlugin(p.Name())
	}
	return AsStatus(fmt.Errorf("no bind plugin bound pod %s/%s", pod.Namespace, pod.Name))
}
