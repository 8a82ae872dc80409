// Package etcd runs an embedded single-member etcd server for the apiserver
// and dials external etcd clusters (--etcd-servers). The embedded server is
// tuned for a small, latency-sensitive control plane: quiet logs, a short
// raft snapshot interval to bound memory, and loopback-only listeners.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc"
	"go.etcd.io/etcd/server/v3/proxy/grpcproxy/adapter"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options configures an embedded etcd server.
type Options struct {
	// DataDir holds the member's WAL and database. Required.
	DataDir string
	// ClientURL is the client listen URL, e.g. "http://127.0.0.1:2379".
	// Empty picks a free 127.0.0.1 port.
	ClientURL string
	// PeerURL is the peer listen URL. Empty picks a free 127.0.0.1 port.
	PeerURL string
	// MaxRequestBytes caps one request (and thus one stored object);
	// default 4 MiB.
	MaxRequestBytes uint
	// QuotaBackendBytes caps the database size; default 2 GiB.
	QuotaBackendBytes int64
	// StartTimeout bounds the wait for the server to become ready;
	// default 30s.
	StartTimeout time.Duration
	// Logger receives skiff's own messages about etcd; etcd's internal zap
	// logs go to stderr at error level only. Default slog.Default().
	Logger *slog.Logger
}

// Validate checks the options and fills defaults.
func (o *Options) Validate() error {
	if o.DataDir == "" {
		return errors.New("etcd: DataDir is required")
	}
	for _, u := range []string{o.ClientURL, o.PeerURL} {
		if u == "" {
			continue
		}
		if _, err := parseURL(u); err != nil {
			return err
		}
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = 4 << 20
	}
	if o.QuotaBackendBytes == 0 {
		o.QuotaBackendBytes = 2 << 30
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Embedded is a running embedded etcd server with a connected client.
type Embedded struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	kv        etcdserverpb.KVClient
	endpoints []string
	log       *slog.Logger
	closing   *atomic.Bool
}

// Start starts an embedded etcd member and waits until it serves requests.
// When a URL is left empty a free loopback port is chosen; a port race with
// another process is retried a few times.
func Start(ctx context.Context, opts Options) (*Embedded, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd: create data dir: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		e, err := start(ctx, opts)
		if err == nil {
			return e, nil
		}
		lastErr = err
		// Only retry if we picked the ports ourselves and the failure
		// looks like a bind race.
		if (opts.ClientURL != "" && opts.PeerURL != "") || !isAddrInUse(err) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, opts Options) (*Embedded, error) {
	start := time.Now()
	clientURL, peerURL := opts.ClientURL, opts.PeerURL
	var err error
	if clientURL == "" {
		if clientURL, err = freeURL(); err != nil {
			return nil, err
		}
	}
	if peerURL == "" {
		if peerURL, err = freeURL(); err != nil {
			return nil, err
		}
	}
	cu, err := parseURL(clientURL)
	if err != nil {
		return nil, err
	}
	pu, err := parseURL(peerURL)
	if err != nil {
		return nil, err
	}

	zl, err := zapLogger()
	if err != nil {
		return nil, err
	}
	closing := new(atomic.Bool)
	zl = zl.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return quietCore{Core: c, closing: closing} }))
	cfg := embed.NewConfig()
	cfg.Name = "skiff"
	cfg.Dir = filepath.Join(opts.DataDir, "member-data")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl)
	cfg.LogLevel = "error"
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.MaxRequestBytes = opts.MaxRequestBytes
	cfg.QuotaBackendBytes = opts.QuotaBackendBytes
	// Memory: raft keeps SnapshotCatchUpEntries entries in memory between
	// snapshots plus everything since the last snapshot. A single member
	// has no followers to catch up, so keep both small.
	cfg.SnapshotCount = 5000
	cfg.SnapshotCatchUpEntries = 1000
	// Latency: a single member elects itself immediately; a short tick makes
	// that first election (and so startup) fast.
	cfg.TickMs = 20
	cfg.ElectionMs = 200
	// No HTTP/JSON gateway, metrics endpoints or pprof: the apiserver only
	// speaks gRPC to etcd.
	cfg.EnableGRPCGateway = false
	cfg.Metrics = "basic"
	// Progress notifications keep idle watch caches' revisions fresh.
	cfg.WatchProgressNotifyInterval = 5 * time.Second

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: start: %w", err)
	}
	timer := time.NewTimer(opts.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcd: start: %w", err)
	case <-timer.C:
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcd: not ready after %s", opts.StartTimeout)
	case <-ctx.Done():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcd: start: %w", ctx.Err())
	}
	endpoints := []string{cu.String()}
	// In-process client: direct calls into the server, no gRPC sockets.
	client := v3client.New(e.Server)
	opts.Logger.Info("embedded etcd started", slog.String("client", cu.String()), slog.String("dataDir", opts.DataDir), slog.Duration("took", time.Since(start)))
	// The same quota-checking KV server as the client's, for direct calls.
	kv := adapter.KvServerToKvClient(v3rpc.NewQuotaKVServer(e.Server))
	return &Embedded{etcd: e, client: client, kv: kv, endpoints: endpoints, log: opts.Logger, closing: closing}, nil
}

// Client returns an in-process client of the embedded server: calls go
// straight into the server without gRPC sockets (about twice the write
// throughput of a loopback connection). It is closed by Close. Other
// processes use Endpoints.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// KV returns the in-process KV API that Client's KV calls go to, for
// callers that build etcd requests themselves (storage.Config.KV).
func (e *Embedded) KV() etcdserverpb.KVClient { return e.kv }

// Watchable returns the server's multi-version store, for in-process
// watches without the client's watch streams (storage.Config.Watchable).
func (e *Embedded) Watchable() mvcc.WatchableKV { return e.etcd.Server.Watchable() }

// Endpoints returns the client URLs of the embedded server.
func (e *Embedded) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Err reports a fatal server error after startup.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close closes the client and stops the server.
func (e *Embedded) Close() {
	if e.client != nil {
		_ = e.client.Close()
	}
	e.closing.Store(true)
	e.etcd.Close()
}

// Dial connects to etcd endpoints (e.g. "http://127.0.0.1:2379") and checks
// the connection with a status call before returning.
func Dial(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	lg, err := zapLogger()
	if err != nil {
		return nil, err
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          10 * time.Second,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		MaxCallSendMsgSize:   16 << 20,
		MaxCallRecvMsgSize:   0, // unlimited: large lists
		Logger:               lg,
		Context:              context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: dial %v: %w", endpoints, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var lastErr error
	for _, ep := range endpoints {
		if _, lastErr = c.Status(sctx, ep); lastErr == nil {
			return c, nil
		}
	}
	_ = c.Close()
	return nil, fmt.Errorf("etcd: no endpoint of %v answers: %w", endpoints, lastErr)
}

// benignStorageVersionMsg is logged at error level after a restart until
// etcd's first apply records the raft term; it retries on its own.
const benignStorageVersionMsg = "failed to update storage version"

// quietCore drops every entry once the server is shutting down (etcd logs
// its listeners closing at error level) and the known-benign message above.
type quietCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func (q quietCore) With(f []zapcore.Field) zapcore.Core {
	return quietCore{Core: q.Core.With(f), closing: q.closing}
}

func (q quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if q.closing.Load() || e.Message == benignStorageVersionMsg {
		return ce
	}
	return q.Core.Check(e, ce)
}

func zapLogger() (*zap.Logger, error) {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	zc.Sampling = nil
	lg, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("etcd: build logger: %w", err)
	}
	return lg, nil
}

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("etcd: bad URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("etcd: bad URL %q: scheme must be http or https", s)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("etcd: bad URL %q: port required", s)
	}
	return u, nil
}

func freeURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("etcd: pick free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return "http://127.0.0.1:" + strconv.Itoa(port), nil
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}
