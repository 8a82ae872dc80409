// Command registries is an admission policy that only allows pod images
// from listed registries. Settings:
//
//	{"registries": ["registry.example.com", "docker.io/library"]}
//
// An image matches a registry when it starts with it followed by "/".
// Images without a registry host are docker.io images
// ("busybox" is "docker.io/library/busybox").
package main

import (
	"fmt"
	"strings"

	"skiff.dev/plugins/sdk"
)

// Settings are the policy's settings.
type Settings struct {
	Registries []string `json:"registries"`
}

// Validate requires at least one registry.
func (s Settings) Validate() error {
	if len(s.Registries) == 0 {
		return fmt.Errorf("registries: at least one registry must be allowed")
	}
	return nil
}

// normalize spells out the registry of short image names.
func normalize(image string) string {
	first, rest, found := strings.Cut(image, "/")
	if !found {
		return "docker.io/library/" + image
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + first + "/" + rest
	}
	return image
}

func allowed(image string, registries []string) bool {
	img := normalize(image)
	for _, r := range registries {
		if strings.HasPrefix(img, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// Validate checks every container's image.
func Validate(req sdk.AdmissionRequest, s Settings) sdk.Response {
	if req.Kind.Kind != "Pod" || req.Operation == "DELETE" {
		return sdk.Allow()
	}
	var pod sdk.Pod
	if err := req.DecodeObject(&pod); err != nil {
		return sdk.Fail(err)
	}
	for _, cs := range [][]sdk.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if !allowed(c.Image, s.Registries) {
				return sdk.Denyf("image %q of container %q is not from an allowed registry (%s)",
					c.Image, c.Name, strings.Join(s.Registries, ", "))
			}
		}
	}
	return sdk.Allow()
}

func init() { sdk.HandleValidate(Validate) }

func main() {}
