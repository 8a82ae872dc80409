package kubelet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff.dev/kubelet/images"
	"skiff.dev/kubelet/internal/crienv"
)

// BenchmarkRuntimePodCPU measures the CPU time the runtime spends per pod
// — containerd, shim, OCI runtime, CNI plugins, mounts and cgroups, read
// from the cpuacct cgroup they share — for a busybox pod started straight
// over CRI (RunPodSandbox, CreateContainer, StartContainer) and torn down
// (RemovePodSandbox alone, as the kubelet does; StopPodSandbox first with
// SKIFF_BENCH_STOP_FIRST=1), for each OCI runtime and CNI chain.
// CPU time per pod does not depend on how busy the machine is, unlike
// latency. Run with:
//
//	go test -run '^$' -bench RuntimePodCPU -benchtime 20x .
func BenchmarkRuntimePodCPU(b *testing.B) {
	if why := crienv.Skip(); why != "" {
		b.Skip(why)
	}
	stopFirst := os.Getenv("SKIFF_BENCH_STOP_FIRST") != ""
	for _, tc := range []struct {
		name string
		opts crienv.Options
	}{
		{"runc", crienv.Options{OCIRuntime: "runc"}},
		{"runc-noportmap", crienv.Options{OCIRuntime: "runc", NoPortMap: true}},
		{"runc-ipmasq", crienv.Options{OCIRuntime: "runc", IPMasq: true}},
		{"crun", crienv.Options{OCIRuntime: "crun"}},
		{"crun-noportmap", crienv.Options{OCIRuntime: "crun", NoPortMap: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.opts.OCIRuntime == "crun" {
				if _, err := os.Stat("/usr/bin/crun"); err != nil {
					b.Skip("crun not installed")
				}
			}
			crt := crienv.StartWith(b, tc.opts)
			if _, err := crt.CPU(); err != nil {
				b.Skip(err)
			}
			ctx := context.Background()
			logs := b.TempDir()
			var start, stop time.Duration
			var startWall time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				uid := fmt.Sprintf("uid-%s-%d", tc.name, i)
				sb := &runtimeapi.PodSandboxConfig{
					Metadata:     &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("p%d", i), Namespace: "bench", Uid: uid},
					Hostname:     fmt.Sprintf("p%d", i),
					LogDirectory: filepath.Join(logs, uid),
					Linux: &runtimeapi.LinuxPodSandboxConfig{
						CgroupParent: filepath.Join(crt.CgroupRoot, "pod"+uid),
						SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
							Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
						}},
					},
				}
				if err := os.MkdirAll(sb.LogDirectory, 0o755); err != nil {
					b.Fatal(err)
				}
				c0, _ := crt.CPU()
				t0 := time.Now()
				id, err := crt.Client.RunPodSandbox(ctx, sb, "")
				if err != nil {
					b.Fatal(err)
				}
				cid, err := crt.Client.CreateContainer(ctx, id, &runtimeapi.ContainerConfig{
					Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
					Image:    &runtimeapi.ImageSpec{Image: images.Busybox},
					Command:  []string{"sleep", "3600"},
					LogPath:  "c.log",
					Linux:    &runtimeapi.LinuxContainerConfig{},
				}, sb)
				if err != nil {
					b.Fatal(err)
				}
				if err := crt.Client.StartContainer(ctx, cid); err != nil {
					b.Fatal(err)
				}
				startWall += time.Since(t0)
				c1, _ := crt.CPU()
				if stopFirst {
					if err := crt.Client.StopPodSandbox(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
				if err := crt.Client.RemovePodSandbox(ctx, id); err != nil {
					b.Fatal(err)
				}
				c2, _ := crt.CPU()
				start += c1 - c0
				stop += c2 - c1
			}
			n := float64(b.N)
			b.ReportMetric(float64(start.Microseconds())/1e3/n, "start-cpu-ms/pod")
			b.ReportMetric(float64(stop.Microseconds())/1e3/n, "stop-cpu-ms/pod")
			b.ReportMetric(float64(startWall.Microseconds())/1e3/n, "start-ms/pod")
		})
	}
}
