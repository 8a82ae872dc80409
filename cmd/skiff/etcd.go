package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// etcdOptions configures one member of an etcd cluster run by `skiff etcd`.
// The flag names are etcd's own, so a cluster of `skiff etcd` members is
// set up exactly like a cluster of etcd binaries. Client and peer traffic is
// plain HTTP: the command is meant for loopback clusters (tests, a single
// machine); use a real etcd deployment with TLS across machines.
type etcdOptions struct {
	// Name is the member's name in InitialCluster.
	Name string
	// DataDir holds the member's WAL and database.
	DataDir string
	// ListenClientURLs and AdvertiseClientURLs are where clients connect
	// (advertised defaults to listened).
	ListenClientURLs, AdvertiseClientURLs []string
	// ListenPeerURLs and InitialAdvertisePeerURLs are where the other
	// members connect (advertised defaults to listened).
	ListenPeerURLs, InitialAdvertisePeerURLs []string
	// InitialCluster is "name=peerURL,..." for every member at bootstrap
	// (default: this member alone).
	InitialCluster string
	// InitialClusterState is "new" when bootstrapping, "existing" when
	// joining a running cluster.
	InitialClusterState string
	// InitialClusterToken distinguishes clusters bootstrapped on the same
	// peer addresses.
	InitialClusterToken string
	// HeartbeatInterval and ElectionTimeout tune raft (etcd's defaults:
	// 100ms and 1s).
	HeartbeatInterval, ElectionTimeout time.Duration
	// QuotaBackendBytes caps the database size (default 2 GiB).
	QuotaBackendBytes int64
	// LogLevel is etcd's zap log level (debug, info, warn, error).
	LogLevel string
	// Logger receives skiff's own messages about the member.
	Logger *slog.Logger
}

func (o *etcdOptions) addFlags(fs *flag.FlagSet) {
	list := func(p *[]string) func(string) error {
		return func(s string) error {
			*p = nil
			for _, v := range strings.Split(s, ",") {
				if v = strings.TrimSpace(v); v != "" {
					*p = append(*p, v)
				}
			}
			return nil
		}
	}
	fs.StringVar(&o.Name, "name", "default", "human-readable name of this member")
	fs.StringVar(&o.DataDir, "data-dir", "", "directory for the member's WAL and database (default ~/.skiff/etcd/<name>)")
	fs.Func("listen-client-urls", "comma-separated URLs to serve clients on (default http://127.0.0.1:2379)", list(&o.ListenClientURLs))
	fs.Func("advertise-client-urls", "comma-separated client URLs advertised to the cluster (default: the listen URLs)", list(&o.AdvertiseClientURLs))
	fs.Func("listen-peer-urls", "comma-separated URLs to serve the other members on (default http://127.0.0.1:2380)", list(&o.ListenPeerURLs))
	fs.Func("initial-advertise-peer-urls", "comma-separated peer URLs advertised to the cluster (default: the listen URLs)", list(&o.InitialAdvertisePeerURLs))
	fs.StringVar(&o.InitialCluster, "initial-cluster", "", "name=peerURL,... for every member at bootstrap (default: this member alone)")
	fs.StringVar(&o.InitialClusterState, "initial-cluster-state", embed.ClusterStateFlagNew, "new (bootstrap) or existing (join a running cluster)")
	fs.StringVar(&o.InitialClusterToken, "initial-cluster-token", "skiff-etcd-cluster", "token that tells clusters bootstrapped on the same peer URLs apart")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 100*time.Millisecond, "raft heartbeat interval")
	fs.DurationVar(&o.ElectionTimeout, "election-timeout", time.Second, "raft election timeout")
	fs.Int64Var(&o.QuotaBackendBytes, "quota-backend-bytes", 2<<30, "database size limit in bytes")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "etcd log level: debug, info, warn or error")
}

// validate checks the options and fills defaults.
func (o *etcdOptions) validate() error {
	var errs []error
	if o.Name == "" {
		errs = append(errs, errors.New("--name must not be empty"))
	}
	if o.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			errs = append(errs, fmt.Errorf("--data-dir is required (no home directory: %w)", err))
		}
		o.DataDir = filepath.Join(home, ".skiff", "etcd", o.Name)
	}
	if len(o.ListenClientURLs) == 0 {
		o.ListenClientURLs = []string{"http://127.0.0.1:2379"}
	}
	if len(o.AdvertiseClientURLs) == 0 {
		o.AdvertiseClientURLs = o.ListenClientURLs
	}
	if len(o.ListenPeerURLs) == 0 {
		o.ListenPeerURLs = []string{"http://127.0.0.1:2380"}
	}
	if len(o.InitialAdvertisePeerURLs) == 0 {
		o.InitialAdvertisePeerURLs = o.ListenPeerURLs
	}
	for flagName, urls := range map[string][]string{
		"--listen-client-urls":          o.ListenClientURLs,
		"--advertise-client-urls":       o.AdvertiseClientURLs,
		"--listen-peer-urls":            o.ListenPeerURLs,
		"--initial-advertise-peer-urls": o.InitialAdvertisePeerURLs,
	} {
		if _, err := parseEtcdURLs(urls); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flagName, err))
		}
	}
	if o.InitialCluster == "" {
		parts := make([]string, len(o.InitialAdvertisePeerURLs))
		for i, u := range o.InitialAdvertisePeerURLs {
			parts[i] = o.Name + "=" + u
		}
		o.InitialCluster = strings.Join(parts, ",")
	} else if !strings.Contains(","+o.InitialCluster, ","+o.Name+"=") {
		errs = append(errs, fmt.Errorf("--initial-cluster %q has no entry for --name %q", o.InitialCluster, o.Name))
	}
	switch o.InitialClusterState {
	case embed.ClusterStateFlagNew, embed.ClusterStateFlagExisting:
	default:
		errs = append(errs, fmt.Errorf("--initial-cluster-state %q: want new or existing", o.InitialClusterState))
	}
	if o.HeartbeatInterval < time.Millisecond || o.ElectionTimeout < 5*o.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("--election-timeout (%s) must be at least 5 × --heartbeat-interval (%s), and the interval at least 1ms", o.ElectionTimeout, o.HeartbeatInterval))
	}
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.LogLevel))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

func parseEtcdURLs(ss []string) ([]url.URL, error) {
	out := make([]url.URL, 0, len(ss))
	for _, s := range ss {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("bad URL %q: %w", s, err)
		}
		if u.Scheme != "http" {
			return nil, fmt.Errorf("bad URL %q: only http is supported (loopback clusters)", s)
		}
		if u.Port() == "" {
			return nil, fmt.Errorf("bad URL %q: port required", s)
		}
		out = append(out, *u)
	}
	return out, nil
}

// embedConfig turns validated options into etcd's embed.Config.
func (o *etcdOptions) embedConfig() (*embed.Config, error) {
	cfg := embed.NewConfig()
	cfg.Name = o.Name
	cfg.Dir = o.DataDir
	var err error
	if cfg.ListenClientUrls, err = parseEtcdURLs(o.ListenClientURLs); err != nil {
		return nil, err
	}
	if cfg.AdvertiseClientUrls, err = parseEtcdURLs(o.AdvertiseClientURLs); err != nil {
		return nil, err
	}
	if cfg.ListenPeerUrls, err = parseEtcdURLs(o.ListenPeerURLs); err != nil {
		return nil, err
	}
	if cfg.AdvertisePeerUrls, err = parseEtcdURLs(o.InitialAdvertisePeerURLs); err != nil {
		return nil, err
	}
	cfg.InitialCluster = o.InitialCluster
	cfg.ClusterState = o.InitialClusterState
	cfg.InitialClusterToken = o.InitialClusterToken
	cfg.TickMs = uint(o.HeartbeatInterval / time.Millisecond)
	cfg.ElectionMs = uint(o.ElectionTimeout / time.Millisecond)
	cfg.QuotaBackendBytes = o.QuotaBackendBytes
	cfg.LogLevel = o.LogLevel
	// The apiserver's watch caches rely on progress notifications to keep
	// idle resources' revisions fresh.
	cfg.WatchProgressNotifyInterval = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("etcd config: %w", err)
	}
	return cfg, nil
}

// etcdCommand runs one etcd member: flags → etcdOptions → embed.StartEtcd.
func etcdCommand() command {
	return command{
		summary: "run one etcd member (plain HTTP, for loopback clusters and tests)",
		run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("skiff etcd", flag.ContinueOnError)
			var opts etcdOptions
			opts.addFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			if fs.NArg() > 0 {
				return fmt.Errorf("unexpected arguments: %v", fs.Args())
			}
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			if err := opts.validate(); err != nil {
				return err
			}
			return runEtcd(ctx, opts)
		},
	}
}

// runEtcd starts the member and serves until ctx ends or etcd fails.
func runEtcd(ctx context.Context, o etcdOptions) error {
	cfg, err := o.embedConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	start := time.Now()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd member %s: %w", o.Name, err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		o.Logger.Info("etcd member ready",
			slog.String("name", o.Name),
			slog.String("clientURLs", strings.Join(o.AdvertiseClientURLs, ",")),
			slog.String("peerURLs", strings.Join(o.InitialAdvertisePeerURLs, ",")),
			slog.Duration("took", time.Since(start)))
	case err := <-e.Err():
		return fmt.Errorf("etcd member %s: %w", o.Name, err)
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-e.Err():
		return fmt.Errorf("etcd member %s: %w", o.Name, err)
	case <-ctx.Done():
		o.Logger.Info("stopping etcd member", slog.String("name", o.Name))
		return nil
	}
}
