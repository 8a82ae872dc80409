package containerd

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteConfig(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	cfg := string(b)
	for _, want := range []string{
		"restrict_oom_score_adj = true",
		"SystemdCgroup = false",
		"netns_mounts_under_state_dir = true",
		`sandbox_image = "` + DefaultPauseImage + `"`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "` + filepath.Join(dir, "cni", "net.d") + `"`,
		`address = "` + filepath.Join(dir, "containerd.sock") + `"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q", want)
		}
	}
}

func TestWriteConfigOCIRuntime(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	for _, tc := range []struct {
		name, runtime, want string
		ok                  bool
	}{
		{"runc by name", "runc", runc, true},
		{"runc by path", runc, runc, true},
		{"missing", "no-such-oci-runtime", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := WriteConfig(Options{StateDir: t.TempDir(), OCIRuntime: tc.runtime})
			if (err == nil) != tc.ok {
				t.Fatalf("WriteConfig: %v", err)
			}
			if !tc.ok {
				return
			}
			b, _ := os.ReadFile(path)
			if want := `BinaryName = "` + tc.want + `"`; !strings.Contains(string(b), want) {
				t.Errorf("config lacks %q", want)
			}
		})
	}
}

func TestResolveOCIRuntimeAuto(t *testing.T) {
	p, err := ResolveOCIRuntime("auto")
	if _, lerr := exec.LookPath("runc"); lerr != nil {
		if _, cerr := exec.LookPath("crun"); cerr != nil {
			if err == nil {
				t.Fatalf("auto without crun and runc = %q, want error", p)
			}
			return
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if b := filepath.Base(p); b != "crun" && b != "runc" {
		t.Fatalf("auto = %q", p)
	}
	if _, cerr := exec.LookPath("crun"); cerr == nil {
		if _, ok := crunCgroups(false); ok == nil && filepath.Base(p) != "crun" {
			t.Fatalf("auto = %q although crun is installed and usable", p)
		}
	}
}

func TestCgroupMounts(t *testing.T) {
	ms, err := cgroupMounts()
	if err != nil {
		t.Skip(err)
	}
	for _, m := range ms {
		if !filepath.IsAbs(m.dir) || (m.fstype != "cgroup" && m.fstype != "cgroup2") {
			t.Errorf("bad mount %+v", m)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"ok", Options{StateDir: "/tmp/x"}, true},
		{"empty", Options{}, false},
		{"relative", Options{StateDir: "rel"}, false},
		{"too long", Options{StateDir: "/" + strings.Repeat("d", 100)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.opts.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestStartStop(t *testing.T) {
	if _, err := exec.LookPath("containerd"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and containerd")
	}
	dir, err := os.MkdirTemp("", "skct")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := Start(context.Background(), Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", c.Socket)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	c.Stop()
	select {
	case <-c.Done():
	default:
		t.Fatal("containerd still running after Stop")
	}
}
