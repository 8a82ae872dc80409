// Package defaultbinder is the DefaultBinder plugin: it binds a pod by
// POSTing a Binding to the pods/binding subresource.
package defaultbinder

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// Plugin implements framework.BindPlugin.
type Plugin struct {
	h framework.Handle
}

// New returns the plugin.
func New(h framework.Handle) *Plugin { return &Plugin{h: h} }

// Name returns "DefaultBinder".
func (*Plugin) Name() string { return names.DefaultBinder }

// Bind creates the Binding. A 409 means another scheduler (or a previous
// attempt) bound the pod first; the caller drops the pod.
func (p *Plugin) Bind(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	b := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	if err := post(ctx, p.h.ClientSet(), b); err != nil {
		return framework.AsStatus(fmt.Errorf("bind pod %s/%s to %s: %w", pod.Namespace, pod.Name, nodeName, err))
	}
	return nil
}

// post creates the Binding. With a real client it builds the request
// directly: the typed Bind encodes empty CreateOptions into query
// parameters through reflection, which costs more CPU than the request.
func post(ctx context.Context, cs kubernetes.Interface, b *v1.Binding) error {
	if rc, ok := cs.CoreV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc.Post().Namespace(b.Namespace).Resource("pods").Name(b.Name).SubResource("binding").
			Body(b).Do(ctx).Error()
	}
	return cs.CoreV1().Pods(b.Namespace).Bind(ctx, b, metav1.CreateOptions{})
}
