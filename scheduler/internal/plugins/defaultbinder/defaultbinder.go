// Package defaultbinder is the DefaultBinder plugin: it binds a pod by
// POSTing a Binding to the pods/binding subresource.
package defaultbinder

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	if err := p.h.ClientSet().CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		return framework.AsStatus(fmt.Errorf("bind pod %s/%s to %s: %w", pod.Namespace, pod.Name, nodeName, err))
	}
	return nil
}
