// Package sdk is the guest side of skiff's plugin ABI for Go: a plugin is a
// main package built with the standard toolchain,
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm .
//
// that registers its handlers in init. The SDK owns the ABI exports
// (skiff_alloc, skiff_abi_version, validate, mutate, validate_settings,
// filter, score, skiff_node_fields), memory management, JSON and the binary
// scheduling batch, so an admission policy is just
//
//	type Settings struct{ Labels []string `json:"labels"` }
//
//	func Validate(req sdk.AdmissionRequest, s Settings) sdk.Response {
//		var obj sdk.Object
//		if err := req.DecodeObject(&obj); err != nil {
//			return sdk.Fail(err)
//		}
//		...
//		return sdk.Allow()
//	}
//
//	func init() { sdk.HandleValidate(Validate) }
//	func main() {}
//
// Settings are decoded from the policy's settings with unknown fields
// rejected; if the settings type has a Validate() error method it is called
// too. validate_settings runs both when the policy is loaded, so bad
// settings are rejected before any request sees them. Decoded settings are
// cached between calls.
//
// The handler code (this file and handlers.go) also compiles for the host,
// so policies can be unit-tested with go test; only the exports are
// wasip1-specific.
package sdk

import (
	"encoding/json"
	"fmt"

	"skiff.dev/plugins/abi"
)

// GroupVersionKind names a kind.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// GroupVersionResource names a resource.
type GroupVersionResource struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

// UserInfo is the requesting user.
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// AdmissionRequest has the shape of a Kubernetes AdmissionReview request
// (admission.k8s.io/v1). Object, OldObject and Options are raw JSON that
// alias the call's input buffer (valid during the call; copy to keep);
// decode them with DecodeObject/DecodeOldObject into a type with just the
// fields you need.
type AdmissionRequest struct {
	UID         string               `json:"uid"`
	Kind        GroupVersionKind     `json:"kind"`
	Resource    GroupVersionResource `json:"resource"`
	SubResource string               `json:"subResource,omitempty"`
	Name        string               `json:"name,omitempty"`
	Namespace   string               `json:"namespace,omitempty"`
	// Operation is CREATE, UPDATE, DELETE or CONNECT.
	Operation string          `json:"operation"`
	UserInfo  UserInfo        `json:"userInfo"`
	Object    json.RawMessage `json:"object,omitempty"`
	OldObject json.RawMessage `json:"oldObject,omitempty"`
	DryRun    *bool           `json:"dryRun,omitempty"`
	Options   json.RawMessage `json:"options,omitempty"`
}

// DecodeObject decodes the request's object into v.
func (r *AdmissionRequest) DecodeObject(v any) error {
	if len(r.Object) == 0 {
		return fmt.Errorf("request has no object")
	}
	return json.Unmarshal(r.Object, v)
}

// DecodeOldObject decodes the request's old object into v.
func (r *AdmissionRequest) DecodeOldObject(v any) error {
	if len(r.OldObject) == 0 {
		return fmt.Errorf("request has no old object")
	}
	return json.Unmarshal(r.OldObject, v)
}

// ObjectMeta is the part of metadata policies usually need.
type ObjectMeta struct {
	Name         string            `json:"name,omitempty"`
	GenerateName string            `json:"generateName,omitempty"`
	Namespace    string            `json:"namespace,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Object is any object's kind and metadata.
type Object struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Metadata   ObjectMeta `json:"metadata"`
}

// Pod is a light core/v1 Pod with the fields policies commonly inspect.
type Pod struct {
	Object
	Spec PodSpec `json:"spec"`
}

// PodSpec is a light core/v1 PodSpec.
type PodSpec struct {
	Containers     []Container       `json:"containers,omitempty"`
	InitContainers []Container       `json:"initContainers,omitempty"`
	NodeSelector   map[string]string `json:"nodeSelector,omitempty"`
	HostNetwork    bool              `json:"hostNetwork,omitempty"`
	HostPID        bool              `json:"hostPID,omitempty"`
	SchedulerName  string            `json:"schedulerName,omitempty"`
	Tolerations    []Toleration      `json:"tolerations,omitempty"`
}

// Toleration is a core/v1 Toleration.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
}

// Container is a light core/v1 Container.
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	SecurityContext *SecurityContext     `json:"securityContext,omitempty"`
}

// ResourceRequirements holds quantities as strings ("100m", "64Mi").
type ResourceRequirements struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

// SecurityContext is a light core/v1 SecurityContext.
type SecurityContext struct {
	Privileged               *bool `json:"privileged,omitempty"`
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation,omitempty"`
	RunAsNonRoot             *bool `json:"runAsNonRoot,omitempty"`
}

// PatchOp is one RFC 6902 JSON Patch operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from,omitempty"`
	Value any    `json:"value,omitempty"`
}

// Response is an admission verdict.
type Response struct {
	Allowed  bool
	Message  string
	Code     int32
	Warnings []string
	// Patch mutates the object (mutate handlers only).
	Patch []PatchOp
	// Err marks a failure of the policy itself (not a denial): the
	// policy's failurePolicy decides what happens to the request.
	Err error
}

// Allow allows the request.
func Allow() Response { return Response{Allowed: true} }

// Deny denies the request with a message (HTTP 400 unless Code is set).
func Deny(msg string) Response { return Response{Message: msg} }

// Denyf denies the request with a formatted message.
func Denyf(format string, args ...any) Response { return Deny(fmt.Sprintf(format, args...)) }

// Fail reports that the policy could not decide.
func Fail(err error) Response { return Response{Err: err} }

// Patched allows the request with a patch.
func Patched(ops ...PatchOp) Response { return Response{Allowed: true, Patch: ops} }

// WithWarning returns r with a warning added.
func (r Response) WithWarning(w string) Response {
	r.Warnings = append(r.Warnings, w)
	return r
}

// Scheduling types are the ABI's.
type (
	// Node is a candidate node. Its strings alias the call's input buffer:
	// copy them (strings.Clone) to keep them beyond the call.
	Node = abi.Node
	// Resources are milli-CPU, memory bytes and pods.
	Resources = abi.Resources
	// ExtendedResource is an extended resource of a node.
	ExtendedResource = abi.ExtendedResource
	// Label is a node label.
	Label = abi.Label
	// Taint is a node taint.
	Taint = abi.Taint
	// Quantity is a named amount.
	Quantity = abi.Quantity
	// FilterResult is a filter verdict for one node.
	FilterResult = abi.FilterResult
)

// Node field groups for HandleFilter/HandleScore.
const (
	NodeResources = abi.FieldResources
	NodeExtended  = abi.FieldExtended
	NodeLabels    = abi.FieldLabels
	NodeTaints    = abi.FieldTaints
)

// Filter result codes.
const (
	Feasible                     = abi.FilterSuccess
	Unschedulable                = abi.FilterUnschedulable
	UnschedulableAndUnresolvable = abi.FilterUnschedulableAndUnresolvable
)

// SchedulingRequest is one scheduling cycle: a pod and its candidate nodes.
type SchedulingRequest struct {
	// PodJSON is the pod as Kubernetes JSON; Pod decodes it.
	PodJSON []byte
	// PodRequests are the pod's effective requests, computed by the host.
	PodRequests Resources
	// PodExtended are the pod's extended resource requests.
	PodExtended []Quantity
	// Nodes are the candidates, in the order results must follow. The
	// request and its nodes are reused by the next call: do not keep them.
	Nodes []Node
	pod   *Pod

	scores  []int64
	results []FilterResult
}

// Scores returns a zeroed slice with one score per node for a score
// handler to fill and return. It is reused by the next call (as the
// request is), so a handler that returns it allocates nothing: in a Go
// guest the garbage collector is dear.
func (r *SchedulingRequest) Scores() []int64 {
	r.scores = resize(r.scores, len(r.Nodes))
	clear(r.scores)
	return r.scores
}

// FilterResults returns a zeroed slice (every node Feasible) with one
// result per node for a filter handler to fill and return; reused like
// Scores.
func (r *SchedulingRequest) FilterResults() []FilterResult {
	r.results = resize(r.results, len(r.Nodes))
	clear(r.results)
	return r.results
}

// resize returns s with length n, reusing its capacity.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n, n+n/4)
}

// Pod decodes the pod (once).
func (r *SchedulingRequest) Pod() (*Pod, error) {
	if r.pod == nil {
		var p Pod
		if err := json.Unmarshal(r.PodJSON, &p); err != nil {
			return nil, fmt.Errorf("decode pod: %w", err)
		}
		r.pod = &p
	}
	return r.pod, nil
}

// PodExtendedRequest returns the pod's request of an extended resource.
func (r *SchedulingRequest) PodExtendedRequest(name string) int64 {
	for _, q := range r.PodExtended {
		if q.Name == name {
			return q.Value
		}
	}
	return 0
}

// NodeLabel returns a node label's value.
func NodeLabel(n *Node, key string) (string, bool) {
	for _, l := range n.Labels {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", false
}

// NodeResource returns a node's extended resource.
func NodeResource(n *Node, name string) (ExtendedResource, bool) {
	for _, e := range n.Extended {
		if e.Name == name {
			return e, true
		}
	}
	return ExtendedResource{}, false
}
