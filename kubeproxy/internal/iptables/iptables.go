// Package iptables runs the iptables binaries for kube-proxy: go-iptables
// for checks and for removing the jumps from built-in chains on cleanup,
// iptables-restore for the one transaction of each sync, and iptables-save
// to read the chains and jumps that exist.
package iptables

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	goipt "github.com/coreos/go-iptables/iptables"
)

// Runner drives one IPv4 iptables instance.
type Runner struct {
	ipt     *goipt.IPTables
	save    string
	restore string
}

// New returns a Runner. binDir, when set, is a directory holding iptables,
// iptables-save and iptables-restore (tests point it at wrappers that enter
// a network namespace); otherwise the binaries are found on PATH.
func New(binDir string) (*Runner, error) {
	r := &Runner{save: "iptables-save", restore: "iptables-restore"}
	var (
		ipt *goipt.IPTables
		err error
	)
	if binDir != "" {
		r.save = filepath.Join(binDir, "iptables-save")
		r.restore = filepath.Join(binDir, "iptables-restore")
		ipt, err = goipt.New(goipt.IPFamily(goipt.ProtocolIPv4), goipt.Timeout(5), goipt.Path(filepath.Join(binDir, "iptables")))
	} else {
		ipt, err = goipt.New(goipt.IPFamily(goipt.ProtocolIPv4), goipt.Timeout(5))
	}
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	r.ipt = ipt
	return r, nil
}

// HasRandomFully reports whether MASQUERADE supports --random-fully.
func (r *Runner) HasRandomFully() bool { return r.ipt.HasRandomFully() }

// ChainExists reports whether chain exists in table.
func (r *Runner) ChainExists(table, chain string) (bool, error) {
	return r.ipt.ChainExists(table, chain)
}

// RuleExists reports whether rule is in chain.
func (r *Runner) RuleExists(table, chain string, rule ...string) (bool, error) {
	return r.ipt.Exists(table, chain, rule...)
}

// DeleteRule deletes rule from chain if present.
func (r *Runner) DeleteRule(table, chain string, rule ...string) error {
	if err := r.ipt.DeleteIfExists(table, chain, rule...); err != nil {
		var e *goipt.Error
		if errors.As(err, &e) && e.IsNotExist() {
			return nil
		}
		return fmt.Errorf("delete rule in %s/%s: %w", table, chain, err)
	}
	return nil
}

// Restore applies data with iptables-restore --noflush as one transaction.
func (r *Runner) Restore(ctx context.Context, data []byte) error {
	cmd := exec.CommandContext(ctx, r.restore, "--noflush", "--wait", "5")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Dump is the part of an iptables-save table kube-proxy reads.
type Dump struct {
	// Chains are the names of all chains, built-in and user-defined.
	Chains []string
	// Rules are the "-A ..." lines.
	Rules []string
}

// Dump reads table with iptables-save.
func (r *Runner) Dump(ctx context.Context, table string) (Dump, error) {
	cmd := exec.CommandContext(ctx, r.save, "-t", table)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Dump{}, fmt.Errorf("iptables-save -t %s: %w: %s", table, err, strings.TrimSpace(stderr.String()))
	}
	var d Dump
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
			if f := strings.Fields(line[1:]); len(f) > 0 {
				d.Chains = append(d.Chains, f[0])
			}
		case strings.HasPrefix(line, "-A "):
			d.Rules = append(d.Rules, line)
		}
	}
	return d, sc.Err()
}

// Save returns the iptables-save output for table (used by tests and debugging).
func (r *Runner) Save(ctx context.Context, table string) (string, error) {
	out, err := exec.CommandContext(ctx, r.save, "-t", table).Output()
	if err != nil {
		return "", fmt.Errorf("iptables-save -t %s: %w", table, err)
	}
	return string(out), nil
}
