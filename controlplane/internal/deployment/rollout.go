package deployment

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Condition reasons, as upstream (kubectl and users match on them).
const (
	ReasonNewRSAvailable   = "NewReplicaSetAvailable"
	ReasonRSUpdated        = "ReplicaSetUpdated"
	ReasonNewRSCreated     = "NewReplicaSetCreated"
	ReasonFoundNewRS       = "FoundNewReplicaSet"
	ReasonTimedOut         = "ProgressDeadlineExceeded"
	ReasonPaused           = "DeploymentPaused"
	ReasonResumed          = "DeploymentResumed"
	ReasonMinAvailable     = "MinimumReplicasAvailable"
	ReasonMinUnavailable   = "MinimumReplicasUnavailable"
	defaultMaxSurgePercent = "25%"
)

// fenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against spec.replicas; both zero becomes maxUnavailable 1.
func fenceposts(d *appsv1.Deployment) (int32, int32) {
	surge := intstr.FromString(defaultMaxSurgePercent)
	unavail := intstr.FromString(defaultMaxSurgePercent)
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			unavail = *ru.MaxUnavailable
		}
	}
	n := int(replicas(d))
	s, err := intstr.GetScaledValueFromIntOrPercent(&surge, n, true)
	if err != nil {
		s = 0
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(&unavail, n, false)
	if err != nil {
		u = 0
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

func maxUnavailable(d *appsv1.Deployment) int32 {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || replicas(d) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, replicas(d))
}

func sumSpec(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rsReplicas(rs)
		}
	}
	return n
}

func active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func byCreation(rss []*appsv1.ReplicaSet) {
	slices.SortStableFunc(rss, func(a, b *appsv1.ReplicaSet) int {
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return cmpString(a.Name, b.Name)
		}
		if a.CreationTimestamp.Before(&b.CreationTimestamp) {
			return -1
		}
		return 1
	})
}

func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(slices.Clone(old), newRS)

	scaledUp, newRS, err := c.reconcileNew(ctx, d, all, newRS)
	if err != nil {
		return err
	}
	all[len(all)-1] = newRS
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaledDown, err := c.reconcileOld(ctx, d, all, old, newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

func (c *Controller) reconcileNew(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, *appsv1.ReplicaSet, error) {
	want := replicas(d)
	cur := rsReplicas(newRS)
	if cur == want {
		return false, newRS, nil
	}
	if cur > want {
		return c.scale(ctx, d, newRS, want)
	}
	surge, _ := fenceposts(d)
	total := sumSpec(all)
	maxTotal := want + surge
	if total >= maxTotal {
		return false, newRS, nil
	}
	n := cur + min(maxTotal-total, want-cur)
	return c.scale(ctx, d, newRS, n)
}

func (c *Controller) reconcileOld(ctx context.Context, d *appsv1.Deployment, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if sumSpec(old) == 0 {
		return false, nil
	}
	allPods := sumSpec(all)
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := allPods - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	old = slices.Clone(old)
	byCreation(old)

	// First scale down unhealthy replicas of old ReplicaSets: they don't count toward availability.
	var cleaned int32
	for i, rs := range old {
		if cleaned >= maxScaledDown {
			break
		}
		cur := rsReplicas(rs)
		if cur == 0 || cur <= rs.Status.AvailableReplicas {
			// Nothing unhealthy (a status that lags a scale-down can even
			// report more available replicas than the spec).
			continue
		}
		n := min(maxScaledDown-cleaned, cur-rs.Status.AvailableReplicas)
		if _, updated, err := c.scale(ctx, d, rs, cur-n); err != nil {
			return false, err
		} else {
			old[i] = updated
		}
		cleaned += n
	}
	// Then scale down old ReplicaSets while availability stays above the minimum.
	available := newRS.Status.AvailableReplicas
	for _, rs := range old {
		available += rs.Status.AvailableReplicas
	}
	var scaled int32
	if available > minAvailable {
		budget := available - minAvailable
		for _, rs := range old {
			if scaled >= budget {
				break
			}
			cur := rsReplicas(rs)
			if cur == 0 {
				continue
			}
			n := min(cur, budget-scaled)
			if _, _, err := c.scale(ctx, d, rs, cur-n); err != nil {
				return false, err
			}
			scaled += n
		}
	}
	return cleaned+scaled > 0, nil
}

func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := append(slices.Clone(old), newRS)
	scaledDown := false
	for _, rs := range active(old) {
		changed, _, err := c.scale(ctx, d, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || changed
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	running, err := c.oldPodsRunning(d, old)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if newRS == nil {
		newRS, old, err = c.newAndOld(ctx, d, rsList, true)
		if err != nil {
			return err
		}
		all = append(slices.Clone(old), newRS)
	}
	if _, updated, err := c.scale(ctx, d, newRS, replicas(d)); err != nil {
		return err
	} else {
		newRS = updated
		all[len(all)-1] = newRS
	}
	if complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet still exists
// in a non-terminal phase (terminating pods included).
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, old []*appsv1.ReplicaSet) (bool, error) {
	for _, rs := range old {
		if rs.Status.Replicas > 0 {
			return true, nil
		}
	}
	uids := map[string]bool{}
	for _, rs := range old {
		uids[string(rs.UID)] = true
	}
	pods, err := c.pods.Pods(d.Namespace).List(labels.Everything())
	if err != nil {
		return false, err
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || !uids[string(ref.UID)] {
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}

// isScalingEvent reports whether spec.replicas changed since the active
// ReplicaSets were last annotated.
func isScalingEvent(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) bool {
	want := strconv.Itoa(int(replicas(d)))
	for _, rs := range active(rsList) {
		if v, ok := rs.Annotations[DesiredReplicasAnnotation]; ok && v != want {
			return true
		}
	}
	return false
}

// syncScale handles paused deployments and scaling events: it scales the
// existing ReplicaSets proportionally without starting a new rollout.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newAndOld(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := append(slices.Clone(old), newRS)
	if err := c.scaleProportionally(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	if newRS == nil {
		all = all[:len(all)-1]
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

func (c *Controller) scaleProportionally(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	want := replicas(d)
	act := active(old)
	if newRS != nil && rsReplicas(newRS) > 0 {
		act = append(act, newRS)
	}
	if len(act) == 0 && newRS != nil {
		_, _, err := c.scale(ctx, d, newRS, want)
		return err
	}
	if len(act) == 1 {
		_, _, err := c.scale(ctx, d, act[0], want)
		return err
	}
	if len(act) == 0 {
		return nil
	}
	if newRS != nil && rsReplicas(newRS) == want && newRS.Status.AvailableReplicas == want {
		for _, rs := range act {
			if rs != newRS {
				if _, _, err := c.scale(ctx, d, rs, 0); err != nil {
					return err
				}
			}
		}
		return nil
	}
	allowed := want + maxSurge(d)
	current := sumSpec(act)
	toAdd := allowed - current
	if toAdd == 0 {
		// Still re-annotate so the scaling event is recorded as handled.
		for _, rs := range act {
			if _, _, err := c.scale(ctx, d, rs, rsReplicas(rs)); err != nil {
				return err
			}
		}
		return nil
	}
	// Largest first; each gets its proportional share, leftovers go to the first.
	slices.SortStableFunc(act, func(a, b *appsv1.ReplicaSet) int { return int(rsReplicas(b) - rsReplicas(a)) })
	sizes := make([]int32, len(act))
	var added int32
	for i, rs := range act {
		share := int32(float64(rsReplicas(rs)) * float64(toAdd) / float64(current))
		if toAdd < 0 {
			share = max(share, -rsReplicas(rs))
		}
		sizes[i] = rsReplicas(rs) + share
		added += share
	}
	sizes[0] = max(0, sizes[0]+toAdd-added)
	for i, rs := range act {
		if _, _, err := c.scale(ctx, d, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// calculateStatus sums the ReplicaSets' status into the Deployment's.
func calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	s := *d.Status.DeepCopy()
	s.ObservedGeneration = d.Generation
	s.Replicas, s.ReadyReplicas, s.AvailableReplicas, s.UpdatedReplicas = 0, 0, 0, 0
	var specSum int32
	for _, rs := range all {
		if rs == nil {
			continue
		}
		s.Replicas += rs.Status.Replicas
		s.ReadyReplicas += rs.Status.ReadyReplicas
		s.AvailableReplicas += rs.Status.AvailableReplicas
		specSum += rsReplicas(rs)
	}
	if newRS != nil {
		s.UpdatedReplicas = newRS.Status.Replicas
	}
	s.UnavailableReplicas = max(0, specSum-s.AvailableReplicas)
	if s.AvailableReplicas >= replicas(d)-maxUnavailable(d) {
		setCondition(&s, appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinAvailable, "Deployment has minimum availability.", now)
	} else {
		setCondition(&s, appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinUnavailable, "Deployment does not have minimum availability.", now)
	}
	return s
}

func getCondition(s *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition; an unchanged status and reason is left as
// is, an unchanged status keeps its lastTransitionTime.
func setCondition(s *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) {
	cur := getCondition(s, t)
	if cur != nil && cur.Status == status && cur.Reason == reason {
		return
	}
	nc := appsv1.DeploymentCondition{
		Type: t, Status: status, Reason: reason, Message: msg,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
	if cur != nil {
		if cur.Status == status {
			nc.LastTransitionTime = cur.LastTransitionTime
		}
		*cur = nc
		return
	}
	s.Conditions = append(s.Conditions, nc)
}

func removeCondition(s *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	s.Conditions = slices.DeleteFunc(s.Conditions, func(c appsv1.DeploymentCondition) bool { return c.Type == t })
}

func complete(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	n := replicas(d)
	return s.UpdatedReplicas == n && s.Replicas == n && s.AvailableReplicas == n && s.ObservedGeneration >= d.Generation
}

func progressing(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	o := d.Status
	return s.UpdatedReplicas > o.UpdatedReplicas ||
		s.Replicas-s.UpdatedReplicas < o.Replicas-o.UpdatedReplicas ||
		s.ReadyReplicas > o.ReadyReplicas ||
		s.AvailableReplicas > o.AvailableReplicas
}

func hasDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != int32(^uint32(0)>>1)
}

func timedOut(d *appsv1.Deployment, s *appsv1.DeploymentStatus, now time.Time) (bool, time.Duration) {
	if !hasDeadline(d) {
		return false, 0
	}
	cond := getCondition(s, appsv1.DeploymentProgressing)
	if cond == nil {
		return false, 0
	}
	if cond.Reason == ReasonTimedOut {
		return true, 0
	}
	if cond.Reason == ReasonNewRSAvailable {
		return false, 0
	}
	deadline := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return now.After(deadline), deadline.Sub(now)
}

// syncRolloutStatus computes status and the Progressing condition and
// writes them through the status subresource when they changed.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	now := c.now()
	s := calculateStatus(d, all, newRS, now)
	if !hasDeadline(d) {
		removeCondition(&s, appsv1.DeploymentProgressing)
	}
	cur := getCondition(&s, appsv1.DeploymentProgressing)
	if hasDeadline(d) && !d.Spec.Paused && newRS != nil && cur != nil && cur.Reason != ReasonPaused &&
		!strings.Contains(cur.Message, strconv.Quote(newRS.Name)) {
		// The condition is about an earlier ReplicaSet: a new rollout (or an
		// undo to an older ReplicaSet) starts a new progress window.
		reason, msg := ReasonFoundNewRS, fmt.Sprintf("Found new replica set %q", newRS.Name)
		if newRS.Status.ObservedGeneration == 0 {
			reason, msg = ReasonNewRSCreated, fmt.Sprintf("Created new replica set %q", newRS.Name)
		}
		t := metav1.NewTime(now)
		lt := t
		if cur.Status == corev1.ConditionTrue {
			lt = cur.LastTransitionTime
		}
		*cur = appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
			Reason: reason, Message: msg, LastUpdateTime: t, LastTransitionTime: lt}
	}
	isComplete := s.Replicas == s.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	var requeue time.Duration
	if hasDeadline(d) && !isComplete && !d.Spec.Paused && newRS != nil {
		switch {
		case complete(d, &s):
			setCondition(&s, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable,
				fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name), now)
		case progressing(d, &s) || cur == nil || cur.Reason == ReasonResumed:
			msg := fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
			reason := ReasonRSUpdated
			if cur == nil {
				reason, msg = ReasonNewRSCreated, fmt.Sprintf("Created new replica set %q", newRS.Name)
			}
			nc := appsv1.DeploymentCondition{
				Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
				LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
			}
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					nc.LastTransitionTime = cur.LastTransitionTime
				}
				*cur = nc
			} else {
				s.Conditions = append(s.Conditions, nc)
			}
			requeue = time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
		default:
			if out, left := timedOut(d, &s, now); out {
				if cur.Reason != ReasonTimedOut {
					c.recorder.Eventf(d, corev1.EventTypeWarning, ReasonTimedOut, "Deployment %q has timed out progressing.", d.Name)
				}
				setCondition(&s, appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonTimedOut,
					fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name), now)
			} else if left > 0 {
				requeue = left + time.Second
			}
		}
	}
	if err := c.writeStatus(ctx, d, s); err != nil {
		return err
	}
	if requeue > 0 {
		c.queue.AddAfter(d.Namespace+"/"+d.Name, requeue)
	}
	return nil
}

func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old := split(d, rsList)
	all := append(slices.Clone(old), newRS)
	if newRS == nil {
		all = old
	}
	return c.writeStatus(ctx, d, calculateStatus(d, all, newRS, c.now()))
}

// checkPausedConditions records pausing and resuming in the Progressing condition.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasDeadline(d) {
		return nil
	}
	cur := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cur != nil && cur.Reason == ReasonTimedOut {
		return nil
	}
	pausedCond := cur != nil && cur.Reason == ReasonPaused
	s := *d.Status.DeepCopy()
	now := c.now()
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&s, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", now)
	case !d.Spec.Paused && pausedCond:
		setCondition(&s, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", now)
	default:
		return nil
	}
	return c.writeStatus(ctx, d, s)
}

func (c *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment, s appsv1.DeploymentStatus) error {
	if apiequality.Semantic.DeepEqual(d.Status, s) {
		return nil
	}
	cp := d.DeepCopy()
	cp.Status = s
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	updated.DeepCopyInto(d)
	return nil
}
