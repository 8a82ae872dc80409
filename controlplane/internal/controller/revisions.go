package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// ChangeCauseAnnotation is copied from the owner to its revisions (what
// `kubectl rollout history` prints).
const ChangeCauseAnnotation = "kubernetes.io/change-cause"

// RevisionOptions describes the owner whose template history is recorded.
type RevisionOptions struct {
	Client   kubernetes.Interface
	Owner    metav1.Object
	OwnerGVK schema.GroupVersionKind
	Selector *metav1.LabelSelector
	Template *corev1.PodTemplateSpec
	// Hash is the current template's controller-revision-hash.
	Hash string
	// Limit is how many old revisions to keep (revisionHistoryLimit).
	Limit int32
}

// EnsureRevision records the owner's current template as a
// ControllerRevision named <owner>-<hash> with the highest revision number
// (reusing and renumbering it when an old template comes back), and trims
// old revisions beyond Limit, the way DaemonSets and StatefulSets keep the
// history `kubectl rollout history` reads.
func EnsureRevision(ctx context.Context, o RevisionOptions) (*appsv1.ControllerRevision, error) {
	ns := o.Owner.GetNamespace()
	cli := o.Client.AppsV1().ControllerRevisions(ns)
	sel, err := metav1.LabelSelectorAsSelector(o.Selector)
	if err != nil {
		return nil, err
	}
	list, err := cli.List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list controllerrevisions: %w", err)
	}
	var owned []*appsv1.ControllerRevision
	var maxRev int64
	for i := range list.Items {
		r := &list.Items[i]
		if ref := metav1.GetControllerOf(r); ref != nil && ref.UID == o.Owner.GetUID() {
			owned = append(owned, r)
			maxRev = max(maxRev, r.Revision)
		}
	}
	name := o.Owner.GetName() + "-" + o.Hash
	var cur *appsv1.ControllerRevision
	for _, r := range owned {
		if r.Name == name {
			cur = r
		}
	}
	cause := o.Owner.GetAnnotations()[ChangeCauseAnnotation]
	switch {
	case cur == nil:
		tmpl, err := json.Marshal(o.Template)
		if err != nil {
			return nil, err
		}
		var raw map[string]any
		_ = json.Unmarshal(tmpl, &raw)
		raw["$patch"] = "replace"
		data, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": raw}})
		lbls := map[string]string{}
		for k, v := range o.Template.Labels {
			lbls[k] = v
		}
		lbls[appsv1.ControllerRevisionHashLabelKey] = o.Hash
		r := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ns, Labels: lbls,
				OwnerReferences: []metav1.OwnerReference{OwnerRef(o.Owner, o.OwnerGVK)},
			},
			Data:     runtime.RawExtension{Raw: data},
			Revision: maxRev + 1,
		}
		if cause != "" {
			r.Annotations = map[string]string{ChangeCauseAnnotation: cause}
		}
		created, err := cli.Create(ctx, r, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return cli.Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return nil, fmt.Errorf("create controllerrevision %s: %w", name, err)
		}
		cur = created
		owned = append(owned, created)
	case cur.Revision < maxRev:
		up := cur.DeepCopy()
		up.Revision = maxRev + 1
		if cause != "" {
			if up.Annotations == nil {
				up.Annotations = map[string]string{}
			}
			up.Annotations[ChangeCauseAnnotation] = cause
		}
		updated, err := cli.Update(ctx, up, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("renumber controllerrevision %s: %w", name, err)
		}
		cur = updated
	}
	// Trim: keep the current revision plus Limit others, newest first.
	slices.SortFunc(owned, func(a, b *appsv1.ControllerRevision) int { return int(b.Revision - a.Revision) })
	kept := 0
	for _, r := range owned {
		if r.Name == cur.Name {
			continue
		}
		if kept < int(o.Limit) {
			kept++
			continue
		}
		if err := cli.Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return cur, fmt.Errorf("delete old controllerrevision %s: %w", r.Name, err)
		}
	}
	return cur, nil
}
