package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"skiff.dev/controlplane/internal/controller"
)

// Annotations the controller maintains, as upstream.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	lastAppliedAnnotation     = "kubectl.kubernetes.io/last-applied-configuration"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	rollbackToAnnotation      = "deprecated.deployment.rollback.to"
)

// TemplateHash is the pod-template-hash of a template and collision count.
func TemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(t)
	h.Write(b)
	if collisionCount != nil {
		fmt.Fprintf(h, "/%d", *collisionCount)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// equalIgnoreHash compares two templates ignoring the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

func revision(rs *appsv1.ReplicaSet) int64 {
	v, err := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// split returns the ReplicaSet whose template matches d (oldest first on
// ties) and the others.
func split(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	sorted := slices.Clone(rsList)
	slices.SortStableFunc(sorted, func(a, b *appsv1.ReplicaSet) int {
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return cmpString(a.Name, b.Name)
		}
		if a.CreationTimestamp.Before(&b.CreationTimestamp) {
			return -1
		}
		return 1
	})
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func maxSurge(d *appsv1.Deployment) int32 {
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType && d.Spec.Strategy.Type != "" {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

// annotationsFor computes the annotations a ReplicaSet of d should carry.
func annotationsFor(d *appsv1.Deployment, rs *appsv1.ReplicaSet, rev string, exists bool) map[string]string {
	out := maps.Clone(rs.Annotations)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range d.Annotations {
		switch k {
		case lastAppliedAnnotation, RevisionAnnotation, revisionHistoryAnnotation, DesiredReplicasAnnotation, MaxReplicasAnnotation, rollbackToAnnotation:
			continue
		}
		out[k] = v
	}
	old := out[RevisionAnnotation]
	if cur, err := strconv.ParseInt(old, 10, 64); err != nil || !exists || cur < mustInt(rev) {
		out[RevisionAnnotation] = rev
	}
	out[DesiredReplicasAnnotation] = strconv.Itoa(int(replicas(d)))
	out[MaxReplicasAnnotation] = strconv.Itoa(int(replicas(d) + maxSurge(d)))
	return out
}

func mustInt(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

// newAndOld finds (and when create is set, creates) the new ReplicaSet,
// syncing revision annotations on it and on the Deployment.
func (c *Controller) newAndOld(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	newRS, old := split(d, rsList)
	var maxRev int64
	for _, rs := range old {
		maxRev = max(maxRev, revision(rs))
	}
	rev := strconv.FormatInt(maxRev+1, 10)

	switch {
	case newRS != nil:
		ann := annotationsFor(d, newRS, rev, true)
		if !maps.Equal(ann, newRS.Annotations) {
			cp := newRS.DeepCopy()
			cp.Annotations = ann
			updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
			if err != nil {
				return nil, nil, fmt.Errorf("update annotations of replicaset %s: %w", cp.Name, err)
			}
			newRS = updated
		}
	case create:
		created, err := c.createReplicaSet(ctx, d, rev)
		if err != nil {
			return nil, nil, err
		}
		newRS = created
	}
	if newRS != nil {
		if err := c.setDeploymentRevision(ctx, d, newRS.Annotations[RevisionAnnotation]); err != nil {
			return nil, nil, err
		}
	}
	return newRS, old, nil
}

func (c *Controller) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, rev string) error {
	if d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	cp := d.DeepCopy()
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[RevisionAnnotation] = rev
	updated, err := c.client.AppsV1().Deployments(d.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("set revision of deployment %s: %w", d.Name, err)
	}
	updated.DeepCopyInto(d)
	return nil
}

func (c *Controller) createReplicaSet(ctx context.Context, d *appsv1.Deployment, rev string) (*appsv1.ReplicaSet, error) {
	hash := TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl := *d.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	zero := int32(0)
	ref := controller.OwnerRef(d, gvk)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{ref},
			Labels:          maps.Clone(tmpl.Labels),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &zero,
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        tmpl,
		},
	}
	rs.Annotations = annotationsFor(d, rs, rev, false)
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == d.UID && equalIgnoreHash(&existing.Spec.Template, &d.Spec.Template) {
			return existing, nil
		}
		// Hash collision: bump the collision count so the next hash differs.
		cp := d.DeepCopy()
		n := int32(0)
		if cp.Status.CollisionCount != nil {
			n = *cp.Status.CollisionCount
		}
		n++
		cp.Status.CollisionCount = &n
		if _, uerr := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("replicaset name %s collides, collisionCount now %d", rs.Name, n)
	}
	if err != nil {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "FailedCreate", "Failed to create new replica set %q: %v", rs.Name, err)
		return nil, fmt.Errorf("create replicaset %s: %w", rs.Name, err)
	}
	return created, nil
}

// scale sets rs.spec.replicas to n (and the replica annotations).
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	cur := rsReplicas(rs)
	desired := strconv.Itoa(int(replicas(d)))
	maxR := strconv.Itoa(int(replicas(d) + maxSurge(d)))
	if cur == n && rs.Annotations[DesiredReplicasAnnotation] == desired && rs.Annotations[MaxReplicasAnnotation] == maxR {
		return false, rs, nil
	}
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &n
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[DesiredReplicasAnnotation] = desired
	cp.Annotations[MaxReplicasAnnotation] = maxR
	updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scale replicaset %s to %d: %w", rs.Name, n, err)
	}
	if cur != n {
		dir := "up"
		if n < cur {
			dir = "down"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", dir, rs.Name, cur, n)
	}
	return cur != n, updated, nil
}

// cleanup deletes old, fully scaled-down ReplicaSets beyond
// spec.revisionHistoryLimit (default 10), oldest revision first.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	limit := int32(10)
	if d.Spec.RevisionHistoryLimit != nil {
		limit = *d.Spec.RevisionHistoryLimit
	}
	var dead []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			dead = append(dead, rs)
		}
	}
	excess := len(dead) - int(limit)
	if excess <= 0 {
		return nil
	}
	slices.SortStableFunc(dead, func(a, b *appsv1.ReplicaSet) int { return int(revision(a) - revision(b)) })
	for _, rs := range dead {
		if excess == 0 {
			break
		}
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &rs.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %s: %w", rs.Name, err)
		}
		excess--
	}
	return nil
}
