package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/api/testenv"

	"skiff.dev/scheduler"
	"skiff.dev/scheduler/internal/fixture"
)

var (
	guestOnce sync.Once
	guestDir  string
	guestErr  error
)

// guest builds the example plugins of skiff.dev/plugins once per test
// process (GOOS=wasip1, the standard toolchain) and returns one's bytes.
func guest(t *testing.T, name string) []byte {
	t.Helper()
	guestOnce.Do(func() {
		root, err := testenv.WorkspaceRoot()
		if err != nil {
			guestErr = err
			return
		}
		guestDir, guestErr = os.MkdirTemp("", "scheduler-guests-")
		if guestErr != nil {
			return
		}
		for _, ex := range []string{"preferlabel", "gpufilter", "binpack"} {
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(guestDir, ex+".wasm"), "./examples/"+ex)
			cmd.Dir = filepath.Join(root, "plugins")
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				guestErr = fmt.Errorf("build %s: %w\n%s", ex, err, out)
				return
			}
		}
	})
	if guestErr != nil {
		t.Fatalf("build guest plugins: %v", guestErr)
	}
	b, err := os.ReadFile(filepath.Join(guestDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func settings(t *testing.T, v any) *runtime.RawExtension {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &runtime.RawExtension{Raw: b}
}

func TestWasmPluginsChangePlacement(t *testing.T) {
	failPolicy, timeoutMS := admissionregistrationv1.Fail, int32(5000)
	preferlabel, gpufilter := guest(t, "preferlabel"), guest(t, "gpufilter")
	env := testenv.StartAPIServer(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		createNode(t, c, nodeSpec{name: fmt.Sprintf("plain-%d", i)})
	}
	gpuNode := fixture.Node("gpu-1").Capacity("4", "8Gi", "110").Extended("nvidia.com/gpu", "2").Label("pref", "yes").Obj()
	if err := fixture.CreateHollowNode(ctx, c, gpuNode); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, env, func(o *scheduler.Options) { o.DisableWasm = false })

	preferMod, err := fixture.UploadModule(ctx, c, preferlabel)
	if err != nil {
		t.Fatal(err)
	}
	gpuMod, err := fixture.UploadModule(ctx, c, gpufilter)
	if err != nil {
		t.Fatal(err)
	}
	// Hot: the plugin is registered while the scheduler runs.
	if err := fixture.ApplySchedulerPlugin(ctx, c, "prefer-pref", pluginsv1alpha1.SchedulerPluginSpec{
		Module: preferMod, Score: true, Weight: 50, Settings: settings(t, map[string]string{"key": "pref", "value": "yes"}),
		// Fail (retry the pod) rather than skip the plugin if a call is
		// slow on a loaded machine: placement must follow the plugin.
		FailurePolicy: &failPolicy, TimeoutMilliseconds: &timeoutMS,
	}); err != nil {
		t.Fatal(err)
	}
	// Pods land where the Wasm score says (the only pref=yes node), once loaded.
	waitLoaded(t, c, "prefer-pref")
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("preferred-%d", i)
		createPod(t, c, podSpec{name: name, cpu: "10m"})
		if n := waitBound(t, c, name); n != "gpu-1" {
			t.Fatalf("%s on %s, want gpu-1 (Wasm score weight 50)", name, n)
		}
	}

	// A Wasm filter keeps non-GPU pods off GPU nodes, overriding the score.
	if err := fixture.ApplySchedulerPlugin(ctx, c, "gpu-only", pluginsv1alpha1.SchedulerPluginSpec{
		Module: gpuMod, Filter: true, Settings: settings(t, map[string]any{"reserveForGPUPods": true}),
		FailurePolicy: &failPolicy, TimeoutMilliseconds: &timeoutMS,
	}); err != nil {
		t.Fatal(err)
	}
	var placed string
	err = testenv.Poll(60*time.Second, func() (bool, error) {
		name := fmt.Sprintf("cpu-%d", time.Now().UnixNano())
		createPod(t, c, podSpec{name: name, cpu: "10m"})
		placed = waitBound(t, c, name)
		return placed != "gpu-1", nil
	})
	if err != nil {
		t.Fatalf("filter plugin never kept a CPU pod off gpu-1: %v", err)
	}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("cpu-only-%d", i)
		createPod(t, c, podSpec{name: name, cpu: "10m"})
		if n := waitBound(t, c, name); n == "gpu-1" {
			t.Fatalf("%s placed on gpu-1 despite the Wasm filter", name)
		}
	}
	createPod(t, c, podSpec{name: "trainer", mutate: func(p *v1.Pod) {
		gpu := v1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		p.Spec.Containers[0].Resources.Requests, p.Spec.Containers[0].Resources.Limits = gpu, gpu
	}})
	if n := waitBound(t, c, "trainer"); n != "gpu-1" {
		t.Fatalf("GPU pod on %s, want gpu-1", n)
	}

	// Removing the filter restores the score's choice.
	if err := fixture.DeleteSchedulerPlugin(ctx, c, "gpu-only"); err != nil {
		t.Fatal(err)
	}
	err = testenv.Poll(60*time.Second, func() (bool, error) {
		name := fmt.Sprintf("after-%d", time.Now().UnixNano())
		createPod(t, c, podSpec{name: name, cpu: "10m"})
		return waitBound(t, c, name) == "gpu-1", nil
	})
	if err != nil {
		t.Fatalf("pods still kept off gpu-1 after the filter was deleted: %v", err)
	}
}

// waitLoaded waits for the scheduler to report the plugin loaded in its status.
func waitLoaded(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	var last string
	err := testenv.Poll(60*time.Second, func() (bool, error) {
		raw, err := c.Discovery().RESTClient().Get().AbsPath("/apis", pluginsv1alpha1.GroupName, pluginsv1alpha1.Version,
			pluginsv1alpha1.ResourceSchedulerPlugins, name).DoRaw(context.Background())
		if err != nil {
			return false, nil
		}
		var sp pluginsv1alpha1.SchedulerPlugin
		if err := json.Unmarshal(raw, &sp); err != nil {
			return false, err
		}
		for _, cond := range sp.Status.Conditions {
			last = fmt.Sprintf("%s=%s %s: %s", cond.Type, cond.Status, cond.Reason, cond.Message)
			if cond.Type == "Loaded" && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == sp.Generation {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("SchedulerPlugin %s not loaded (last condition %q): %v", name, last, err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}
