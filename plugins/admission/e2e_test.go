package admission_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"skiff.dev/api/testenv"
	"skiff.dev/plugins/cli"
	"skiff.dev/plugins/internal/wasmtest"
)

// kubectlTry runs kubectl and returns its combined output and error.
func kubectlTry(kubeconfig, stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func podYAML(name, ns string, labels string, privileged bool) string {
	sc := ""
	if privileged {
		sc = "\n    securityContext: {privileged: true}"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {%s}
spec:
  containers:
  - name: app
    image: busybox%s
`, name, ns, labels, sc)
}

// e2ePolicy is an AdmissionPolicy for pods in namespaces labelled scenario=<scenario>.
func e2ePolicy(name, module, scenario, extra string) string {
	return fmt.Sprintf(`apiVersion: plugins.skiff.dev/v1alpha1
kind: AdmissionPolicy
metadata:
  name: %s
spec:
  module: %s
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
  namespaceSelector:
    matchLabels: {scenario: %s}
%s`, name, module, scenario, extra)
}

// TestEndToEnd registers real modules (Go, WAT, AssemblyScript, built in
// this run) with `skiff plugin push` and kubectl against a real `skiff
// apiserver`, and drives kubectl creates through them.
func TestEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed")
	}
	env := testenv.StartAPIServer(t, testenv.Options{})
	kc := env.Kubeconfig
	dir := t.TempDir()
	push := func(name string, wasm []byte) string {
		t.Helper()
		path := filepath.Join(dir, name+".wasm")
		if err := os.WriteFile(path, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := cli.Run(context.Background(), []string{"push", path, "--kubeconfig", kc}, cli.IO{Out: &out, Err: &out}); err != nil {
			t.Fatalf("push %s: %v\n%s", name, err, out.String())
		}
		return wasmtest.Name(wasm)
	}
	mods := map[string]string{
		"labels":    push("labels", wasmtest.Go(t, "examples/requiredlabels")),
		"defaults":  push("defaults", wasmtest.Go(t, "examples/defaultresources")),
		"misbehave": push("misbehave", wasmtest.Go(t, "host/testdata/gomisbehave")),
		"wat":       push("wat", wasmtest.WAT(t, "../examples/wat/denyprivileged.wat")),
		"loop":      push("loop", wasmtest.WAT(t, "testdata/loop.wat")),
		"trap":      push("trap", wasmtest.WAT(t, "testdata/trap.wat")),
		"corrupt":   push("corrupt", []byte("\x00asm\x01\x00\x00\x00\x01\xff not a module")),
	}
	asWasm := wasmtest.AssemblyScript(t, "../examples/assemblyscript/denydefault.ts")
	mods["as"] = push("as", asWasm)

	scenarios := []string{"labels", "defaults", "wat", "audit", "loop-fail", "loop-ignore", "trap", "oom", "corrupt", "badsettings", "reload"}
	for _, s := range scenarios {
		if out, err := kubectlTry(kc, "", "create", "namespace", "s-"+s); err != nil {
			t.Fatalf("create namespace: %v\n%s", err, out)
		}
		if out, err := kubectlTry(kc, "", "label", "namespace", "s-"+s, "scenario="+s); err != nil {
			t.Fatalf("label namespace: %v\n%s", err, out)
		}
	}
	// The AssemblyScript policy denies objects in the "default" namespace.
	if out, err := kubectlTry(kc, "", "label", "namespace", "default", "scenario=as"); err != nil {
		t.Fatalf("label namespace default: %v\n%s", err, out)
	}
	policies := strings.Join([]string{
		e2ePolicy("labels", mods["labels"], "labels", "  timeoutMilliseconds: 10000\n  settings: {labels: [team]}\n"),
		e2ePolicy("defaults", mods["defaults"], "defaults", "  mutating: true\n  timeoutMilliseconds: 10000\n  settings: {cpu: 100m, memory: 64Mi}\n"),
		e2ePolicy("privileged", mods["wat"], "wat", "  timeoutMilliseconds: 10000\n"),
		e2ePolicy("audit-labels", mods["labels"], "audit", "  mode: Audit\n  timeoutMilliseconds: 10000\n  settings: {labels: [team]}\n"),
		e2ePolicy("as-default-ns", mods["as"], "as", "  timeoutMilliseconds: 10000\n"),
		e2ePolicy("loop-fail", mods["loop"], "loop-fail", "  timeoutMilliseconds: 50\n  failurePolicy: Fail\n"),
		e2ePolicy("loop-ignore", mods["loop"], "loop-ignore", "  timeoutMilliseconds: 50\n  failurePolicy: Ignore\n"),
		e2ePolicy("trap", mods["trap"], "trap", "  timeoutMilliseconds: 10000\n"),
		e2ePolicy("oom", mods["misbehave"], "oom", "  timeoutMilliseconds: 10000\n"),
		e2ePolicy("corrupt", mods["corrupt"], "corrupt", ""),
		e2ePolicy("badsettings", mods["labels"], "badsettings", "  settings: {labels: []}\n"),
	}, "---\n")
	if out, err := kubectlTry(kc, policies, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply policies: %v\n%s", err, out)
	}
	if out, err := kubectlTry(kc, "", "get", "admissionpolicies"); err != nil || !strings.Contains(out, "badsettings") {
		t.Fatalf("kubectl get admissionpolicies: %v\n%s", err, out)
	}
	// Wait for every policy to report its load state in status.
	for _, p := range []string{"labels", "defaults", "privileged", "audit-labels", "as-default-ns", "loop-fail", "loop-ignore", "trap", "oom", "corrupt", "badsettings"} {
		want := "True"
		if p == "corrupt" || p == "badsettings" {
			want = "False"
		}
		eventually(t, "policy "+p+" Ready="+want, 60*time.Second, func() (bool, string) {
			out, _ := kubectlTry(kc, "", "get", "admissionpolicy", p, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
			return strings.TrimSpace(out) == want, out
		})
	}
	msg, _ := kubectlTry(kc, "", "get", "admissionpolicy", "badsettings", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
	if !strings.Contains(msg, "invalid settings") || !strings.Contains(msg, "at least one required label") {
		t.Fatalf("badsettings status message: %q", msg)
	}

	tests := []struct {
		name    string
		pod     string
		dryRun  bool
		wantErr string // substring of kubectl's output on failure; "" = created
	}{
		{"allowed", podYAML("ok", "s-labels", "team: a", false), false, ""},
		{"denied with the policy's message", podYAML("nolabel", "s-labels", "", false), false,
			`admission policy "labels" denied the request: missing required labels: team`},
		{"dry run denied too", podYAML("nolabel", "s-labels", "", false), true, `missing required labels: team`},
		{"WAT guest denies privileged (403)", podYAML("priv", "s-wat", "", true), false,
			`admission policy "privileged" denied the request: privileged containers are not allowed`},
		{"WAT guest allows others", podYAML("plain", "s-wat", "", false), false, ""},
		{"audit mode allows", podYAML("audited", "s-audit", "", false), false, ""},
		{"AssemblyScript guest denies the default namespace", podYAML("x", "default", "", false), false,
			`admission policy "as-default-ns" denied the request: objects may not be created in the default namespace`},
		{"looping module, failurePolicy Fail", podYAML("l", "s-loop-fail", "", false), false, "timed out"},
		{"looping module, failurePolicy Ignore", podYAML("l", "s-loop-ignore", "", false), false, ""},
		{"trapping module", podYAML("t", "s-trap", "", false), false, "trapped"},
		{"module out of memory", podYAML("oom", "s-oom", "", false), false, "out of memory"},
		{"corrupt module", podYAML("c", "s-corrupt", "", false), false, "compile module"},
		{"bad settings", podYAML("b", "s-badsettings", "", false), false, "invalid settings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"create", "-f", "-"}
			if tc.dryRun {
				args = append(args, "--dry-run=server")
			}
			out, err := kubectlTry(kc, tc.pod, args...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("create failed: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(out, tc.wantErr) {
				t.Fatalf("create: err=%v, output %q; want an error containing %q", err, out, tc.wantErr)
			}
		})
	}

	t.Run("mutating policy sets requests", func(t *testing.T) {
		out, err := kubectlTry(kc, podYAML("m", "s-defaults", "", false), "create", "-f", "-")
		if err != nil {
			t.Fatalf("create: %v\n%s", err, out)
		}
		if !strings.Contains(out, "default resource requests added") {
			t.Errorf("kubectl did not print the policy's warning:\n%s", out)
		}
		got, err := kubectlTry(kc, "", "get", "pod", "m", "-n", "s-defaults", "-o", "jsonpath={.spec.containers[0].resources.requests}")
		if err != nil || !strings.Contains(got, `"cpu":"100m"`) || !strings.Contains(got, `"memory":"64Mi"`) {
			t.Fatalf("stored requests: %v %s", err, got)
		}
	})

	t.Run("audit mode records an Event", func(t *testing.T) {
		eventually(t, "PolicyAudit event", 30*time.Second, func() (bool, string) {
			out, _ := kubectlTry(kc, "", "get", "events", "-A", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
			return strings.Contains(out, `PolicyAudit: admission policy "audit-labels" would deny CREATE: missing required labels: team`), out
		})
	})

	t.Run("the apiserver is fine after all that", func(t *testing.T) {
		if out, err := kubectlTry(kc, "", "get", "--raw", "/readyz"); err != nil {
			t.Fatalf("readyz: %v %s", err, out)
		}
	})

	t.Run("hot reload", func(t *testing.T) {
		pod := podYAML("r", "s-reload", "", false)
		if out, err := kubectlTry(kc, pod, "create", "--dry-run=server", "-f", "-"); err != nil {
			t.Fatalf("before: %v\n%s", err, out)
		}
		start := time.Now()
		if out, err := kubectlTry(kc, e2ePolicy("reload", mods["labels"], "reload", "  timeoutMilliseconds: 10000\n  settings: {labels: [owner]}\n"), "apply", "-f", "-"); err != nil {
			t.Fatalf("apply: %v\n%s", err, out)
		}
		took := eventually(t, "new policy enforced", 30*time.Second, func() (bool, string) {
			out, err := kubectlTry(kc, pod, "create", "--dry-run=server", "-f", "-")
			return err != nil && strings.Contains(out, "owner"), out
		})
		t.Logf("policy enforced %v after kubectl apply returned (%v including apply)", took, time.Since(start))
		if out, err := kubectlTry(kc, "", "delete", "admissionpolicy", "reload"); err != nil {
			t.Fatalf("delete: %v\n%s", err, out)
		}
		took = eventually(t, "deleted policy gone", 30*time.Second, func() (bool, string) {
			out, err := kubectlTry(kc, pod, "create", "--dry-run=server", "-f", "-")
			return err == nil, out
		})
		t.Logf("deletion effective %v after kubectl delete returned", took)
	})

	t.Run("metrics and stats", func(t *testing.T) {
		out, err := kubectlTry(kc, "", "get", "--raw", "/plugins/admission/stats")
		if err != nil || !strings.Contains(out, `"name":"labels"`) || !strings.Contains(out, "missing required labels") {
			t.Fatalf("stats: %v\n%s", err, out)
		}
		out, err = kubectlTry(kc, "", "get", "--raw", "/metrics")
		for _, want := range []string{
			`skiff_admission_policy_decisions_total{policy="labels",mode="Enforce",decision="denied"}`,
			`skiff_admission_policy_decisions_total{policy="audit-labels",mode="Audit",decision="audit_denied"} 1`,
			`skiff_admission_policy_ready{policy="corrupt",mode="Enforce"} 0`,
		} {
			if err != nil || !strings.Contains(out, want) {
				t.Errorf("metrics lack %q (%v)", want, err)
			}
		}
	})
}
