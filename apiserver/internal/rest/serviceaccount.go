package rest

// ServiceAccount admission, as Kubernetes' built-in ServiceAccount plugin
// does it on pod create: default spec.serviceAccountName to "default",
// refuse a pod whose ServiceAccount does not exist, copy the account's
// imagePullSecrets, and (unless automountServiceAccountToken is false on the
// pod or the account) add the projected kube-api-access-<random> volume —
// a bound token, the cluster CA bundle and the namespace — mounted read-only
// at /var/run/secrets/kubernetes.io/serviceaccount in every container.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

const (
	// defaultServiceAccount is the account a pod runs as unless it names one.
	defaultServiceAccount = "default"
	// tokenVolumePrefix prefixes the generated projected volume's name.
	tokenVolumePrefix = "kube-api-access-"
	// TokenMountPath is where containers find token, ca.crt and namespace.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// tokenExpirationSeconds is what Kubernetes asks for (a little over an
	// hour; the kubelet refreshes the token long before).
	tokenExpirationSeconds = 3607
	// rootCAConfigMap is published in every namespace by the controller-manager.
	rootCAConfigMap = "kube-root-ca.crt"
	// mirrorPodAnnotation marks the API copy of a kubelet's static pod.
	mirrorPodAnnotation = "kubernetes.io/config.mirror"
)

// admitServiceAccount applies ServiceAccount admission to a pod being
// created; other objects, mirror pods and a Handler without
// Options.ServiceAccounts pass untouched.
func (h *Handler) admitServiceAccount(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok || !h.opts.ServiceAccounts {
		return nil
	}
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccount
	}
	sa, err := h.serviceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name,
			fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	if automount(pod, sa) {
		mountToken(pod, tokenVolumePrefix+utilrand.String(5))
	}
	return nil
}

// serviceAccount reads the account from the serviceaccounts store. The
// "default" account is created by the controller-manager a moment after
// its namespace, so a miss on it is retried for up to about 1.5 s, as
// Kubernetes does.
func (h *Handler) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	res, ok := h.opts.Registry.Lookup(corev1.SchemeGroupVersion.WithResource("serviceaccounts"))
	if !ok {
		return nil, fmt.Errorf("serviceaccounts are not served")
	}
	attempts := 1
	if name == defaultServiceAccount {
		attempts = 10
	}
	interval := time.Duration(100+rand.IntN(100)) * time.Millisecond
	var sa corev1.ServiceAccount
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(interval):
			}
		}
		// "0" reads the watch cache; the store confirms a miss with etcd.
		err := h.store(res).Get(ctx, res.Key(namespace, name), "0", &sa)
		if err == nil {
			return &sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(res.GroupResource(), name)
}

// automount reports whether the pod gets an API token: the pod's
// automountServiceAccountToken wins over the account's; default yes.
func automount(pod *corev1.Pod, sa *corev1.ServiceAccount) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken mounts the projected API access volume in every init and
// regular container that has nothing at TokenMountPath yet, adding the
// volume (named volumeName unless the pod already has a kube-api-access-*
// one) when some container needs it.
func mountToken(pod *corev1.Pod, volumeName string) {
	hasVolume := false
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, tokenVolumePrefix) {
			volumeName, hasVolume = v.Name, true
			break
		}
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: TokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !mountsAt(&cs[i], TokenMountPath) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         volumeName,
			VolumeSource: corev1.VolumeSource{Projected: tokenVolumeSource()},
		})
	}
}

func mountsAt(c *corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// tokenVolumeSource is the kube-api-access projection: a bound token for
// the API audience, the cluster CA and the pod's namespace.
func tokenVolumeSource() *corev1.ProjectedVolumeSource {
	mode := corev1.ProjectedVolumeSourceDefaultMode
	expiration := int64(tokenExpirationSeconds)
	return &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &expiration}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path:     "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}
