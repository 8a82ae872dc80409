package controller

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// OwnedPodHandler returns a pod event handler for a controller whose pods
// are owned by objects of kind: it records observed creations (pod added)
// and deletions (pod deleted, or given a deletionTimestamp) in exp and
// queues the owner's "namespace/name" key. ownerUID returns the UID of the
// named owner, or false when the lister does not have it; pods whose
// controller reference names another UID are ignored.
func OwnedPodHandler(kind string, ownerUID func(namespace, name string) (types.UID, bool), exp *Expectations, queue *Queue) cache.ResourceEventHandler {
	podEvent := func(obj any, created, deleted bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != kind {
			return
		}
		uid, ok := ownerUID(p.Namespace, ref.Name)
		if !ok || uid != ref.UID {
			return
		}
		k := p.Namespace + "/" + ref.Name
		if created {
			exp.CreationObserved(k)
		}
		if deleted {
			exp.DeletionObserved(k, string(p.UID))
		}
		queue.Add(k)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { podEvent(obj, true, false) },
		UpdateFunc: func(old, cur any) {
			podEvent(cur, false, cur.(*corev1.Pod).DeletionTimestamp != nil && old.(*corev1.Pod).DeletionTimestamp == nil)
		},
		DeleteFunc: func(obj any) { podEvent(obj, false, true) },
	}
}
