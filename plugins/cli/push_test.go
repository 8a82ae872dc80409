package cli_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/api/testenv"
	"skiff.dev/plugins/internal/wasmtest"
)

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestPush uploads a Go-built module (several MiB) and registers policies
// and a scheduler plugin against a real apiserver, then reads them back
// with kubectl.
func TestPush(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed")
	}
	env := testenv.StartAPIServer(t, testenv.Options{})
	wasm := wasmtest.Go(t, "examples/requiredlabels")
	mod := writeFile(t, "rl.wasm", wasm)
	settings := writeFile(t, "s.yaml", []byte("labels: [team]\n"))
	name := wasmtest.Name(wasm)

	out, _, err := run(t, "push", mod, "--kubeconfig", env.Kubeconfig, "--policy", "team-labels",
		"--resources", "pods,deployments.apps", "--settings", settings, "--mode", "Audit", "--failure-policy", "Ignore", "--timeout-ms", "250")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if !strings.Contains(out, "wasmmodule/"+name+" uploaded") || !strings.Contains(out, "admissionpolicy/team-labels created") {
		t.Fatalf("push output:\n%s", out)
	}
	// Pushing again is idempotent and updates the policy.
	out, _, err = run(t, "push", mod, "--kubeconfig", env.Kubeconfig, "--policy", "team-labels", "--settings", settings)
	if err != nil || !strings.Contains(out, "admissionpolicy/team-labels configured") {
		t.Fatalf("second push: %v\n%s", err, out)
	}

	got, err := kubectl(t, env.Kubeconfig, "get", "wasmmodule", name, "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get wasmmodule: %v\n%s", err, got)
	}
	var wm v1alpha1.WasmModule
	if err := json.Unmarshal([]byte(got), &wm); err != nil {
		t.Fatal(err)
	}
	if wm.Spec.Size != int64(len(wasm)) || "sha256-"+wm.Spec.SHA256 != name {
		t.Fatalf("wasmmodule spec = %+v", wm.Spec)
	}
	content, err := kubectl(t, env.Kubeconfig, "get", "--raw", "/apis/plugins.skiff.dev/v1alpha1/wasmmodules/"+name+"/content")
	if err != nil || content != string(wasm) {
		t.Fatalf("content round trip: %v (got %d bytes, want %d)", err, len(content), len(wasm))
	}

	got, err = kubectl(t, env.Kubeconfig, "get", "admissionpolicy", "team-labels", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get admissionpolicy: %v\n%s", err, got)
	}
	var ap v1alpha1.AdmissionPolicy
	if err := json.Unmarshal([]byte(got), &ap); err != nil {
		t.Fatal(err)
	}
	var gotSettings struct{ Labels []string }
	if ap.Spec.Settings != nil {
		json.Unmarshal(ap.Spec.Settings.Raw, &gotSettings)
	}
	if ap.Spec.Module != name || len(gotSettings.Labels) != 1 || gotSettings.Labels[0] != "team" || len(ap.Spec.Rules) != 1 ||
		ap.Spec.Rules[0].Resources[0] != "pods" || ap.Spec.Rules[0].APIGroups[0] != "" {
		t.Fatalf("admissionpolicy spec = %+v", ap.Spec)
	}

	bp := writeFile(t, "bp.wasm", wasmtest.Go(t, "examples/binpack"))
	out, _, err = run(t, "push", bp, "--kubeconfig", env.Kubeconfig, "--scheduler-plugin", "binpack", "--score", "--weight", "2")
	if err != nil || !strings.Contains(out, "schedulerplugin/binpack created") {
		t.Fatalf("push scheduler plugin: %v\n%s", err, out)
	}
	if got, err := kubectl(t, env.Kubeconfig, "get", "schedulerplugins"); err != nil || !strings.Contains(got, "binpack") {
		t.Fatalf("kubectl get schedulerplugins: %v\n%s", err, got)
	}

	// Bad input is reported on one line, before anything is sent.
	if _, _, err := run(t, "push", mod, "--kubeconfig", env.Kubeconfig, "--policy", "x", "--mode", "Loud"); err == nil ||
		!strings.Contains(err.Error(), "--mode must be Enforce or Audit") {
		t.Fatalf("bad mode: %v", err)
	}
	if _, _, err := run(t, "push", mod, "--kubeconfig", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing kubeconfig accepted")
	}
}
