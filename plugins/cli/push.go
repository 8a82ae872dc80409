package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/api/plugins/v1alpha1"
)

type pushFlags struct {
	kubeconfig, server, description string
	policy, schedulerPlugin         string
	mutating                        bool
	mode, failurePolicy             string
	timeoutMS                       int
	settings                        string
	resources, operations           string
	namespaceSelector               string
	objectSelector                  string
	filter, score                   bool
	weight                          int
}

func runPush(ctx context.Context, args []string, stdio IO) error {
	var f pushFlags
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&f.server, "server", "", "API server URL (overrides the kubeconfig's)")
	fs.StringVar(&f.description, "description", "", "WasmModule description")
	fs.StringVar(&f.policy, "policy", "", "also create or update the AdmissionPolicy NAME using the module")
	fs.StringVar(&f.schedulerPlugin, "scheduler-plugin", "", "also create or update the SchedulerPlugin NAME using the module")
	fs.BoolVar(&f.mutating, "mutating", false, "policy: mutating (calls mutate)")
	fs.StringVar(&f.mode, "mode", "Enforce", "policy: Enforce or Audit")
	fs.StringVar(&f.failurePolicy, "failure-policy", "", "Fail or Ignore (default Fail for policies, Ignore for scheduler plugins)")
	fs.IntVar(&f.timeoutMS, "timeout-ms", 0, "per-call timeout in milliseconds (default 100)")
	fs.StringVar(&f.settings, "settings", "", "settings file (JSON or YAML)")
	fs.StringVar(&f.resources, "resources", "pods", "policy: comma-separated resources, resource.group for non-core groups (e.g. pods,deployments.apps,*)")
	fs.StringVar(&f.operations, "operations", "CREATE,UPDATE", "policy: comma-separated operations (CREATE, UPDATE, DELETE, CONNECT, *)")
	fs.StringVar(&f.namespaceSelector, "namespace-selector", "", "policy: namespace label selector (e.g. env=prod)")
	fs.StringVar(&f.objectSelector, "object-selector", "", "policy: object label selector")
	fs.BoolVar(&f.filter, "filter", false, "scheduler plugin: use as a filter")
	fs.BoolVar(&f.score, "score", false, "scheduler plugin: use as a score plugin")
	fs.IntVar(&f.weight, "weight", 1, "scheduler plugin: score weight")
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, "usage: skiff plugin push MODULE.wasm [--policy NAME | --scheduler-plugin NAME] [flags]")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args, stdio)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("expected exactly one MODULE.wasm")
	}
	wasm, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	if len(wasm) > v1alpha1.MaxModuleBytes {
		return fmt.Errorf("%s is %d bytes; the cluster accepts at most %d", pos[0], len(wasm), v1alpha1.MaxModuleBytes)
	}
	var settings []byte
	if f.settings != "" {
		if settings, err = readJSON(f.settings); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
	}
	var policy *v1alpha1.AdmissionPolicy
	var sp *v1alpha1.SchedulerPlugin
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	name := v1alpha1.ModuleNamePrefix + digest
	if f.policy != "" {
		if policy, err = buildPolicy(&f, name, settings); err != nil {
			return err
		}
	}
	if f.schedulerPlugin != "" {
		if sp, err = buildSchedulerPlugin(&f, name, settings); err != nil {
			return err
		}
	}
	rc, err := restClient(f.kubeconfig, f.server)
	if err != nil {
		return err
	}
	if err := uploadModule(ctx, rc, name, digest, wasm, f.description); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "wasmmodule/%s uploaded (%d bytes)\n", name, len(wasm))
	if policy != nil {
		verb, err := upsert(ctx, rc, v1alpha1.ResourceAdmissionPolicies, policy.Name, policy, func(rv string) { policy.ResourceVersion = rv })
		if err != nil {
			return fmt.Errorf("admissionpolicy %s: %w", policy.Name, err)
		}
		fmt.Fprintf(stdio.Out, "admissionpolicy/%s %s\n", policy.Name, verb)
	}
	if sp != nil {
		verb, err := upsert(ctx, rc, v1alpha1.ResourceSchedulerPlugins, sp.Name, sp, func(rv string) { sp.ResourceVersion = rv })
		if err != nil {
			return fmt.Errorf("schedulerplugin %s: %w", sp.Name, err)
		}
		fmt.Fprintf(stdio.Out, "schedulerplugin/%s %s\n", sp.Name, verb)
	}
	return nil
}

func restClient(kubeconfig, server string) (rest.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{}
	if server != "" {
		overrides.ClusterInfo.Server = server
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return cs.Discovery().RESTClient(), nil
}

func basePath(resource string) string {
	return "/apis/" + v1alpha1.GroupName + "/" + v1alpha1.Version + "/" + resource
}

func uploadModule(ctx context.Context, rc rest.Interface, name, digest string, wasm []byte, description string) error {
	mod := v1alpha1.WasmModule{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: "WasmModule"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.WasmModuleSpec{SHA256: digest, Size: int64(len(wasm)), Description: description},
	}
	body, _ := json.Marshal(mod)
	err := rc.Post().AbsPath(basePath(v1alpha1.ResourceWasmModules)).SetHeader("Content-Type", "application/json").
		Body(body).Do(ctx).Error()
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create wasmmodule %s: %w", name, err)
	}
	err = rc.Put().AbsPath(basePath(v1alpha1.ResourceWasmModules), name, v1alpha1.SubresourceContent).
		SetHeader("Content-Type", "application/wasm").Body(wasm).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("upload content of wasmmodule %s: %w", name, err)
	}
	return nil
}

// upsert creates the object or replaces the existing one, retrying when
// someone else (e.g. a status writer) changed it in between.
func upsert(ctx context.Context, rc rest.Interface, resource, name string, obj any, setRV func(string)) (string, error) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var verb string
		verb, err = upsertOnce(ctx, rc, resource, name, obj, setRV)
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return verb, err
		}
	}
	return "", err
}

func upsertOnce(ctx context.Context, rc rest.Interface, resource, name string, obj any, setRV func(string)) (string, error) {
	var existing metav1.PartialObjectMetadata
	raw, err := rc.Get().AbsPath(basePath(resource), name).Do(ctx).Raw()
	switch {
	case apierrors.IsNotFound(err):
		setRV("")
		body, _ := json.Marshal(obj)
		if err := rc.Post().AbsPath(basePath(resource)).SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error(); err != nil {
			return "", err
		}
		return "created", nil
	case err != nil:
		return "", err
	}
	if err := json.Unmarshal(raw, &existing); err != nil {
		return "", fmt.Errorf("decode existing object: %w", err)
	}
	setRV(existing.ResourceVersion)
	body, _ := json.Marshal(obj)
	if err := rc.Put().AbsPath(basePath(resource), name).SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error(); err != nil {
		return "", err
	}
	return "configured", nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func failurePolicy(s string) (*admissionregistrationv1.FailurePolicyType, error) {
	if s == "" {
		return nil, nil
	}
	fp := admissionregistrationv1.FailurePolicyType(s)
	if fp != admissionregistrationv1.Fail && fp != admissionregistrationv1.Ignore {
		return nil, fmt.Errorf("--failure-policy must be Fail or Ignore, not %q", s)
	}
	return &fp, nil
}

func buildPolicy(f *pushFlags, module string, settings []byte) (*v1alpha1.AdmissionPolicy, error) {
	p := &v1alpha1.AdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: "AdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: f.policy},
		Spec:       v1alpha1.AdmissionPolicySpec{Module: module, Mutating: f.mutating, Mode: v1alpha1.PolicyMode(f.mode)},
	}
	if p.Spec.Mode != v1alpha1.ModeEnforce && p.Spec.Mode != v1alpha1.ModeAudit {
		return nil, fmt.Errorf("--mode must be Enforce or Audit, not %q", f.mode)
	}
	var err error
	if p.Spec.FailurePolicy, err = failurePolicy(f.failurePolicy); err != nil {
		return nil, err
	}
	if f.timeoutMS > 0 {
		ms := int32(f.timeoutMS)
		p.Spec.TimeoutMilliseconds = &ms
	}
	if len(settings) > 0 {
		p.Spec.Settings = &runtime.RawExtension{Raw: settings}
	}
	ops := splitList(f.operations)
	if len(ops) == 0 {
		return nil, errors.New("--operations must not be empty")
	}
	rule := admissionregistrationv1.RuleWithOperations{Rule: admissionregistrationv1.Rule{APIVersions: []string{"*"}}}
	for _, o := range ops {
		op := admissionregistrationv1.OperationType(strings.ToUpper(o))
		switch op {
		case admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete,
			admissionregistrationv1.Connect, admissionregistrationv1.OperationAll:
		default:
			return nil, fmt.Errorf("--operations: unknown operation %q", o)
		}
		rule.Operations = append(rule.Operations, op)
	}
	// One rule per API group, as webhook rules pair groups and resources.
	byGroup := map[string][]string{}
	var groups []string
	for _, r := range splitList(f.resources) {
		res, group, _ := strings.Cut(r, ".")
		if res == "*" && group == "" {
			group = "*"
		}
		if _, ok := byGroup[group]; !ok {
			groups = append(groups, group)
		}
		byGroup[group] = append(byGroup[group], res)
	}
	if len(groups) == 0 {
		return nil, errors.New("--resources must not be empty")
	}
	for _, g := range groups {
		r := rule
		r.APIGroups = []string{g}
		r.Resources = byGroup[g]
		p.Spec.Rules = append(p.Spec.Rules, r)
	}
	if f.namespaceSelector != "" {
		if p.Spec.NamespaceSelector, err = metav1.ParseToLabelSelector(f.namespaceSelector); err != nil {
			return nil, fmt.Errorf("--namespace-selector: %w", err)
		}
	}
	if f.objectSelector != "" {
		if p.Spec.ObjectSelector, err = metav1.ParseToLabelSelector(f.objectSelector); err != nil {
			return nil, fmt.Errorf("--object-selector: %w", err)
		}
	}
	return p, nil
}

func buildSchedulerPlugin(f *pushFlags, module string, settings []byte) (*v1alpha1.SchedulerPlugin, error) {
	if !f.filter && !f.score {
		return nil, errors.New("--scheduler-plugin needs --filter and/or --score")
	}
	sp := &v1alpha1.SchedulerPlugin{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: "SchedulerPlugin"},
		ObjectMeta: metav1.ObjectMeta{Name: f.schedulerPlugin},
		Spec:       v1alpha1.SchedulerPluginSpec{Module: module, Filter: f.filter, Score: f.score, Weight: int32(f.weight)},
	}
	var err error
	if sp.Spec.FailurePolicy, err = failurePolicy(f.failurePolicy); err != nil {
		return nil, err
	}
	if f.timeoutMS > 0 {
		ms := int32(f.timeoutMS)
		sp.Spec.TimeoutMilliseconds = &ms
	}
	if len(settings) > 0 {
		sp.Spec.Settings = &runtime.RawExtension{Raw: settings}
	}
	return sp, nil
}
