package rest

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// acceptsPartial reports whether the client (e.g. client-go's metadata
// client, used by garbage collectors) asked for PartialObjectMetadata.
func acceptsPartial(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if !strings.Contains(accept, "as=PartialObjectMetadata") {
		return false // the common case, without splitting the header
	}
	for _, part := range strings.Split(accept, ",") {
		if strings.Contains(part, "as=PartialObjectMetadata") && strings.Contains(part, "g=meta.k8s.io") {
			return true
		}
		if strings.TrimSpace(part) != "" && !strings.Contains(part, "as=") {
			return false
		}
	}
	return false
}

// toPartial keeps only the metadata of an object or of a list's items.
// Other objects (Status) are returned unchanged.
func toPartial(obj runtime.Object) runtime.Object {
	if meta.IsListType(obj) {
		out := &metav1.PartialObjectMetadataList{}
		out.Kind, out.APIVersion = "PartialObjectMetadataList", "meta.k8s.io/v1"
		if lm, err := meta.ListAccessor(obj); err == nil {
			out.ResourceVersion, out.Continue, out.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
		}
		out.Items = []metav1.PartialObjectMetadata{}
		_ = meta.EachListItem(obj, func(o runtime.Object) error {
			if p, ok := partialOf(o); ok {
				p.TypeMeta = metav1.TypeMeta{}
				out.Items = append(out.Items, *p)
			}
			return nil
		})
		return out
	}
	if p, ok := partialOf(obj); ok {
		return p
	}
	return obj
}

func partialOf(obj runtime.Object) (*metav1.PartialObjectMetadata, bool) {
	if _, ok := obj.(*metav1.Status); ok {
		return nil, false
	}
	a, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil, false
	}
	om, ok := a.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, false
	}
	p := &metav1.PartialObjectMetadata{ObjectMeta: *om.DeepCopy()}
	p.Kind, p.APIVersion = "PartialObjectMetadata", "meta.k8s.io/v1"
	return p, true
}
