package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"skiff.dev/api/testenv"
)

// TestKubectl drives the server with the installed kubectl: discovery,
// client-side apply (create and update), get/describe in every output
// format, scale, label, annotate, the three patch types, watch and delete.
func TestKubectl(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed: skipping the tests that drive the real kubectl binary")
	}
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	steps := []struct {
		name    string
		args    []string
		want    []string // substrings of the output
		wantErr bool
	}{
		{"api-resources", []string{"api-resources"}, []string{"deployments", "deploy", "apps/v1", "wasmmodules", "plugins.skiff.dev/v1alpha1", "Namespace"}, false},
		{"api-versions", []string{"api-versions"}, []string{"apps/v1", "batch/v1", "coordination.k8s.io/v1"}, false},
		{"version", []string{"version"}, []string{"Server Version: v1.37"}, false},
		{"apply create", []string{"apply", "-f", "testdata/app.yaml"}, []string{"namespace/shop created", "deployment.apps/web created", "service/web created", "configmap/settings created"}, false},
		{"get", []string{"get", "-n", "shop", "deploy,svc,cm"}, []string{"deployment.apps/web", "0/2", "service/web", "ClusterIP", "80/TCP", "configmap/settings"}, false},
		{"apply update", []string{"apply", "-f", "testdata/app-v2.yaml"}, []string{"deployment.apps/web configured", "service/web unchanged", "configmap/settings configured"}, false},
		{"applied spec", []string{"get", "-n", "shop", "deploy/web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].env[*].name} {.metadata.generation}"}, []string{"3 B 2"}, false},
		{"scale", []string{"scale", "-n", "shop", "deploy/web", "--replicas=5"}, []string{"deployment.apps/web scaled"}, false},
		{"scaled", []string{"get", "-n", "shop", "deploy/web", "-o", "jsonpath={.spec.replicas}"}, []string{"5"}, false},
		{"label", []string{"label", "-n", "shop", "cm/settings", "tier=backend"}, []string{"configmap/settings labeled"}, false},
		{"annotate", []string{"annotate", "-n", "shop", "cm/settings", "owner=team-a"}, []string{"configmap/settings annotated"}, false},
		{"label selector", []string{"get", "-n", "shop", "cm", "-l", "tier in (backend,frontend)", "-o", "name"}, []string{"configmap/settings"}, false},
		{"json patch", []string{"patch", "-n", "shop", "cm/settings", "--type=json", "-p", `[{"op":"add","path":"/data/size","value":"L"}]`}, []string{"patched"}, false},
		{"merge patch", []string{"patch", "-n", "shop", "cm/settings", "--type=merge", "-p", `{"data":{"shape":"round"}}`}, []string{"patched"}, false},
		{"strategic patch", []string{"patch", "-n", "shop", "deploy/web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:2"}]}}}}`}, []string{"patched"}, false},
		{"yaml", []string{"get", "-n", "shop", "cm/settings", "-o", "yaml"}, []string{"color: green", "size: L", "shape: round", "tier: backend", "owner: team-a", "resourceVersion:", "uid:"}, false},
		{"json", []string{"get", "-n", "shop", "deploy/web", "-o", "json"}, []string{`"image": "busybox:2"`, `"kind": "Deployment"`}, false},
		{"describe", []string{"describe", "-n", "shop", "deploy/web"}, []string{"Name:", "web", "Replicas:", "5 desired", "busybox:2"}, false},
		{"field selector", []string{"get", "-n", "shop", "cm", "--field-selector", "metadata.name=settings", "-o", "name"}, []string{"configmap/settings"}, false},
		{"create", []string{"create", "-n", "shop", "configmap", "made", "--from-literal=k=v"}, []string{"configmap/made created"}, false},
		{"create again", []string{"create", "-n", "shop", "configmap", "made", "--from-literal=k=v"}, []string{`configmaps "made" already exists`}, true},
		{"invalid", []string{"apply", "-f", "testdata/invalid.yaml"}, []string{"is invalid", "metadata.name"}, true},
		{"unknown field", []string{"apply", "-f", "testdata/unknown-field.yaml"}, []string{"unknown field", "bogus"}, true},
		{"missing", []string{"get", "-n", "shop", "cm/nothing"}, []string{"NotFound", `configmaps "nothing" not found`}, true},
		{"delete", []string{"delete", "-n", "shop", "cm/made", "deploy/web"}, []string{`configmap "made" deleted`, `deployment.apps "web" deleted`}, false},
		{"gone", []string{"get", "-n", "shop", "deploy/web"}, []string{"NotFound"}, true},
		{"all namespaces", []string{"get", "cm", "-A"}, []string{"shop", "settings"}, false},
	}
	for _, s := range steps {
		out, err := env.Kubectl(t, s.args...)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: kubectl %s: err=%v, wantErr=%v\n%s", s.name, strings.Join(s.args, " "), err, s.wantErr, out)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: kubectl %s: output lacks %q:\n%s", s.name, strings.Join(s.args, " "), w, out)
			}
		}
	}
}

// TestKubectlWatch checks `kubectl get -w` prints objects created while it
// watches.
func TestKubectlWatch(t *testing.T) {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: skipping the tests that drive the real kubectl binary")
	}
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	if out, err := env.Kubectl(t, "create", "configmap", "before"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--kubeconfig", env.Kubeconfig, "get", "configmaps", "-w", "-o", "name")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := stdout.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.IndexByte(acc, '\n')
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	wait := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl -w ended before printing %q", want)
				}
				if strings.TrimSpace(l) == want {
					return
				}
			case <-ctx.Done():
				t.Fatalf("kubectl -w never printed %q", want)
			}
		}
	}
	wait("configmap/before") // the initial list: the watch is being set up
	if out, err := env.Kubectl(t, "create", "configmap", "during"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wait("configmap/during")
}
