package main

import (
	"testing"

	"skiff.dev/plugins/sdk"
)

func TestAllowed(t *testing.T) {
	regs := []string{"registry.example.com", "docker.io/library"}
	tests := []struct {
		image string
		want  bool
	}{
		{"busybox", true},
		{"busybox:1.36", true},
		{"library/busybox", true},
		{"someone/busybox", false},
		{"registry.example.com/team/app:v1", true},
		{"registry.example.com.evil.io/app", false},
		{"localhost:5000/app", false},
		{"quay.io/x/y", false},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			if got := allowed(tc.image, regs); got != tc.want {
				t.Fatalf("allowed(%q) = %v", tc.image, got)
			}
		})
	}
	if err := (Settings{}).Validate(); err == nil {
		t.Fatal("empty settings accepted")
	}
	req := sdk.AdmissionRequest{Kind: sdk.GroupVersionKind{Kind: "Pod"}, Operation: "CREATE",
		Object: []byte(`{"spec":{"containers":[{"name":"a","image":"quay.io/x/y"}]}}`)}
	if r := Validate(req, Settings{Registries: regs}); r.Allowed || r.Message == "" {
		t.Fatalf("response = %+v", r)
	}
}
