// Package admission is skiff's Wasm admission chain. The apiserver keeps a
// Chain in sync with the AdmissionPolicy objects it watches (Sync) and
// calls Mutate before its built-in defaulting and validation and Validate
// after them, for every write request.
//
// Each policy names a content-addressed WasmModule ("sha256-<hex>") whose
// bytes the Options.Modules callback fetches; a module is compiled once and
// shared by every policy using it, and policies whose spec did not change
// keep their loaded state across Syncs (hot reload). A policy whose module
// or settings fail to load is reported by Status and, under failurePolicy
// Fail, rejects the requests it matches (500), so a broken policy never
// silently stops enforcing; under Ignore it is skipped.
//
// Matching follows admission webhook rules: operations, apiGroups,
// apiVersions, resources ("*", "*/*", "pods/status", "*/scale"), scope, plus
// namespaceSelector and objectSelector. Secrets are only seen by policies
// whose rules name "secrets" explicitly.
//
// Denials are *apierrors.StatusError shaped like webhook denials:
// `admission policy "x" denied the request: <message>` with the module's
// code (raised to 400 if lower; 400 if unset). A failing policy (timeout,
// trap, out of memory, guest error, bad patch) under Fail yields a 500
// InternalError `failed calling admission policy "x": …`.
//
// Audit mode allows the request, counts the would-be denial and calls
// Options.Audit; audit-mode mutating policies are evaluated but their
// patches are not applied. dryRun requests run every policy (verdicts and
// patches apply) but Audit is not called, so a dry run has no side effects
// beyond the in-memory metrics.
package admission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/host"
)

// Options configures a Chain.
type Options struct {
	// Logger receives load errors, policy logs and audit records.
	Logger *slog.Logger
	// Modules returns a WasmModule's bytes by name ("sha256-<hex>"); the
	// apiserver reads them from etcd. Required.
	Modules func(ctx context.Context, name string) ([]byte, error)
	// Audit is called for denials of Audit-mode policies (may be nil); the
	// apiserver records an Event. Not called for dry-run requests.
	Audit func(ctx context.Context, policy string, req *admissionv1.AdmissionRequest, message string)
	// Runtime runs the modules; nil creates one with default host.Options
	// (closed by Chain.Close).
	Runtime *host.Runtime
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.Modules == nil {
		return errors.New("admission: Options.Modules is required")
	}
	return nil
}

// Default and maximum per-call timeouts (AdmissionPolicySpec.TimeoutMilliseconds).
const (
	DefaultTimeout = 100 * time.Millisecond
	MaxTimeout     = 10 * time.Second
)

// Chain runs admission policies. It is safe for concurrent use: requests
// read an immutable snapshot that Sync swaps atomically.
type Chain struct {
	log     *slog.Logger
	opts    Options
	rt      *host.Runtime
	ownsRT  bool
	current atomic.Pointer[snapshot]

	syncMu  sync.Mutex // serializes Sync
	modules map[string]*moduleRef
	stats   map[string]*policyStats // by policy name; survives reloads
	statsMu sync.RWMutex
	bufs    bufPool // request payloads and results
}

type moduleRef struct {
	mod *host.Module
}

// snapshot is the immutable set of loaded policies.
type snapshot struct {
	mutating   []*policy
	validating []*policy
	byName     map[string]*policy
}

// policy is one loaded (or failed) AdmissionPolicy.
type policy struct {
	name        string
	fingerprint string
	spec        v1alpha1.AdmissionPolicySpec
	mod         *host.Module // nil when not ready
	settings    []byte
	ready       bool
	message     string
	match       *matcher
	timeout     time.Duration
	failOpen    bool
	audit       bool
	stats       *policyStats
}

// New creates an empty chain.
func New(opts Options) (*Chain, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Chain{log: log, opts: opts, rt: opts.Runtime, modules: map[string]*moduleRef{}, stats: map[string]*policyStats{}}
	if c.rt == nil {
		rt, err := host.New(context.Background(), host.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("admission: %w", err)
		}
		c.rt, c.ownsRT = rt, true
	}
	c.current.Store(&snapshot{byName: map[string]*policy{}})
	return c, nil
}

// Close unloads every policy (and the runtime if the chain created it).
func (c *Chain) Close(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.current.Store(&snapshot{byName: map[string]*policy{}})
	for name, m := range c.modules {
		m.mod.Close(ctx)
		delete(c.modules, name)
	}
	if c.ownsRT {
		return c.rt.Close(ctx)
	}
	return nil
}

func fingerprint(spec *v1alpha1.AdmissionPolicySpec) string {
	b, _ := json.Marshal(spec)
	return string(b)
}

// Sync installs the full desired set of policies: new and changed ones are
// loaded, removed ones unloaded, unchanged ones kept as they are. Load
// errors are reported per policy by Status. Modules that failed to load are
// retried on the next Sync.
func (c *Chain) Sync(ctx context.Context, policies []v1alpha1.AdmissionPolicy) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	old := c.current.Load()
	next := &snapshot{byName: map[string]*policy{}}
	wanted := map[string]bool{}
	for i := range policies {
		ap := &policies[i]
		fp := fingerprint(&ap.Spec)
		if p, ok := old.byName[ap.Name]; ok && p.fingerprint == fp && p.ready {
			next.byName[ap.Name] = p
		} else {
			next.byName[ap.Name] = c.load(ctx, ap.Name, fp, ap.Spec)
		}
		if p := next.byName[ap.Name]; p.mod != nil {
			wanted[p.spec.Module] = true
		}
	}
	names := make([]string, 0, len(next.byName))
	for n := range next.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := next.byName[n]
		if p.spec.Mutating {
			next.mutating = append(next.mutating, p)
		} else {
			next.validating = append(next.validating, p)
		}
	}
	c.current.Store(next)
	// Release modules no policy uses any more, once requests that took the
	// previous snapshot have had time to finish (calls are bounded by
	// MaxTimeout), so a policy update never fails a request in flight.
	for name, m := range c.modules {
		if !wanted[name] {
			mod := m.mod
			time.AfterFunc(MaxTimeout, func() { mod.Close(context.Background()) })
			delete(c.modules, name)
		}
	}
	c.statsMu.Lock()
	for n := range c.stats {
		if _, ok := next.byName[n]; !ok {
			delete(c.stats, n)
		}
	}
	c.statsMu.Unlock()
}

// load builds a policy; failures yield a not-ready policy with a message.
func (c *Chain) load(ctx context.Context, name, fp string, spec v1alpha1.AdmissionPolicySpec) *policy {
	p := &policy{name: name, fingerprint: fp, spec: spec, timeout: DefaultTimeout, stats: c.statsFor(name)}
	if spec.FailurePolicy != nil && *spec.FailurePolicy == admissionregistrationv1.Ignore {
		p.failOpen = true
	}
	p.audit = spec.Mode == v1alpha1.ModeAudit
	p.stats.setInfo(spec)
	err := func() error {
		if spec.Mode != "" && spec.Mode != v1alpha1.ModeEnforce && spec.Mode != v1alpha1.ModeAudit {
			return fmt.Errorf("mode %q is neither Enforce nor Audit", spec.Mode)
		}
		if spec.TimeoutMilliseconds != nil {
			t := time.Duration(*spec.TimeoutMilliseconds) * time.Millisecond
			if t <= 0 || t > MaxTimeout {
				return fmt.Errorf("timeoutMilliseconds %d is outside 1..%d", *spec.TimeoutMilliseconds, MaxTimeout.Milliseconds())
			}
			p.timeout = t
		}
		m, err := newMatcher(spec)
		if err != nil {
			return err
		}
		p.match = m
		if spec.Settings != nil && len(spec.Settings.Raw) > 0 {
			if !json.Valid(spec.Settings.Raw) {
				return errors.New("settings are not valid JSON")
			}
			p.settings = spec.Settings.Raw
		}
		mod, err := c.module(ctx, spec.Module)
		if err != nil {
			return err
		}
		entry := abi.ExportValidate
		if spec.Mutating {
			entry = abi.ExportMutate
		}
		if !mod.Has(entry) {
			return fmt.Errorf("module %s does not export %q (mutating: %v)", spec.Module, entry, spec.Mutating)
		}
		sctx, cancel := context.WithTimeout(ctx, max(p.timeout, time.Second))
		defer cancel()
		if err := host.CheckSettings(sctx, mod, p.settings); err != nil {
			return err
		}
		p.mod = mod
		return nil
	}()
	if err != nil {
		p.message = err.Error()
		c.log.Warn("admission policy not loaded", slog.String("policy", name), slog.String("error", p.message))
	} else {
		p.ready, p.message = true, "loaded"
		c.log.Info("admission policy loaded", slog.String("policy", name), slog.String("module", spec.Module))
	}
	p.stats.setReady(p.ready, p.message)
	return p
}

// module returns the loaded module for name, loading and verifying it.
func (c *Chain) module(ctx context.Context, name string) (*host.Module, error) {
	if m, ok := c.modules[name]; ok {
		return m.mod, nil
	}
	hexsum, ok := strings.CutPrefix(name, v1alpha1.ModuleNamePrefix)
	if !ok || len(hexsum) != 64 {
		return nil, fmt.Errorf("module %q is not a content address (%s<64 hex digits>)", name, v1alpha1.ModuleNamePrefix)
	}
	wasm, err := c.opts.Modules(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("fetch module %s: %w", name, err)
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != hexsum {
		return nil, fmt.Errorf("module %s: content has sha256 %s", name, got)
	}
	mod, err := c.rt.Load(ctx, name, wasm)
	if err != nil {
		return nil, err
	}
	c.modules[name] = &moduleRef{mod: mod}
	return mod, nil
}

// Status reports whether a policy is loaded, with a message (the load
// error when it is not). Unknown policies report false, "not found".
func (c *Chain) Status(name string) (ready bool, message string) {
	p, ok := c.current.Load().byName[name]
	if !ok {
		return false, "not found"
	}
	return p.ready, p.message
}
