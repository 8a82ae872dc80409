package containerd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// crunCgroups checks that crun can manage cgroups on this machine. crun
// refuses a hybrid setup (cgroup v1 hierarchies plus a cgroup v2 mount) in
// which a controller is still attached to cgroup v2 ("cgroups in hybrid
// mode not supported, drop all controllers from cgroupv2"); runc does not
// mind. With fix set, such leftover controllers (e.g. hugetlb on a VM
// whose init mounted only some v1 hierarchies) are mounted as v1
// hierarchies under /sys/fs/cgroup/<name>, as systemd does in hybrid mode,
// which detaches them from cgroup v2. It returns the controllers it mounted.
func crunCgroups(fix bool) ([]string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	v2, root := "", ""
	for _, m := range mounts {
		switch m.fstype {
		case "cgroup2":
			v2 = m.dir
		case "cgroup":
			root = filepath.Dir(m.dir) // where the v1 hierarchies live
		}
	}
	if v2 == "" || root == "" {
		return nil, nil // pure v1 or pure v2: fine
	}
	b, err := os.ReadFile(filepath.Join(v2, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup v2 controllers: %w", err)
	}
	left := strings.Fields(string(b))
	if len(left) == 0 {
		return nil, nil
	}
	if !fix {
		return nil, fmt.Errorf("cgroup v2 (%s) still has the controllers %v in a hybrid setup", v2, left)
	}
	var mounted []string
	for _, c := range left {
		dir := filepath.Join(root, c)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return mounted, fmt.Errorf("mount the %s cgroup v1 hierarchy: %w", c, err)
		}
		if err := syscall.Mount("cgroup", dir, "cgroup", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, c); err != nil {
			_ = os.Remove(dir)
			return mounted, fmt.Errorf("mount the %s cgroup v1 hierarchy on %s: %w", c, dir, err)
		}
		mounted = append(mounted, c)
	}
	return mounted, nil
}

type mount struct{ dir, fstype string }

func cgroupMounts() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional…] - fstype source super
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if t := fields[sep+1]; t == "cgroup" || t == "cgroup2" {
			out = append(out, mount{dir: fields[4], fstype: t})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup file system mounted")
	}
	return out, nil
}
