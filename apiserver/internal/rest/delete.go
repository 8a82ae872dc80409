package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/storage"
)

// protectedNamespace reports whether a namespace may never be deleted.
func protectedNamespace(name string) bool {
	switch name {
	case metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic:
		return true
	}
	return false
}

// deleteOptions reads DeleteOptions from the body or the query.
func (h *Handler) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r, MaxObjectBytes)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 && mediaType(r) == "application/vnd.kubernetes.protobuf" {
		if _, _, err := h.codecs.metaProto.Decode(body, nil, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	} else if len(body) > 0 {
		if err := json.Unmarshal(body, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	}
	q := r.URL.Query()
	if s := q.Get("gracePeriodSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", s))
		}
		opts.GracePeriodSeconds = &n
	}
	if s := q.Get("propagationPolicy"); s != "" {
		p := metav1.DeletionPropagation(s)
		opts.PropagationPolicy = &p
	}
	if s := q.Get("orphanDependents"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid orphanDependents %q", s))
		}
		opts.OrphanDependents = &b //nolint:staticcheck // still honoured for old clients
	}
	opts.DryRun = append(opts.DryRun, q["dryRun"]...)
	for _, v := range opts.DryRun {
		if v != "All" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q (only \"All\")", v))
		}
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: unsupported value %q", *p))
		}
		if opts.OrphanDependents != nil { //nolint:staticcheck
			return nil, apierrors.NewBadRequest("orphanDependents and propagationPolicy may not both be set")
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, nil
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	if res.Namespaced && info.Namespace == "" {
		h.notFound(w, r)
		return
	}
	opts, err := h.deleteOptions(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, deleted, err := h.deleteObject(r.Context(), res, info.Namespace, info.Name, opts)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeDeleted(w, r, res, out, deleted)
}

func (h *Handler) writeDeleted(w http.ResponseWriter, r *http.Request, res *registry.Resource, out runtime.Object, deleted bool) {
	if !deleted || res.GVR.Resource == "pods" {
		out.GetObjectKind().SetGroupVersionKind(res.GVK())
		h.writeObject(w, r, http.StatusOK, out)
		return
	}
	m, _ := meta.Accessor(out)
	st := &metav1.Status{
		Status: metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name: m.GetName(), Group: res.GVR.Group, Kind: res.GVR.Resource, UID: m.GetUID(),
		},
	}
	st.Kind, st.APIVersion = "Status", "v1"
	h.writeObject(w, r, http.StatusOK, st)
}

// deleteObject deletes one object, or marks it for deletion when
// finalizers or a grace period keep it. deleted is true when it is gone.
func (h *Handler) deleteObject(ctx context.Context, res *registry.Resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	key := res.Key(namespace, name)
	dryRun := len(opts.DryRun) > 0
	cur := res.New()
	if err := h.store(res).Get(ctx, key, "", cur); err != nil {
		return nil, false, err
	}
	m, err := accessor(cur)
	if err != nil {
		return nil, false, err
	}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != m.GetUID() {
			return nil, false, apierrors.NewConflict(res.GroupResource(), name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
			return nil, false, apierrors.NewConflict(res.GroupResource(), name,
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
		}
	}
	if res.GVR.Resource == "namespaces" && protectedNamespace(name) {
		return nil, false, apierrors.NewForbidden(res.GroupResource(), name, fmt.Errorf("this namespace may not be deleted"))
	}
	if h.admissionHandles(res, "", admissionv1.Delete) {
		if _, err := h.validateAdmission(ctx, admissionv1.Delete, res, "", nil, cur, dryRun); err != nil {
			return nil, false, err
		}
	}

	// What keeps the object around?
	finalizers := slices.Clone(m.GetFinalizers())
	orphan := opts.OrphanDependents != nil && *opts.OrphanDependents //nolint:staticcheck
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationForeground:
			finalizers = addFinalizer(finalizers, metav1.FinalizerDeleteDependents)
			finalizers = slices.DeleteFunc(finalizers, func(f string) bool { return f == metav1.FinalizerOrphanDependents })
		case metav1.DeletePropagationOrphan:
			orphan = true
		case metav1.DeletePropagationBackground:
			finalizers = slices.DeleteFunc(finalizers, func(f string) bool {
				return f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents
			})
		}
	}
	if orphan {
		finalizers = addFinalizer(finalizers, metav1.FinalizerOrphanDependents)
	}
	grace := gracePeriod(cur, opts)
	nsPending := false
	if ns, ok := cur.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		nsPending = true
	}
	if len(finalizers) == 0 && grace == 0 && !nsPending {
		if dryRun {
			return cur, true, nil
		}
		uid := m.GetUID()
		pre := &storage.Preconditions{UID: &uid}
		if p := opts.Preconditions; p != nil && p.ResourceVersion != nil {
			pre.ResourceVersion = p.ResourceVersion
		}
		out := res.New()
		if err := h.store(res).Delete(ctx, key, out, pre, nil); err != nil {
			return nil, false, err
		}
		h.afterDelete(ctx, res, out)
		return out, true, nil
	}
	// Graceful: set deletionTimestamp (or shorten the grace period) and finalizers.
	mark := func(current runtime.Object) (runtime.Object, error) {
		obj := current.DeepCopyObject()
		om, err := accessor(obj)
		if err != nil {
			return nil, err
		}
		if om.GetUID() != m.GetUID() {
			return nil, apierrors.NewConflict(res.GroupResource(), name, fmt.Errorf("the object was replaced while it was being deleted"))
		}
		now := time.Now()
		om.SetFinalizers(finalizers)
		g := grace
		if old := om.GetDeletionGracePeriodSeconds(); om.GetDeletionTimestamp() != nil && old != nil && *old < g {
			g = *old
		}
		if om.GetDeletionTimestamp() == nil || (om.GetDeletionGracePeriodSeconds() != nil && g < *om.GetDeletionGracePeriodSeconds()) {
			ts := metav1.NewTime(now.Add(time.Duration(g) * time.Second))
			om.SetDeletionTimestamp(&ts)
		}
		om.SetDeletionGracePeriodSeconds(&g)
		if ns, ok := obj.(*corev1.Namespace); ok {
			ns.Status.Phase = corev1.NamespaceTerminating
		}
		return obj, nil
	}
	if dryRun {
		out, err := mark(cur)
		return out, false, err
	}
	out := res.New()
	if err := h.store(res).GuaranteedUpdate(ctx, key, out, false, nil, mark); err != nil {
		return nil, false, err
	}
	om, err := accessor(out)
	if err != nil {
		return nil, false, err
	}
	if shouldDeleteAfterUpdate(om) {
		uid := om.GetUID()
		gone := res.New()
		if err := h.store(res).Delete(ctx, key, gone, &storage.Preconditions{UID: &uid}, nil); err != nil && !apierrors.IsNotFound(err) {
			return nil, false, err
		}
		h.afterDelete(ctx, res, gone)
		return gone, true, nil
	}
	return out, false, nil
}

func addFinalizer(fs []string, f string) []string {
	if slices.Contains(fs, f) {
		return fs
	}
	return append(fs, f)
}

// gracePeriod returns how long a delete waits: only pods bound to a node
// and not finished are deleted gracefully.
func gracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		return *opts.GracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// afterDelete releases what a deleted object held.
func (h *Handler) afterDelete(ctx context.Context, res *registry.Resource, obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Service:
		h.releaseServiceIPs(ctx, o)
	case *pluginsv1alpha1.WasmModule:
		if h.opts.Content != nil {
			if err := h.opts.Content.Delete(ctx, o.Name); err != nil {
				h.log.Warn("delete module content", "module", o.Name, "err", err)
			}
		}
	}
}

func (h *Handler) deleteCollection(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	if res.Namespaced && info.Namespace == "" {
		h.notFound(w, r)
		return
	}
	lopts, err := listOptions(r, res)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	lopts.Predicate.Limit, lopts.Predicate.Continue = 0, ""
	dopts, err := h.deleteOptions(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	list := res.NewList()
	if err := h.store(res).List(r.Context(), res.CollectionKey(info.Namespace), lopts, list); err != nil {
		h.writeError(w, r, err)
		return
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		h.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	for _, item := range items {
		m, err := accessor(item)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if _, _, err := h.deleteObject(r.Context(), res, m.GetNamespace(), m.GetName(), dopts); err != nil && !apierrors.IsNotFound(err) {
			h.writeError(w, r, err)
			return
		}
	}
	st := &metav1.Status{Status: metav1.StatusSuccess}
	st.Kind, st.APIVersion = "Status", "v1"
	h.writeObject(w, r, http.StatusOK, st)
}
