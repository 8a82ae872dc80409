package controlplane

import (
	"flag"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", []string{"--kubeconfig=x"}, ""},
		{"no kubeconfig", nil, "--kubeconfig is required"},
		{"unknown controller", []string{"--kubeconfig=x", "--controllers=*,-bogus"}, `unknown controller "-bogus"`},
		{"bad cidr", []string{"--kubeconfig=x", "--cluster-cidr=10.0.0.0/33"}, "invalid cluster CIDR"},
		{"mask too short", []string{"--kubeconfig=x", "--node-cidr-mask-size=8"}, "does not fit"},
		{"lease timings", []string{"--kubeconfig=x", "--leader-elect", "--leader-elect-renew-deadline=20s"}, "lease duration > renew deadline"},
		{"grace below period", []string{"--kubeconfig=x", "--node-monitor-grace-period=1s"}, "grace period must exceed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Defaults()
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		controllers []string
		name        string
		want        bool
	}{
		{[]string{"*"}, "job", true},
		{[]string{"*", "-job"}, "job", false},
		{[]string{"job"}, "job", true},
		{[]string{"job"}, "cronjob", false},
		{nil, "job", true},
	}
	for _, tc := range tests {
		o := Options{Controllers: tc.controllers}.withDefaults()
		if got := o.enabled(tc.name); got != tc.want {
			t.Errorf("%v enabled(%s) = %v, want %v", tc.controllers, tc.name, got, tc.want)
		}
	}
}
