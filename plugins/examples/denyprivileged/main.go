// Command denyprivileged is an admission policy that denies pods with
// privileged containers (init containers included). Settings:
//
//	{"exemptNamespaces": ["kube-system"]}
package main

import (
	"skiff.dev/plugins/sdk"
)

// Settings are the policy's settings.
type Settings struct {
	ExemptNamespaces []string `json:"exemptNamespaces,omitempty"`
}

// Validate denies privileged containers.
func Validate(req sdk.AdmissionRequest, s Settings) sdk.Response {
	for _, ns := range s.ExemptNamespaces {
		if ns == req.Namespace {
			return sdk.Allow()
		}
	}
	if req.Kind.Kind != "Pod" || req.Operation == "DELETE" {
		return sdk.Allow()
	}
	var pod sdk.Pod
	if err := req.DecodeObject(&pod); err != nil {
		return sdk.Fail(err)
	}
	for _, cs := range [][]sdk.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
				r := sdk.Denyf("container %q is privileged", c.Name)
				r.Code = 403
				return r
			}
		}
	}
	return sdk.Allow()
}

func init() { sdk.HandleValidate(Validate) }

func main() {}
