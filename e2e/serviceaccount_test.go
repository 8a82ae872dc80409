package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
	"skiff.dev/e2e/cluster"
)

// saIndex is this file's cluster.Options.Index (pod network and bridge).
const saIndex = 3

// TestServiceAccountFromPod checks that a ServiceAccount token works from
// inside a pod: a static client-go program (testdata/inclusterclient,
// rest.InClusterConfig) runs in a busybox pod with the token, ca.crt and
// namespace that ServiceAccount admission and the kubelet mount. It is
// system:serviceaccount:<ns>:default, may not list pods until a
// RoleBinding grants it `view`, and a forged token in its place gets 401.
func TestServiceAccountFromPod(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Index: saIndex})
	ctx := context.Background()
	binDir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "inclusterclient"), "./testdata/inclusterclient")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build inclusterclient: %v\n%s", err, out)
	}
	api, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}

	const ns = "sa-e2e"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var sa *corev1.ServiceAccount
	if err := testenv.Poll(30*time.Second, func() (bool, error) {
		sa, err = c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		_, err = c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("default ServiceAccount and kube-root-ca.crt in %s: %v", ns, err)
	}

	// run starts the client in a pod and returns its output lines.
	run := func(t *testing.T, name string, extra func(*corev1.Pod)) map[string]string {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				HostNetwork:   true, // reaches the apiserver on the host's 127.0.0.1
				Containers: []corev1.Container{{
					Name: "client", Image: "busybox", Command: []string{"/incluster/inclusterclient"},
					Env: []corev1.EnvVar{
						{Name: "KUBERNETES_SERVICE_HOST", Value: api.Hostname()},
						{Name: "KUBERNETES_SERVICE_PORT", Value: api.Port()},
					},
					VolumeMounts: []corev1.VolumeMount{{Name: "bin", MountPath: "/incluster", ReadOnly: true}},
				}},
				Volumes: []corev1.Volume{{Name: "bin", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: binDir}}}},
			},
		}
		if extra != nil {
			extra(pod)
		}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
		var phase corev1.PodPhase
		if err := testenv.Poll(90*time.Second, func() (bool, error) {
			p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			phase = p.Status.Phase
			return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
		}); err != nil {
			out, _ := c.Kubectl(t, "describe", "pod", "-n", ns, name)
			t.Fatalf("pod %s did not finish (phase %s): %v\n%s", name, phase, err, out)
		}
		logs := c.MustKubectl(t, "logs", "-n", ns, name)
		if phase != corev1.PodSucceeded {
			t.Fatalf("pod %s %s:\n%s", name, phase, logs)
		}
		lines := map[string]string{}
		for _, l := range strings.Split(logs, "\n") {
			if k, v, ok := strings.Cut(l, ": "); ok {
				lines[k] = v
			}
		}
		t.Logf("pod %s:\n%s", name, logs)
		return lines
	}

	user := "system:serviceaccount:" + ns + ":default"
	t.Run("token works, no rights yet", func(t *testing.T) {
		out := run(t, "before", nil)
		if !strings.HasPrefix(out["whoami"], "ok "+user+" ") || !strings.Contains(out["whoami"], "system:serviceaccounts:"+ns) {
			t.Errorf("whoami = %q, want %s in system:serviceaccounts:%s", out["whoami"], user, ns)
		}
		if !strings.HasPrefix(out["list"], "error 403 ") {
			t.Errorf("list = %q, want 403", out["list"])
		}
	})

	t.Run("view binding lets it list", func(t *testing.T) {
		if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "default-view"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: ns}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out := run(t, "after", nil)
		if !strings.HasPrefix(out["list"], "ok ") {
			t.Errorf("list = %q, want ok", out["list"])
		}
	})

	t.Run("forged token is refused", func(t *testing.T) {
		// The pod mounts its own directory at the ServiceAccount path, so
		// admission adds no token volume and the client reads a token
		// signed by a key the apiserver does not know, with claims that
		// are otherwise right.
		dir := t.TempDir()
		ca, err := os.ReadFile(c.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{"token": []byte(forgedToken(t, ns, string(sa.UID))), "ca.crt": ca, "namespace": []byte(ns)}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out := run(t, "forged", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "sa", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}})
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts,
				corev1.VolumeMount{Name: "sa", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true})
		})
		if !strings.HasPrefix(out["whoami"], "error 401 ") || !strings.HasPrefix(out["list"], "error 401 ") {
			t.Errorf("forged token: whoami %q, list %q; want 401 for both", out["whoami"], out["list"])
		}
	})
}

// forgedToken is a ServiceAccount JWT for <ns>/default with the right
// issuer, audience, times and uid, signed ES256 by a fresh key.
func forgedToken(t *testing.T, ns, uid string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://kubernetes.default.svc.cluster.local"
	now := time.Now()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "ES256", "kid": "forged", "typ": "JWT"}) + "." + enc(map[string]any{
		"iss": issuer, "aud": []string{issuer}, "sub": fmt.Sprintf("system:serviceaccount:%s:default", ns),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "forged",
		"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]string{"name": "default", "uid": uid}},
	})
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}
