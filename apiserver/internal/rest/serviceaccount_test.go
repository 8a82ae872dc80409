package rest

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
)

func TestMountToken(t *testing.T) {
	own := corev1.VolumeMount{Name: "mine", MountPath: TokenMountPath}
	cases := []struct {
		name string
		pod  corev1.PodSpec
		// wantMounts is, per init container then container, the volume
		// mounted at TokenMountPath.
		wantMounts  []string
		wantVolumes []string
	}{
		{
			name:        "every container",
			pod:         corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i"}}, Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
			wantMounts:  []string{"kube-api-access-abcde", "kube-api-access-abcde", "kube-api-access-abcde"},
			wantVolumes: []string{"kube-api-access-abcde"},
		},
		{
			name:        "own mount at the path is kept",
			pod:         corev1.PodSpec{Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}, {Name: "b"}}},
			wantMounts:  []string{"mine", "kube-api-access-abcde"},
			wantVolumes: []string{"kube-api-access-abcde"},
		},
		{
			name:       "nobody needs it",
			pod:        corev1.PodSpec{Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}}},
			wantMounts: []string{"mine"},
		},
		{
			name: "existing kube-api-access volume is reused",
			pod: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "kube-api-access-zzzzz"}},
				Containers: []corev1.Container{{Name: "a"}}},
			wantMounts:  []string{"kube-api-access-zzzzz"},
			wantVolumes: []string{"kube-api-access-zzzzz"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tc.pod}
			mountToken(pod, "kube-api-access-abcde")
			var mounts []string
			for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
				for _, c := range cs {
					n := 0
					for _, m := range c.VolumeMounts {
						if m.MountPath == TokenMountPath {
							mounts = append(mounts, m.Name)
							n++
							if m.Name != "mine" && !m.ReadOnly {
								t.Errorf("container %s: token mount is writable", c.Name)
							}
						}
					}
					if n != 1 {
						t.Errorf("container %s has %d mounts at %s", c.Name, n, TokenMountPath)
					}
				}
			}
			if strings.Join(mounts, ",") != strings.Join(tc.wantMounts, ",") {
				t.Errorf("mounts = %v, want %v", mounts, tc.wantMounts)
			}
			var vols []string
			for _, v := range pod.Spec.Volumes {
				vols = append(vols, v.Name)
			}
			if strings.Join(vols, ",") != strings.Join(tc.wantVolumes, ",") {
				t.Errorf("volumes = %v, want %v", vols, tc.wantVolumes)
			}
		})
	}
}

func TestAutomount(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name   string
		pod    *bool
		sa     *bool
		expect bool
	}{
		{"default", nil, nil, true},
		{"account says no", nil, &no, false},
		{"pod says no", &no, nil, false},
		{"pod overrides account", &yes, &no, true},
		{"pod no beats account yes", &no, &yes, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{AutomountServiceAccountToken: tc.pod}}
			sa := &corev1.ServiceAccount{AutomountServiceAccountToken: tc.sa}
			if got := automount(pod, sa); got != tc.expect {
				t.Fatalf("automount = %v, want %v", got, tc.expect)
			}
		})
	}
}

// TestServiceAccountAdmission creates pods through a real apiserver with
// ServiceAccount admission on.
func TestServiceAccountAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an apiserver")
	}
	env := testenv.StartAPIServer(t, testenv.Options{ServiceAccountAdmission: true})
	ctx := context.Background()
	const ns = "sa-admission"
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := env.Client.CoreV1().Pods(ns)
	pod := func(name string, mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "app", Image: "busybox"}},
		}}
		if mutate != nil {
			mutate(p)
		}
		return p
	}

	// No controller-manager runs here: "default" does not exist, and the
	// apiserver gives up after its retries with 403, as Kubernetes does.
	start := time.Now()
	_, err := pods.Create(ctx, pod("early", nil), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "error looking up service account sa-admission/default") {
		t.Fatalf("create without the default ServiceAccount: %v, want 403 error looking up service account", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 10*time.Second {
		t.Errorf("lookup of the default ServiceAccount took %s, want about 1-2s of retries", d)
	}
	_, err = pods.Create(ctx, pod("other", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "missing" }), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("create with a missing ServiceAccount: %v, want 403", err)
	}

	// "default" created while a create waits for it: the create succeeds.
	errc := make(chan error, 1)
	go func() {
		_, err := pods.Create(ctx, pod("waiter", nil), metav1.CreateOptions{})
		errc <- err
	}()
	time.Sleep(150 * time.Millisecond) // let the create start retrying
	if _, err := env.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("create while the default ServiceAccount appears: %v", err)
	}

	no := false
	if _, err := env.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: "robot"},
		AutomountServiceAccountToken: &no,
		ImagePullSecrets:             []corev1.LocalObjectReference{{Name: "regcred"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		pod       *corev1.Pod
		wantSA    string
		wantToken bool
		wantPull  bool
	}{
		{"defaulted", pod("a", nil), "default", true, false},
		{"pod opts out", pod("b", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = &no }), "default", false, false},
		{"account opts out", pod("c", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }), "robot", false, true},
		{"mirror pod untouched", pod("d", func(p *corev1.Pod) {
			p.Annotations = map[string]string{mirrorPodAnnotation: "x"}
			p.Spec.NodeName = "n1"
		}), "", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pods.Create(ctx, tc.pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.ServiceAccountName != tc.wantSA {
				t.Errorf("serviceAccountName = %q, want %q", got.Spec.ServiceAccountName, tc.wantSA)
			}
			if (len(got.Spec.ImagePullSecrets) > 0) != tc.wantPull {
				t.Errorf("imagePullSecrets = %v", got.Spec.ImagePullSecrets)
			}
			var vol *corev1.Volume
			for i := range got.Spec.Volumes {
				if strings.HasPrefix(got.Spec.Volumes[i].Name, tokenVolumePrefix) {
					vol = &got.Spec.Volumes[i]
				}
			}
			if !tc.wantToken {
				if vol != nil {
					t.Fatalf("unexpected token volume %s", vol.Name)
				}
				return
			}
			if vol == nil || vol.Projected == nil || len(vol.Projected.Sources) != 3 {
				t.Fatalf("token volume = %+v", vol)
			}
			src := vol.Projected.Sources
			if s := src[0].ServiceAccountToken; s == nil || s.Path != "token" || s.ExpirationSeconds == nil || *s.ExpirationSeconds != 3607 {
				t.Errorf("token source = %+v", s)
			}
			if c := src[1].ConfigMap; c == nil || c.Name != "kube-root-ca.crt" || len(c.Items) != 1 || c.Items[0].Key != "ca.crt" {
				t.Errorf("configMap source = %+v", c)
			}
			if d := src[2].DownwardAPI; d == nil || len(d.Items) != 1 || d.Items[0].FieldRef.FieldPath != "metadata.namespace" {
				t.Errorf("downwardAPI source = %+v", d)
			}
			for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
				found := false
				for _, m := range c.VolumeMounts {
					found = found || m.Name == vol.Name && m.MountPath == TokenMountPath && m.ReadOnly
				}
				if !found {
					t.Errorf("container %s does not mount %s read-only at %s", c.Name, vol.Name, TokenMountPath)
				}
			}
		})
	}
}
