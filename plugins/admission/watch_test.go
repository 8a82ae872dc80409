package admission_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"skiff.dev/api/testenv"
	"skiff.dev/plugins/admission"
	"skiff.dev/plugins/cli"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/internal/wasmtest"
)

func kubectl(t *testing.T, kubeconfig, stdin string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		ok, msg := cond()
		if ok {
			return time.Since(start)
		}
		last = msg
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %s)", what, timeout, last)
	return 0
}

const policyYAML = `apiVersion: plugins.skiff.dev/v1alpha1
kind: AdmissionPolicy
metadata:
  name: team-labels
spec:
  module: MODULE
  rules:
  - operations: ["CREATE", "UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
  timeoutMilliseconds: 10000
  settings:
    labels: LABELS
`

// TestWatchHotReload registers policies with kubectl against a real
// apiserver and checks that a chain fed by Watch follows every change.
func TestWatchHotReload(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed")
	}
	env := testenv.StartAPIServer(t, testenv.Options{})
	wasm := wasmtest.Go(t, "examples/requiredlabels")
	name := wasmtest.Name(wasm)
	modFile := filepath.Join(t.TempDir(), "rl.wasm")
	if err := os.WriteFile(modFile, wasm, 0o644); err != nil {
		t.Fatal(err)
	}

	modules, err := admission.ModulesFromAPI(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := admission.New(admission.Options{Runtime: wasmtest.Runtime(t, host.Options{}), Modules: modules})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admission.Watch(ctx, chain, env.Config) }()
	t.Cleanup(func() {
		cancel()
		<-done
		chain.Close(context.Background())
	})

	apply := func(labels string) {
		y := strings.ReplaceAll(strings.ReplaceAll(policyYAML, "MODULE", name), "LABELS", labels)
		kubectl(t, env.Kubeconfig, y, "apply", "-f", "-")
	}
	verdict := func(labels map[string]string) (bool, string) {
		_, err := chain.Validate(context.Background(), podRequest("p", "default", labels, false, false))
		if err != nil {
			return false, err.Error()
		}
		return true, "allowed"
	}

	// 1. The policy comes first, its module's bytes later: not ready until the upload.
	apply(`["team"]`)
	eventually(t, "policy reported not ready", 10*time.Second, func() (bool, string) {
		ok, msg := chain.Status("team-labels")
		return !ok && strings.Contains(msg, "fetch module "+name), msg
	})
	var out bytes.Buffer
	if err := cli.Run(context.Background(), []string{"push", modFile, "--kubeconfig", env.Kubeconfig}, cli.IO{Out: &out, Err: &out}); err != nil {
		t.Fatalf("push: %v\n%s", err, out.String())
	}
	took := eventually(t, "policy ready after upload", 30*time.Second, func() (bool, string) { return chain.Status("team-labels") })
	t.Logf("ready %v after the upload (includes compiling a %d-byte module)", took, len(wasm))
	if ok, msg := verdict(nil); ok || !strings.Contains(msg, `admission policy "team-labels" denied the request: missing required labels: team`) {
		t.Fatalf("unlabelled pod: %v %s", ok, msg)
	}

	// 2. Update: takes effect without a restart.
	apply(`["team", "owner"]`)
	took = eventually(t, "updated settings applied", 10*time.Second, func() (bool, string) {
		ok, msg := verdict(map[string]string{"team": "a"})
		return !ok && strings.Contains(msg, "owner"), msg
	})
	t.Logf("update applied in %v", took)
	if took > time.Second {
		t.Logf("warning: update took more than a second (%v) on this machine", took)
	}

	// 3. Delete: the policy stops applying.
	kubectl(t, env.Kubeconfig, "", "delete", "admissionpolicy", "team-labels")
	took = eventually(t, "deleted policy gone", 10*time.Second, func() (bool, string) { return verdict(nil) })
	t.Logf("delete applied in %v", took)
}
