package images

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"
)

func TestBuild(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("busybox-static not installed")
	}
	var buf, again bytes.Buffer
	if err := Build(&buf, BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Build(&again, BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("build is not reproducible")
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range index.Manifests {
		names[m.Annotations["io.containerd.image.name"]] = true
		if _, ok := files["blobs/sha256/"+m.Digest[len("sha256:"):]]; !ok {
			t.Errorf("manifest blob %s missing", m.Digest)
		}
	}
	for _, want := range []string{Busybox, Pause} {
		if !names[want] {
			t.Errorf("image %s missing from index", want)
		}
	}
	if _, ok := files["oci-layout"]; !ok {
		t.Error("oci-layout missing")
	}
}

func TestRefName(t *testing.T) {
	cases := map[string]string{
		"docker.io/library/busybox:latest": "latest",
		"registry.k8s.io/pause:3.10":       "3.10",
		"localhost:5000/img":               "latest",
	}
	for in, want := range cases {
		if got := refName(in); got != want {
			t.Errorf("refName(%q) = %q, want %q", in, got, want)
		}
	}
}
