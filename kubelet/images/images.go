// Package images builds skiff's local container images and imports them
// into containerd. No registry is reachable from skiff machines, so the
// images pods use in `make up` and the tests are made here from the host's
// busybox-static binary:
//
//   - docker.io/library/busybox:latest (also reachable as "busybox"):
//     busybox with every applet linked under /bin, /etc/passwd, /tmp and a
//     /var/www/index.html for `httpd -f -h /var/www`; default command "sh".
//   - registry.k8s.io/pause:3.10: the same rootfs with the entrypoint
//     `/bin/sleep infinity`, used as the pod sandbox image.
//
// Build writes an OCI image-layout tarball holding both; Import loads it
// into containerd's "k8s.io" namespace (the one CRI uses) with `ctr`.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Names of the images skiff ships.
const (
	Busybox = "docker.io/library/busybox:latest"
	Pause   = "registry.k8s.io/pause:3.10"
)

// Image describes one image to build on the busybox rootfs.
type Image struct {
	// Name is the full reference, e.g. docker.io/library/busybox:latest.
	Name string
	// Entrypoint and Cmd become the image config's Entrypoint and Cmd.
	Entrypoint []string
	Cmd        []string
}

// Defaults are the images skiff ships: busybox and the pause image.
func Defaults() []Image {
	return []Image{
		{Name: Busybox, Cmd: []string{"sh"}},
		{Name: Pause, Entrypoint: []string{"/bin/sleep", "infinity"}},
	}
}

// BuildOptions configures Build.
type BuildOptions struct {
	// Busybox is the static busybox binary (default /bin/busybox).
	Busybox string
	// Images to build (default Defaults()).
	Images []Image
}

// epoch makes layers reproducible: the same busybox gives the same digests.
var epoch = time.Unix(0, 0).UTC()

// Build writes an OCI image-layout tarball holding opts.Images to w.
func Build(w io.Writer, opts BuildOptions) error {
	if opts.Busybox == "" {
		opts.Busybox = "/bin/busybox"
	}
	if len(opts.Images) == 0 {
		opts.Images = Defaults()
	}
	layer, err := rootfsLayer(opts.Busybox)
	if err != nil {
		return err
	}
	layerDigest := digest(layer)
	blobs := map[string][]byte{layerDigest: layer}
	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var manifests []descriptor
	for _, img := range opts.Images {
		if img.Name == "" {
			return errors.New("images: an image needs a name")
		}
		cfg, err := json.Marshal(map[string]any{
			"created":      epoch.Format(time.RFC3339),
			"architecture": runtime.GOARCH,
			"os":           "linux",
			"config": map[string]any{
				"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				"Entrypoint": img.Entrypoint,
				"Cmd":        img.Cmd,
				"WorkingDir": "/",
			},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
		})
		if err != nil {
			return fmt.Errorf("images: config for %s: %w", img.Name, err)
		}
		cfgDigest := digest(cfg)
		blobs[cfgDigest] = cfg
		man, err := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cfgDigest, Size: len(cfg)},
			"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: layerDigest, Size: len(layer)}},
		})
		if err != nil {
			return fmt.Errorf("images: manifest for %s: %w", img.Name, err)
		}
		manDigest := digest(man)
		blobs[manDigest] = man
		manifests = append(manifests, descriptor{
			MediaType: "application/vnd.oci.image.manifest.v1+json",
			Digest:    manDigest,
			Size:      len(man),
			Annotations: map[string]string{
				"io.containerd.image.name":          img.Name,
				"org.opencontainers.image.ref.name": refName(img.Name),
			},
		})
	}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": manifests})
	if err != nil {
		return fmt.Errorf("images: index: %w", err)
	}
	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	if err := writeDir(tw, "blobs/", 0o755); err != nil {
		return err
	}
	if err := writeDir(tw, "blobs/sha256/", 0o755); err != nil {
		return err
	}
	keys := make([]string, 0, len(blobs))
	for k := range blobs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		files = append(files, struct {
			name string
			data []byte
		}{"blobs/sha256/" + strings.TrimPrefix(k, "sha256:"), blobs[k]})
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, 0o644, f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("images: close tar: %w", err)
	}
	return nil
}

// refName is the tag part of a reference ("latest" for "…/busybox:latest").
func refName(name string) string {
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[i+1:]
	}
	return "latest"
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// rootfsLayer returns an uncompressed tar of the busybox rootfs.
func rootfsLayer(busybox string) ([]byte, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("images: read busybox (install busybox-static): %w", err)
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("images: %s --list: %w", busybox, err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o755}, {"root/", 0o700}, {"sys/", 0o755},
		{"tmp/", 0o1777}, {"usr/", 0o755}, {"usr/bin/", 0o755}, {"var/", 0o755}, {"var/www/", 0o755}} {
		if err := writeDir(tw, d.name, d.mode); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, "bin/busybox", 0o755, bin); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("images: tar: %w", err)
		}
	}
	for _, f := range []struct {
		name, data string
	}{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
		{"var/www/index.html", "hello from skiff busybox\n"},
	} {
		if err := writeFile(tw, f.name, 0o644, []byte(f.data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("images: tar: %w", err)
	}
	return buf.Bytes(), nil
}

func writeDir(tw *tar.Writer, name string, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("images: tar %s: %w", name, err)
	}
	return nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("images: tar %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("images: tar %s: %w", name, err)
	}
	return nil
}

// ImportOptions configures Import.
type ImportOptions struct {
	// Address is containerd's socket path. Required.
	Address string
	// Ctr is the ctr binary (default "ctr").
	Ctr string
	// Namespace is the containerd namespace (default "k8s.io", CRI's).
	Namespace string
}

// Import loads an OCI image-layout tarball into containerd and unpacks it.
func Import(ctx context.Context, tarball string, opts ImportOptions) error {
	if opts.Address == "" {
		return errors.New("images: import needs the containerd address")
	}
	if opts.Ctr == "" {
		opts.Ctr = "ctr"
	}
	if opts.Namespace == "" {
		opts.Namespace = "k8s.io"
	}
	cmd := exec.CommandContext(ctx, opts.Ctr, "--address", opts.Address, "--namespace", opts.Namespace,
		"images", "import", "--no-unpack=false", tarball)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("images: ctr images import %s: %w: %s", tarball, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// BuildAndImport builds the default images into dir/images.tar and imports
// them into the containerd at address.
func BuildAndImport(ctx context.Context, address, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	path := filepath.Join(dir, "skiff-images.tar")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	if err := Build(f, BuildOptions{}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	return Import(ctx, path, ImportOptions{Address: address})
}
