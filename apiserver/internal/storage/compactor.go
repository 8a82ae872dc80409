package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// compactRevKey is bumped by whichever apiserver compacts, so that several
// apiservers sharing one etcd compact once per interval between them.
const compactRevKey = "/skiff/compact_rev_key"

// CompactorOptions configures a Compactor.
type CompactorOptions struct {
	// Interval between compactions; history of at least one interval is
	// kept (default 5m).
	Interval time.Duration
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
	// OnCompact, when set, is called with the revision etcd's history was
	// compacted to (e.g. Store.Compacted of every store).
	OnCompact func(rev int64)
}

// Compactor periodically compacts etcd's history, keeping roughly one
// interval of revisions so watches and paged lists can resume, and
// reading older revisions yields 410 Gone.
type Compactor struct {
	client    *clientv3.Client
	interval  time.Duration
	log       *slog.Logger
	onCompact func(rev int64)

	// state of the compare-and-swap on compactRevKey, owned by Run.
	version int64 // Version of compactRevKey last seen
	pending int64 // revision to compact to at the next successful round
}

// NewCompactor returns a Compactor for client.
func NewCompactor(client *clientv3.Client, opts CompactorOptions) *Compactor {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Compactor{client: client, interval: opts.Interval, log: opts.Logger, onCompact: opts.OnCompact}
}

// Run compacts every interval until ctx ends.
func (c *Compactor) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		if _, err := c.Tick(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("etcd compaction failed", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick runs one round: it claims the round by bumping compactRevKey (if
// another apiserver already did, it only catches up), compacts to the
// revision recorded in the previous round, and records the current
// revision for the next. It returns the revision compacted to (0 if none).
func (c *Compactor) Tick(ctx context.Context) (int64, error) {
	resp, err := c.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactRevKey), "=", c.version)).
		Then(clientv3.OpPut(compactRevKey, "")).
		Else(clientv3.OpGet(compactRevKey)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("claim compaction: %w", err)
	}
	cur := resp.Header.Revision
	if !resp.Succeeded {
		// Someone else compacted this round; follow their version.
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			c.version = kvs[0].Version
		}
		c.pending = cur
		return 0, nil
	}
	c.version++
	target := c.pending
	c.pending = cur
	if target == 0 {
		return 0, nil
	}
	if _, err := c.client.Compact(ctx, target); err != nil {
		if isCompacted(err) {
			// Compacted further already (by another apiserver).
			c.notify(target)
			return 0, nil
		}
		if errors.Is(err, context.Canceled) {
			return 0, err
		}
		return 0, fmt.Errorf("compact to %d: %w", target, err)
	}
	c.log.Debug("etcd compacted", slog.Int64("revision", target))
	c.notify(target)
	return target, nil
}

func (c *Compactor) notify(rev int64) {
	if c.onCompact != nil {
		c.onCompact(rev)
	}
}
