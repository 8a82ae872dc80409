package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
)

const privilegedPod = `apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  containers:
  - name: app
    image: busybox
    securityContext:
      privileged: %s
`

// TestWasmAdmissionPolicy registers a hand-written WAT policy through the
// API with `skiff plugin push` and kubectl, then checks that kubectl
// creates are denied with the policy's message, allowed when fine, allowed
// and recorded as an Event in Audit mode, and allowed again once the policy
// is deleted — each change taking effect without a restart.
func TestWasmAdmissionPolicy(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (Debian wabt) not installed: make test installs it")
	}
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	dir := t.TempDir()
	module := filepath.Join(dir, "denyprivileged.wasm")
	root, err := testenv.WorkspaceRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(wat2wasm, filepath.Join(root, "plugins/examples/wat/denyprivileged.wat"), "-o", module).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, out)
	}
	skiff := testenv.SkiffBinary(t)
	push := func(args ...string) {
		t.Helper()
		cmd := exec.Command(skiff, append([]string{"plugin", "push", module, "--kubeconfig", env.Kubeconfig}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("skiff plugin push %v: %v\n%s", args, err, out)
		}
	}
	createPod := func(name, privileged string) (string, error) {
		f := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(f, []byte(strings.NewReplacer("%s", name).Replace(privilegedPod[:strings.LastIndex(privilegedPod, "%s")])+privileged+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return env.Kubectl(t, "create", "-f", f)
	}

	push("--policy", "no-privileged", "--resources", "pods")
	// Hot reload: the policy takes effect without a restart.
	start := time.Now()
	var out string
	err = testenv.Poll(30*time.Second, func() (bool, error) {
		out, err = createPod("probe", "true")
		return err != nil && strings.Contains(out, "privileged containers are not allowed"), nil
	})
	if err != nil {
		t.Fatalf("policy never denied a privileged pod: %s", out)
	}
	t.Logf("policy effective %s after registration", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, `admission policy "no-privileged" denied the request`) {
		t.Errorf("denial does not name the policy: %s", out)
	}
	if out, err := createPod("plain", "false"); err != nil {
		t.Fatalf("unprivileged pod refused: %v\n%s", err, out)
	}
	out, err = env.Kubectl(t, "get", "admissionpolicy", "no-privileged", "-o", "jsonpath={.status.conditions[0].type}={.status.conditions[0].status}")
	if err != nil || out != "Ready=True" {
		// the status writer runs every 500ms
		err = testenv.Poll(10*time.Second, func() (bool, error) {
			out, err = env.Kubectl(t, "get", "admissionpolicy", "no-privileged", "-o", "jsonpath={.status.conditions[0].type}={.status.conditions[0].status}")
			return err == nil && out == "Ready=True", nil
		})
		if err != nil {
			t.Errorf("policy status: %q", out)
		}
	}

	// Audit mode allows and records an Event.
	if out, err := env.Kubectl(t, "patch", "admissionpolicy", "no-privileged", "--type=merge", "-p", `{"spec":{"mode":"Audit"}}`); err != nil {
		t.Fatalf("patch: %v\n%s", err, out)
	}
	err = testenv.Poll(30*time.Second, func() (bool, error) {
		out, err = createPod("audited", "true")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("Audit mode still denies: %s", out)
	}
	err = testenv.Poll(15*time.Second, func() (bool, error) {
		evs, err := env.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=audited"})
		if err != nil {
			return false, nil
		}
		for _, e := range evs.Items {
			if e.Reason == "PolicyAudit" && strings.Contains(e.Message, "privileged containers are not allowed") {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("no PolicyAudit event for the audited pod: %v", err)
	}

	// The metrics endpoint reports the policy's decisions.
	resp, err := env.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil || !strings.Contains(string(resp), `skiff_admission_policy_calls_total{policy="no-privileged"`) {
		t.Errorf("/metrics: %v\n%s", err, resp)
	}

	// Deleting the policy removes it from the chain.
	if out, err := env.Kubectl(t, "delete", "admissionpolicy", "no-privileged"); err != nil {
		t.Fatalf("delete policy: %v\n%s", err, out)
	}
	if out, err := env.Kubectl(t, "patch", "admissionpolicy", "no-privileged", "--type=merge", "-p", `{"spec":{"mode":"Enforce"}}`); err == nil {
		t.Fatalf("patched a deleted policy: %s", out)
	}
	err = testenv.Poll(30*time.Second, func() (bool, error) {
		out, err = createPod("after", "true")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("deleted policy still applies: %s", out)
	}

}
