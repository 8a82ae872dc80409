package rest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/apiserver/internal/registry"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// toScale describes an object's replicas as an autoscaling/v1 Scale.
func toScale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	var (
		m        metav1.ObjectMeta
		replicas *int32
		status   int32
		selector *metav1.LabelSelector
	)
	switch o := obj.(type) {
	case *appsv1.Deployment:
		m, replicas, status, selector = o.ObjectMeta, o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector
	case *appsv1.ReplicaSet:
		m, replicas, status, selector = o.ObjectMeta, o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector
	case *appsv1.StatefulSet:
		m, replicas, status, selector = o.ObjectMeta, o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector
	default:
		return nil, apierrors.NewInternalError(fmt.Errorf("%T has no scale subresource", obj))
	}
	s := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp},
		Status: autoscalingv1.ScaleStatus{Replicas: status},
	}
	s.Spec.Replicas = 1
	if replicas != nil {
		s.Spec.Replicas = *replicas
	}
	if selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err == nil {
			s.Status.Selector = sel.String()
		}
	}
	s.SetGroupVersionKind(scaleGVK)
	return s, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	}
}

func (h *Handler) scale(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	ctx := r.Context()
	switch info.Verb {
	case "get":
		cur := res.New()
		if err := h.store(res).Get(ctx, res.Key(info.Namespace, info.Name), r.URL.Query().Get("resourceVersion"), cur); err != nil {
			h.writeError(w, r, err)
			return
		}
		s, err := toScale(cur)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeObject(w, r, http.StatusOK, s)
		return
	case "update", "patch":
	default:
		h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb+" on scale"))
		return
	}
	body, fv, dryRun, err := readWrite(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	media := mediaType(r)
	out, _, warnings, err := h.updateObject(ctx, res, info, dryRun, func(current runtime.Object) (runtime.Object, error) {
		curScale, err := toScale(current)
		if err != nil {
			return nil, err
		}
		data := body
		if info.Verb == "patch" {
			cur, err := runtime.Encode(h.codecs.json, curScale)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			if data, err = patchJSON(media, cur, body, &autoscalingv1.Scale{}); err != nil {
				return nil, err
			}
			media = "application/json"
		}
		want, _, err := h.codecs.decode(data, media, scaleGVK, &autoscalingv1.Scale{}, fv)
		if err != nil {
			return nil, err
		}
		s := want.(*autoscalingv1.Scale)
		if s.Name != "" && s.Name != info.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", s.Name, info.Name))
		}
		if s.ResourceVersion != "" && s.ResourceVersion != curScale.ResourceVersion {
			return nil, apierrors.NewConflict(res.GroupResource(), info.Name, fmt.Errorf("%s", registryOptimisticLockMsg))
		}
		if s.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), info.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), s.Spec.Replicas, "must be greater than or equal to 0")})
		}
		obj := current.DeepCopyObject()
		setReplicas(obj, s.Spec.Replicas)
		return obj, nil
	})
	setWarnings(w, warnings)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	s, err := toScale(out)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeObject(w, r, http.StatusOK, s)
}

func successStatus(code int32) *metav1.Status {
	st := &metav1.Status{Status: metav1.StatusSuccess, Code: code}
	st.Kind, st.APIVersion = "Status", "v1"
	return st
}

// bind sets a pod's spec.nodeName once (pods/binding).
func (h *Handler) bind(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	body, err := readBody(r, MaxObjectBytes)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	obj, _, err := h.codecs.decode(body, mediaType(r), corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{}, fieldValidationIgnore)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	b := obj.(*corev1.Binding)
	if b.Name != "" && b.Name != info.Name {
		h.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the binding (%s) does not match the pod on the URL (%s)", b.Name, info.Name)))
		return
	}
	if b.Namespace != "" && b.Namespace != info.Namespace {
		h.writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	if b.Target.Name == "" {
		h.writeError(w, r, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), info.Name,
			field.ErrorList{field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		h.writeError(w, r, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), info.Name,
			field.ErrorList{field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"})}))
		return
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	assign := func(current runtime.Object) (runtime.Object, error) {
		pod := current.(*corev1.Pod).DeepCopy()
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(res.GroupResource(), info.Name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(res.GroupResource(), info.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", info.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(res.GroupResource(), info.Name, fmt.Errorf("pod %v is already assigned to node %q", info.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodScheduled(pod)
		return pod, nil
	}
	key := res.Key(info.Namespace, info.Name)
	if dryRun {
		cur := res.New()
		if err = h.store(res).Get(r.Context(), key, "", cur); err == nil {
			_, err = assign(cur)
		}
	} else {
		err = h.store(res).GuaranteedUpdate(r.Context(), key, res.New(), false, nil, assign)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeObject(w, r, http.StatusCreated, successStatus(http.StatusCreated))
}

func setPodScheduled(pod *corev1.Pod) {
	now := metav1.NewTime(time.Now())
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			if c.Status == corev1.ConditionTrue {
				return
			}
			pod.Status.Conditions[i] = cond
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}

// evict deletes a pod through pods/eviction (no disruption budgets yet).
func (h *Handler) evict(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	body, err := readBody(r, MaxObjectBytes)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	obj, _, err := h.codecs.decode(body, mediaType(r), policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{}, fieldValidationIgnore)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ev := obj.(*policyv1.Eviction)
	if ev.Name != "" && ev.Name != info.Name {
		h.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object")))
		return
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	opts.DryRun = append(opts.DryRun, r.URL.Query()["dryRun"]...)
	if _, _, err := h.deleteObject(r.Context(), res, info.Namespace, info.Name, opts); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeObject(w, r, http.StatusCreated, successStatus(http.StatusCreated))
}

// content uploads (PUT) or downloads (GET) a WasmModule's bytes.
func (h *Handler) content(w http.ResponseWriter, r *http.Request, res *registry.Resource, info requestInfo) {
	ctx := r.Context()
	key := res.Key("", info.Name)
	switch info.Verb {
	case "get":
		mod := &pluginsv1alpha1.WasmModule{}
		if err := h.store(res).Get(ctx, key, "", mod); err != nil {
			h.writeError(w, r, err)
			return
		}
		data, ok, err := h.opts.Content.Get(ctx, info.Name)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if !ok {
			e := apierrors.NewNotFound(res.GroupResource(), info.Name)
			e.ErrStatus.Message = fmt.Sprintf("the content of wasmmodule %q has not been uploaded", info.Name)
			h.writeError(w, r, e)
			return
		}
		w.Header().Set("Content-Type", "application/wasm")
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
	case "update":
		switch mt := mediaType(r); mt {
		case "application/wasm", "application/octet-stream":
		default:
			h.writeError(w, r, unsupportedMediaType(mt))
			return
		}
		data, err := readBody(r, pluginsv1alpha1.MaxModuleBytes)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		mod := &pluginsv1alpha1.WasmModule{}
		if err := h.store(res).Get(ctx, key, "", mod); err != nil {
			h.writeError(w, r, err)
			return
		}
		if err := checkContent(mod, data); err != nil {
			h.writeError(w, r, err)
			return
		}
		if dry, err := isDryRun(r); err != nil || dry {
			if err != nil {
				h.writeError(w, r, err)
				return
			}
			mod.Status.Uploaded = true
			mod.SetGroupVersionKind(res.GVK())
			h.writeObject(w, r, http.StatusOK, mod)
			return
		}
		if err := h.opts.Content.Put(ctx, info.Name, data); err != nil {
			h.writeError(w, r, err)
			return
		}
		out, err := h.markUploaded(ctx, res, key)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeObject(w, r, http.StatusOK, out)
	default:
		h.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb+" on content"))
	}
}

func checkContent(mod *pluginsv1alpha1.WasmModule, data []byte) error {
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	gk := pluginsv1alpha1.SchemeGroupVersion.WithKind("WasmModule").GroupKind()
	var errs field.ErrorList
	if mod.Spec.SHA256 != digest {
		errs = append(errs, field.Invalid(field.NewPath("spec", "sha256"), mod.Spec.SHA256,
			fmt.Sprintf("the uploaded content has sha256 %s", digest)))
	}
	if mod.Name != pluginsv1alpha1.ModuleNamePrefix+digest {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), mod.Name,
			fmt.Sprintf("the uploaded content's name would be %s%s", pluginsv1alpha1.ModuleNamePrefix, digest)))
	}
	if mod.Spec.Size != 0 && mod.Spec.Size != int64(len(data)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "size"), mod.Spec.Size,
			fmt.Sprintf("the uploaded content has %d bytes", len(data))))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(gk, mod.Name, errs)
	}
	return nil
}

func (h *Handler) markUploaded(ctx context.Context, res *registry.Resource, key string) (runtime.Object, error) {
	out := res.New()
	err := h.store(res).GuaranteedUpdate(ctx, key, out, false, nil, func(current runtime.Object) (runtime.Object, error) {
		mod := current.(*pluginsv1alpha1.WasmModule).DeepCopy()
		mod.Status.Uploaded = true
		return mod, nil
	})
	if err != nil {
		return nil, err
	}
	out.GetObjectKind().SetGroupVersionKind(res.GVK())
	return out, nil
}
