package pod

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// prepareVolumes materializes the pod's volumes on the host and returns
// each volume's host path. Supported: emptyDir, hostPath, configMap,
// secret, downwardAPI and projected (configMap, secret, downwardAPI,
// serviceAccountToken).
func (m *Manager) prepareVolumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(m.podDir(pod.UID), "volumes", v.Name)
		switch {
		case v.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return nil, fmt.Errorf("emptyDir %s: %w", v.Name, err)
			}
			if v.EmptyDir.Medium == corev1.StorageMediumMemory && !isMountPoint(dir) {
				data := "mode=1777"
				if v.EmptyDir.SizeLimit != nil && !v.EmptyDir.SizeLimit.IsZero() {
					data += fmt.Sprintf(",size=%d", v.EmptyDir.SizeLimit.Value())
				}
				if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, data); err != nil {
					return nil, fmt.Errorf("emptyDir %s: mount tmpfs: %w", v.Name, err)
				}
			}
			_ = os.Chmod(dir, 0o777)
			out[v.Name] = dir
		case v.HostPath != nil:
			p := v.HostPath.Path
			t := corev1.HostPathUnset
			if v.HostPath.Type != nil {
				t = *v.HostPath.Type
			}
			if err := checkHostPath(p, t); err != nil {
				return nil, fmt.Errorf("hostPath %s: %w", v.Name, err)
			}
			out[v.Name] = p
		case v.ConfigMap != nil:
			files, err := m.configMapFiles(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
			if err != nil {
				return nil, fmt.Errorf("configMap volume %s: %w", v.Name, err)
			}
			if err := writeFiles(dir, files, mode(v.ConfigMap.DefaultMode, 0o644)); err != nil {
				return nil, err
			}
			out[v.Name] = dir
		case v.Secret != nil:
			files, err := m.secretFiles(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
			if err != nil {
				return nil, fmt.Errorf("secret volume %s: %w", v.Name, err)
			}
			if err := writeFiles(dir, files, mode(v.Secret.DefaultMode, 0o644)); err != nil {
				return nil, err
			}
			out[v.Name] = dir
		case v.DownwardAPI != nil:
			files, err := m.downwardFiles(pod, v.DownwardAPI.Items)
			if err != nil {
				return nil, fmt.Errorf("downwardAPI volume %s: %w", v.Name, err)
			}
			if err := writeFiles(dir, files, mode(v.DownwardAPI.DefaultMode, 0o644)); err != nil {
				return nil, err
			}
			out[v.Name] = dir
		case v.Projected != nil:
			files := map[string][]byte{}
			for _, src := range v.Projected.Sources {
				var got map[string][]byte
				var err error
				switch {
				case src.ConfigMap != nil:
					got, err = m.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
				case src.Secret != nil:
					got, err = m.secretFiles(ctx, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
				case src.DownwardAPI != nil:
					got, err = m.downwardFiles(pod, src.DownwardAPI.Items)
				case src.ServiceAccountToken != nil:
					got, err = m.tokenFile(ctx, pod, src.ServiceAccountToken)
				}
				if err != nil {
					// Projected service-account volumes are added by admission;
					// a missing source should not keep the pod from running.
					m.log.Warn("projected volume source skipped", slog.String("pod", pod.Namespace+"/"+pod.Name), slog.String("volume", v.Name), slog.Any("err", err))
					continue
				}
				for k, b := range got {
					files[k] = b
				}
			}
			if err := writeFiles(dir, files, mode(v.Projected.DefaultMode, 0o644)); err != nil {
				return nil, err
			}
			out[v.Name] = dir
		default:
			return nil, fmt.Errorf("volume %s: unsupported volume type", v.Name)
		}
	}
	return out, nil
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m)
}

func checkHostPath(p string, t corev1.HostPathType) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("path %q must be absolute", p)
	}
	fi, err := os.Stat(p)
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		if os.IsNotExist(err) {
			return os.MkdirAll(p, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
	case corev1.HostPathDirectory:
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", p)
		}
	case corev1.HostPathFile:
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a file", p)
		}
	case corev1.HostPathSocket:
		if err != nil || fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("%s is not a socket", p)
		}
	}
	return nil
}

func selectItems(data map[string][]byte, items []corev1.KeyToPath, optional bool) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("key %q not found", it.Key)
		}
		out[it.Path] = b
	}
	return out, nil
}

func (m *Manager) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	opt := optional != nil && *optional
	cm, err := m.opts.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && opt {
			return map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return selectItems(data, items, opt)
}

func (m *Manager) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	opt := optional != nil && *optional
	s, err := m.opts.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && opt {
			return map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return selectItems(data, items, opt)
}

func (m *Manager) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		switch {
		case it.FieldRef != nil:
			v, err := m.fieldValue(pod, it.FieldRef.FieldPath, nil)
			if err != nil {
				return nil, err
			}
			out[it.Path] = []byte(v)
		case it.ResourceFieldRef != nil:
			c := findContainer(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("container %q not found", it.ResourceFieldRef.ContainerName)
			}
			v, err := resourceValue(c, pod, it.ResourceFieldRef)
			if err != nil {
				return nil, err
			}
			out[it.Path] = []byte(v)
		}
	}
	return out, nil
}

func (m *Manager) tokenFile(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (map[string][]byte, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	exp := int64(3600)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	var aud []string
	if src.Audience != "" {
		aud = []string{src.Audience}
	}
	key := tokenKey{pod: pod.UID, sa: sa, audience: audienceKey(aud), seconds: exp}
	now := time.Now()
	if tok, ok := m.tokens.get(key, now); ok {
		return map[string][]byte{src.Path: []byte(tok)}, nil
	}
	tr, err := m.opts.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         aud,
			ExpirationSeconds: &exp,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for service account %q: %w", sa, err)
	}
	m.tokens.put(key, tr.Status.Token, now, tr.Status.ExpirationTimestamp.Time)
	return map[string][]byte{src.Path: []byte(tr.Status.Token)}, nil
}

// isMountPoint reports whether dir is a mount point (its device differs
// from its parent's).
func isMountPoint(dir string) bool {
	var st, parent syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// unmountVolumes unmounts tmpfs emptyDirs under a pod's volumes dir.
func unmountVolumes(podDir string) {
	ents, err := os.ReadDir(filepath.Join(podDir, "volumes"))
	if err != nil {
		return
	}
	for _, e := range ents {
		dir := filepath.Join(podDir, "volumes", e.Name())
		if isMountPoint(dir) {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	}
}

// writeFiles writes files under dir (paths may contain subdirectories).
func writeFiles(dir string, files map[string][]byte, perm os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("volume dir: %w", err)
	}
	for name, data := range files {
		if strings.Contains(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("volume file %q: path must be relative without '..'", name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("volume file %s: %w", name, err)
		}
		if old, err := os.ReadFile(p); err == nil && string(old) == string(data) {
			continue
		}
		// Replace atomically so readers never see a half-written file.
		tmp := filepath.Join(filepath.Dir(p), ".."+filepath.Base(p)+".tmp")
		if err := os.WriteFile(tmp, data, perm); err != nil {
			return fmt.Errorf("volume file %s: %w", name, err)
		}
		_ = os.Chmod(tmp, perm)
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("volume file %s: %w", name, err)
		}
	}
	return nil
}
