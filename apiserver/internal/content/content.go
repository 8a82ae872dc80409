// Package content keeps the bytes of WasmModules in etcd, split into chunks
// of at most 1 MiB under their own key prefix, so every apiserver replica
// can serve them and no single etcd request grows past its size limit.
// A manifest key, written last, names the chunk count and digest; readers
// trust only chunks the manifest describes.
package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ChunkSize is the largest value written to one etcd key.
const ChunkSize = 1 << 20

// DefaultPrefix is where module bytes live in etcd.
const DefaultPrefix = "/registry/plugins.skiff.dev/wasmmodulecontent/"

// Store reads and writes module bytes.
type Store struct {
	client *clientv3.Client
	prefix string
}

// New returns a Store keeping bytes under prefix (DefaultPrefix when empty).
func New(client *clientv3.Client, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: prefix}
}

type manifest struct {
	Chunks int    `json:"chunks"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

func (s *Store) manifestKey(name string) string { return s.prefix + name + "/manifest" }
func (s *Store) chunkKey(name string, i int) string {
	return fmt.Sprintf("%s%s/chunk/%06d", s.prefix, name, i)
}

// Put stores data as the content of module name.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	sum := sha256.Sum256(data)
	m := manifest{Size: len(data), SHA256: hex.EncodeToString(sum[:])}
	if cur, ok, err := s.manifest(ctx, name); err == nil && ok && cur == (manifest{Chunks: (len(data) + ChunkSize - 1) / ChunkSize, Size: m.Size, SHA256: m.SHA256}) {
		return nil // identical bytes already stored
	}
	for off := 0; off < len(data) || (off == 0 && len(data) == 0); off += ChunkSize {
		end := min(off+ChunkSize, len(data))
		if _, err := s.client.Put(ctx, s.chunkKey(name, m.Chunks), string(data[off:end])); err != nil {
			return fmt.Errorf("store module %s chunk %d: %w", name, m.Chunks, err)
		}
		m.Chunks++
		if len(data) == 0 {
			break
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := s.client.Put(ctx, s.manifestKey(name), string(b)); err != nil {
		return fmt.Errorf("store module %s manifest: %w", name, err)
	}
	return nil
}

func (s *Store) manifest(ctx context.Context, name string) (manifest, bool, error) {
	var m manifest
	resp, err := s.client.Get(ctx, s.manifestKey(name))
	if err != nil {
		return m, false, fmt.Errorf("read module %s manifest: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return m, false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
		return m, false, fmt.Errorf("decode module %s manifest: %w", name, err)
	}
	return m, true, nil
}

// Get returns the content of module name; ok is false when none is stored.
func (s *Store) Get(ctx context.Context, name string) ([]byte, bool, error) {
	m, ok, err := s.manifest(ctx, name)
	if err != nil || !ok {
		return nil, false, err
	}
	data := make([]byte, 0, m.Size)
	for i := 0; i < m.Chunks; i++ {
		resp, err := s.client.Get(ctx, s.chunkKey(name, i))
		if err != nil {
			return nil, false, fmt.Errorf("read module %s chunk %d: %w", name, i, err)
		}
		if len(resp.Kvs) == 0 {
			return nil, false, fmt.Errorf("module %s: chunk %d is missing", name, i)
		}
		data = append(data, resp.Kvs[0].Value...)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, false, errors.New("module " + name + ": stored content does not match its digest")
	}
	return data, true, nil
}

// Delete removes the content of module name.
func (s *Store) Delete(ctx context.Context, name string) error {
	if _, err := s.client.Delete(ctx, s.manifestKey(name)); err != nil {
		return fmt.Errorf("delete module %s manifest: %w", name, err)
	}
	if _, err := s.client.Delete(ctx, s.prefix+name+"/", clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("delete module %s content: %w", name, err)
	}
	return nil
}
