package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"skiff.dev/plugins/cli"
	"skiff.dev/plugins/internal/wasmtest"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	if len(args) > 0 && args[0] == "test" {
		args = append([]string{"test", "--timeout", "20s"}, args[1:]...)
	}
	err := cli.Run(context.Background(), args, cli.IO{Out: &out, Err: &errb})
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  containers:
  - name: web
    image: busybox
`

const reviewJSON = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},
"resource":{"group":"","version":"v1","resource":"pods"},"name":"web","namespace":"prod","operation":"CREATE","userInfo":{"username":"alice"},
"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"prod","labels":{"team":"a"}},"spec":{"containers":[{"name":"web","image":"busybox","securityContext":{"privileged":true}}]}}}}`

func TestTest(t *testing.T) {
	t.Setenv("SKIFF_WASM_CACHE_DIR", wasmtest.CacheDir())
	pod := writeFile(t, "pod.yaml", []byte(podYAML))
	review := writeFile(t, "review.json", []byte(reviewJSON))
	rl := writeFile(t, "rl.wasm", wasmtest.Go(t, "examples/requiredlabels"))
	dr := writeFile(t, "dr.wasm", wasmtest.Go(t, "examples/defaultresources"))
	wat := writeFile(t, "priv.wasm", wasmtest.WAT(t, "../examples/wat/denyprivileged.wat"))
	teamSettings := writeFile(t, "s.json", []byte(`{"labels":["team"]}`))
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut []string
	}{
		{"denied", []string{"test", rl, "--request", pod, "--settings", teamSettings}, "request denied",
			[]string{"DENIED 400 (validate", "missing required labels: team"}},
		{"allowed (AdmissionReview)", []string{"test", rl, "--request", review, "--settings", teamSettings}, "", []string{"ALLOWED (validate"}},
		{"mutated", []string{"test", dr, "--request", pod, "--settings", writeFile(t, "d.yaml", []byte("cpu: 100m\n"))}, "",
			[]string{"ALLOWED (mutate", `"path": "/spec/containers/0/resources"`, "patched object:", `"cpu": "100m"`}},
		{"WAT denies privileged", []string{"test", wat, "--request", review}, "request denied", []string{"DENIED 403", "privileged containers are not allowed"}},
		{"json output", []string{"test", "-o", "json", rl, "--request", review, "--settings", teamSettings}, "", []string{`{"allowed":true}`}},
		{"bad settings", []string{"test", rl, "--request", pod, "--settings", writeFile(t, "bad.json", []byte(`{"labels":[]}`))}, "invalid settings", nil},
		{"corrupt module", []string{"test", writeFile(t, "x.wasm", []byte("nope")), "--request", pod}, "compile module", nil},
		{"missing request", []string{"test", rl}, "--request is required", nil},
		{"bad request", []string{"test", rl, "--request", writeFile(t, "r.json", []byte(`[1]`))}, "expected a JSON object", nil},
		{"no module", []string{"test", "--request", pod}, "exactly one MODULE.wasm", nil},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := run(t, tc.args...)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v\n%s", err, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if _, _, err := run(t, "test", rl, "--request", pod, "--settings", teamSettings); !errors.Is(err, cli.ErrDenied) {
		t.Fatalf("denial is not ErrDenied: %v", err)
	}
}

func TestNew(t *testing.T) {
	t.Setenv("SKIFF_WASM_CACHE_DIR", wasmtest.CacheDir())
	pod := writeFile(t, "pod.yaml", []byte(podYAML))
	tests := []struct {
		lang  string
		build func(t *testing.T, dir string) string // returns the .wasm path
		want  string
	}{
		{"wat", func(t *testing.T, dir string) string {
			wasm := wasmtest.WAT(t, filepath.Join(dir, "policy.wat"))
			return writeFile(t, "m.wasm", wasm)
		}, "ALLOWED"},
		{"as", func(t *testing.T, dir string) string {
			asc := wasmtest.ASC(t)
			out := filepath.Join(dir, "m.wasm")
			cmd := exec.Command(asc, "policy.ts", "-o", out, "--runtime", "stub", "-O3", "--noAssert")
			cmd.Dir = dir
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("asc: %v\n%s", err, b)
			}
			return out
		}, "DENIED 403"},
		{"go", func(t *testing.T, dir string) string {
			out := filepath.Join(dir, "m.wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, b)
			}
			return out
		}, "DENIED 400"},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			out, _, err := run(t, "new", "demo", "--lang", tc.lang, "--dir", dir, "--sdk", wasmtest.PluginsRoot(t))
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			if !strings.Contains(out, "request.json") {
				t.Fatalf("new output: %s", out)
			}
			wasm := tc.build(t, dir)
			args := []string{"test", wasm, "--request", pod}
			if tc.lang == "go" {
				args = append(args, "--settings", filepath.Join(dir, "settings.json"))
			}
			out, _, err = run(t, args...)
			if err != nil && !errors.Is(err, cli.ErrDenied) {
				t.Fatalf("test: %v", err)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("test output %q, want %q", out, tc.want)
			}
		})
	}
	if _, _, err := run(t, "new", "Bad_Name", "--lang", "go"); err == nil {
		t.Fatal("bad name accepted")
	}
	if _, _, err := run(t, "new", "x", "--lang", "rust"); err == nil || !strings.Contains(err.Error(), "--lang") {
		t.Fatalf("bad lang: %v", err)
	}
}

const nodesYAML = `- name: big
  labels: {disktype: ssd}
  allocatable: {cpu: "4", memory: 16Gi, pods: "110", nvidia.com/gpu: "4"}
  requested: {cpu: "1", memory: 2Gi, nvidia.com/gpu: "1"}
- name: small
  allocatable: {cpu: "2", memory: 4Gi, pods: "110"}
`

const gpuPodYAML = `apiVersion: v1
kind: Pod
metadata: {name: trainer, namespace: ml}
spec:
  containers:
  - name: t
    image: trainer
    resources:
      requests: {cpu: 500m, memory: 1Gi, nvidia.com/gpu: "2"}
`

func TestTestScheduling(t *testing.T) {
	t.Setenv("SKIFF_WASM_CACHE_DIR", wasmtest.CacheDir())
	nodes := writeFile(t, "nodes.yaml", []byte(nodesYAML))
	pod := writeFile(t, "pod.yaml", []byte(gpuPodYAML))
	tests := []struct {
		name, example, settings string
		want                    []string
	}{
		{"filter", "gpufilter", "", []string{"big fits -", "small UnschedulableAndUnresolvable - node has no nvidia.com/gpu", "2 nodes in"}},
		{"score", "preferlabel", `{"key":"disktype"}`, []string{"big - 100", "small - 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wasm := writeFile(t, "m.wasm", wasmtest.Go(t, "examples/"+tc.example))
			args := []string{"test", wasm, "--pod", pod, "--nodes", nodes}
			if tc.settings != "" {
				args = append(args, "--settings", writeFile(t, "s.json", []byte(tc.settings)))
			}
			out, _, err := run(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			out = strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if _, _, err := run(t, "test", "x.wasm", "--pod", pod); err == nil || !strings.Contains(err.Error(), "--pod and --nodes") {
		t.Fatalf("--pod without --nodes: %v", err)
	}
	bad := writeFile(t, "bad.yaml", []byte("- name: node1\n  allocatable: {cpu: lots}\n"))
	wasm := writeFile(t, "m.wasm", wasmtest.Go(t, "examples/binpack"))
	if _, _, err := run(t, "test", wasm, "--pod", pod, "--nodes", bad); err == nil || !strings.Contains(err.Error(), `cpu: "lots"`) {
		t.Fatalf("bad quantity: %v", err)
	}
}
