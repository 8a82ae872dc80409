package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestEtcdOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o etcdOptions)
	}{
		{
			name: "defaults: one member on its own peer URL",
			args: []string{"--name", "m0", "--data-dir", "/tmp/x"},
			check: func(t *testing.T, o etcdOptions) {
				if o.InitialCluster != "m0=http://127.0.0.1:2380" {
					t.Errorf("initial cluster %q", o.InitialCluster)
				}
				if o.AdvertiseClientURLs[0] != "http://127.0.0.1:2379" {
					t.Errorf("advertise client URLs %v", o.AdvertiseClientURLs)
				}
			},
		},
		{
			name: "three members",
			args: []string{"--name", "b", "--data-dir", "/tmp/x",
				"--listen-client-urls", "http://127.0.0.1:1001", "--listen-peer-urls", "http://127.0.0.1:1002",
				"--initial-cluster", "a=http://127.0.0.1:1000,b=http://127.0.0.1:1002,c=http://127.0.0.1:1004"},
			check: func(t *testing.T, o etcdOptions) {
				cfg, err := o.embedConfig()
				if err != nil {
					t.Fatalf("embed config: %v", err)
				}
				if cfg.AdvertisePeerUrls[0].String() != "http://127.0.0.1:1002" || cfg.ClusterState != "new" {
					t.Errorf("peer URLs %v, state %s", cfg.AdvertisePeerUrls, cfg.ClusterState)
				}
			},
		},
		{name: "member missing from the cluster", args: []string{"--name", "z", "--initial-cluster", "a=http://127.0.0.1:1000"}, wantErr: "no entry for --name"},
		{name: "https is not supported", args: []string{"--listen-client-urls", "https://127.0.0.1:1"}, wantErr: "only http"},
		{name: "port required", args: []string{"--listen-peer-urls", "http://127.0.0.1"}, wantErr: "port required"},
		{name: "bad state", args: []string{"--initial-cluster-state", "old"}, wantErr: "want new or existing"},
		{name: "election too short", args: []string{"--heartbeat-interval", "100ms", "--election-timeout", "200ms"}, wantErr: "election-timeout"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "log-level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var o etcdOptions
			o.addFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatalf("parse: %v", err)
			}
			err := o.validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			tc.check(t, o)
		})
	}
}
