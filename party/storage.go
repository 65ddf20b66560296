package party

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/collabd/collabd/docstore"
)

// Storage is a room's storage: keys (strings of up to docstore.MaxKeyLen
// bytes) to values (bytes, up to docstore.MaxValueLen), kept in the
// server's store (the embedded file or PostgreSQL) under the room's own
// namespace. Every write is durable when it returns, and the operations
// of one Write are atomic. Its methods block until the store has answered
// (at most Options.StorageTimeout).
type Storage struct {
	kv      docstore.KV
	ns      string
	timeout time.Duration
}

func (s *Storage) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// Get returns the value of key; ok is false if it is not stored.
func (s *Storage) Get(key string) (value []byte, ok bool, err error) {
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := s.kv.Get(ctx, s.ns, key)
	if errors.Is(err, docstore.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// GetJSON decodes the JSON value of key into v; ok is false if it is not
// stored.
func (s *Storage) GetJSON(key string, v any) (ok bool, err error) {
	b, ok, err := s.Get(key)
	if !ok || err != nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

// Put stores value under key.
func (s *Storage) Put(key string, value []byte) error {
	var b Batch
	b.Put(key, value)
	return s.Write(&b)
}

// PutJSON stores v as JSON under key.
func (s *Storage) PutJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Put(key, b)
}

// Delete removes keys (keys not stored are no error).
func (s *Storage) Delete(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	var b Batch
	for _, k := range keys {
		b.Delete(k)
	}
	return s.Write(&b)
}

// List returns the pairs whose keys start with prefix, in key order, at
// most limit of them (0: all).
func (s *Storage) List(prefix string, limit int) ([]docstore.KVPair, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var out []docstore.KVPair
	after := ""
	for {
		page := docstore.MaxKVList
		if limit > 0 {
			page = min(page, limit-len(out))
		}
		ps, err := s.kv.List(ctx, s.ns, prefix, after, page)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
		if len(ps) < page || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		after = ps[len(ps)-1].Key
	}
}

// Write applies the batch's operations atomically (at most
// docstore.MaxKVOps of them, docstore.MaxKVWriteBytes in all).
func (s *Storage) Write(b *Batch) error {
	if len(b.ops) == 0 {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return s.kv.Write(ctx, s.ns, b.ops)
}

// Batch gathers puts and deletes for one Storage.Write. The zero value is
// an empty batch.
type Batch struct{ ops []docstore.KVOp }

// Put adds a put of value under key.
func (b *Batch) Put(key string, value []byte) {
	b.ops = append(b.ops, docstore.KVOp{Key: key, Value: value})
}

// Delete adds the removal of key.
func (b *Batch) Delete(key string) { b.ops = append(b.ops, docstore.KVOp{Key: key, Delete: true}) }

// Len is the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }
