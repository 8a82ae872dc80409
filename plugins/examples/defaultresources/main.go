// Command defaultresources is a mutating admission policy that gives every
// container without resource requests default ones. Settings:
//
//	{"cpu": "100m", "memory": "64Mi"}
package main

import (
	"fmt"
	"strings"

	"skiff.dev/plugins/sdk"
)

// Settings are the default requests.
type Settings struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// Validate requires at least one default.
func (s Settings) Validate() error {
	if s.CPU == "" && s.Memory == "" {
		return fmt.Errorf("set cpu and/or memory")
	}
	return nil
}

// Mutate adds missing requests.
func Mutate(req sdk.AdmissionRequest, s Settings) sdk.Response {
	if req.Kind.Kind != "Pod" || req.Operation != "CREATE" {
		return sdk.Allow()
	}
	var pod sdk.Pod
	if err := req.DecodeObject(&pod); err != nil {
		return sdk.Fail(err)
	}
	var ops []sdk.PatchOp
	var changed []string
	for i, c := range pod.Spec.Containers {
		base := fmt.Sprintf("/spec/containers/%d/resources", i)
		want := map[string]string{}
		if s.CPU != "" && c.Resources.Requests["cpu"] == "" {
			want["cpu"] = s.CPU
		}
		if s.Memory != "" && c.Resources.Requests["memory"] == "" {
			want["memory"] = s.Memory
		}
		if len(want) == 0 {
			continue
		}
		changed = append(changed, c.Name)
		switch {
		case c.Resources.Requests != nil:
			for k, v := range want {
				ops = append(ops, sdk.PatchOp{Op: "add", Path: base + "/requests/" + k, Value: v})
			}
		case c.Resources.Limits != nil:
			ops = append(ops, sdk.PatchOp{Op: "add", Path: base + "/requests", Value: want})
		default:
			ops = append(ops, sdk.PatchOp{Op: "add", Path: base, Value: map[string]any{"requests": want}})
		}
	}
	if len(ops) == 0 {
		return sdk.Allow()
	}
	return sdk.Patched(ops...).WithWarning("default resource requests added to containers: " + strings.Join(changed, ", "))
}

func init() { sdk.HandleMutate(Mutate) }

func main() {}
