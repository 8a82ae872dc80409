// Command requiredlabels is an admission policy that denies objects missing
// required labels. Settings can differ per namespace:
//
//	{"labels": ["team"], "namespaces": {"prod": ["team", "cost-center"]}}
//
// A namespace listed under "namespaces" uses its own list instead of
// "labels".
package main

import (
	"fmt"
	"sort"
	"strings"

	"skiff.dev/plugins/sdk"
)

// Settings are the policy's settings.
type Settings struct {
	Labels     []string            `json:"labels"`
	Namespaces map[string][]string `json:"namespaces,omitempty"`
}

// Validate rejects settings that require nothing.
func (s Settings) Validate() error {
	if len(s.Labels) == 0 && len(s.Namespaces) == 0 {
		return fmt.Errorf("labels: at least one required label must be listed")
	}
	for _, l := range s.Labels {
		if l == "" {
			return fmt.Errorf("labels: empty label name")
		}
	}
	return nil
}

// Validate checks the object's labels.
func Validate(req sdk.AdmissionRequest, s Settings) sdk.Response {
	if req.Operation == "DELETE" {
		return sdk.Allow()
	}
	meta, err := req.ObjectMeta() // reads only metadata: cheaper than DecodeObject
	if err != nil {
		return sdk.Fail(err)
	}
	required := s.Labels
	if ns, ok := s.Namespaces[req.Namespace]; ok {
		required = ns
	}
	var missing []string
	for _, l := range required {
		if _, ok := meta.Labels[l]; !ok {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return sdk.Denyf("missing required labels: %s", strings.Join(missing, ", "))
	}
	return sdk.Allow()
}

func init() { sdk.HandleValidate(Validate) }

func main() {}
