package embedded

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/collabd/collabd/docstore"
)

// Key-value storage lives in the top-level bucket "kv", created by the
// first Write, with one bucket per namespace: key -> value. It does not go
// through the write-ahead log: a Write is one ordinary, synced bbolt
// transaction with its two fsyncs (party storage writes are far rarer
// than document updates; a party that takes many, like the poll's votes,
// gathers them into one Write). Files without the bucket are still format 2; a collabd that
// predates it ignores it.
var bucketKV = []byte("kv")

// KV returns the store's key-value storage (see docstore.KV). It shares
// the store's file and lifetime: after Close its methods return
// docstore.ErrClosed.
func (s *Store) KV() docstore.KV { return kvStore{s} }

type kvStore struct{ s *Store }

func (k kvStore) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := docstore.CheckNamespace(ns); err != nil {
		return nil, fmt.Errorf("embedded: kv get: %w", err)
	}
	if err := docstore.CheckKey(key); err != nil {
		return nil, fmt.Errorf("embedded: kv get: %w", err)
	}
	if err := k.s.enter(ctx); err != nil {
		return nil, fmt.Errorf("embedded: kv get: %w", err)
	}
	defer k.s.mu.RUnlock()
	var v []byte
	err := k.s.view(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns)
		if b == nil {
			return docstore.ErrKeyNotFound
		}
		raw := b.Get([]byte(key))
		if raw == nil {
			return docstore.ErrKeyNotFound
		}
		v = bytes.Clone(raw)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: kv get %q in %q: %w", key, ns, err)
	}
	return v, nil
}

func (k kvStore) List(ctx context.Context, ns, prefix, after string, limit int) ([]docstore.KVPair, error) {
	limit, err := docstore.CheckKVList(ns, prefix, after, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: kv list: %w", err)
	}
	if err := k.s.enter(ctx); err != nil {
		return nil, fmt.Errorf("embedded: kv list: %w", err)
	}
	defer k.s.mu.RUnlock()
	out := []docstore.KVPair{}
	err = k.s.view(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		start := []byte(prefix)
		if after > prefix {
			start = []byte(after)
		}
		for key, v := c.Seek(start); key != nil && len(out) < limit; key, v = c.Next() {
			if !bytes.HasPrefix(key, []byte(prefix)) {
				break
			}
			if string(key) <= after {
				continue
			}
			out = append(out, docstore.KVPair{Key: string(key), Value: bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: kv list %q: %w", ns, err)
	}
	return out, nil
}

func (k kvStore) Write(ctx context.Context, ns string, ops []docstore.KVOp) error {
	if err := docstore.CheckKVWrite(ns, ops); err != nil {
		return fmt.Errorf("embedded: kv write: %w", err)
	}
	if err := k.s.enter(ctx); err != nil {
		return fmt.Errorf("embedded: kv write: %w", err)
	}
	defer k.s.mu.RUnlock()
	err := k.s.update(func(tx *bolt.Tx) error {
		kv, err := tx.CreateBucketIfNotExists(bucketKV)
		if err != nil {
			return err
		}
		b, err := kv.CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		for _, op := range ops {
			if op.Delete {
				err = b.Delete([]byte(op.Key))
			} else {
				err = b.Put([]byte(op.Key), bytes.Clone(op.Value))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("embedded: kv write %q: %w", ns, err)
	}
	return nil
}

func nsBucket(tx *bolt.Tx, ns string) *bolt.Bucket {
	kv := tx.Bucket(bucketKV)
	if kv == nil {
		return nil
	}
	return kv.Bucket([]byte(ns))
}
