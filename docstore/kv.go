package docstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// # Key-value storage
//
// Beside documents, a store keeps small key-value maps, one per namespace
// (a party room's storage is one namespace: see package party). Keys are
// strings, values opaque bytes. Namespaces are independent of documents: a
// document and a namespace of the same name do not meet, and Delete of a
// document leaves namespaces alone.
//
// Durability: Write returns once its operations are on stable storage (an
// fsync or the database's commit), and the operations of one Write are
// atomic: after a crash all of them are stored or none.
//
// Concurrency: every method is safe for concurrent use; concurrent Writes
// to one namespace are serialized (each sees the other entirely or not at
// all).

// Errors of a KV.
var (
	// ErrKeyNotFound: Get of a key that is not stored.
	ErrKeyNotFound = errors.New("docstore: key not found")
	// ErrInvalidKey: a key, a namespace or a batch breaks the limits
	// below (see CheckKey, CheckKVWrite).
	ErrInvalidKey = errors.New("docstore: invalid key, value or batch")
)

// Limits of key-value storage. They keep one room's storage operations
// small enough that a commit stays quick on either backend.
const (
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 2048
	// MaxValueLen is the largest value, in bytes.
	MaxValueLen = 128 << 10
	// MaxKVOps is the most operations one Write takes.
	MaxKVOps = 1024
	// MaxKVWriteBytes bounds the keys and values of one Write together.
	MaxKVWriteBytes = 8 << 20
	// MaxKVList is the most pairs one List returns.
	MaxKVList = 1000
)

// KVPair is a key and its value.
type KVPair struct {
	Key   string
	Value []byte
}

// KVOp is one operation of a Write: a put of Value under Key, or, with
// Delete set, the removal of Key (a key not stored is no error).
type KVOp struct {
	Key    string
	Value  []byte
	Delete bool
}

// KV stores key-value maps in namespaces. Both backends provide one
// (embedded.Store.KV, postgres.Store.KV); storetest.RunKV is its
// conformance suite.
type KV interface {
	// Get returns the value of key in ns, or ErrKeyNotFound. The slice
	// belongs to the caller.
	Get(ctx context.Context, ns, key string) ([]byte, error)
	// List returns the pairs of ns whose keys start with prefix and sort
	// after after (bytewise; "" lists from the first), in key order, at
	// most limit of them (below 1 or above MaxKVList: MaxKVList). The
	// result is never nil.
	List(ctx context.Context, ns, prefix, after string, limit int) ([]KVPair, error)
	// Write applies ops in order, atomically, and returns once they are
	// durable. An invalid op (see CheckKVWrite) fails the whole Write and
	// stores nothing.
	Write(ctx context.Context, ns string, ops []KVOp) error
}

// CheckKey reports whether key can be a key: 1 to MaxKeyLen bytes of
// UTF-8 without NUL bytes. The error wraps ErrInvalidKey.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: key of %d bytes, more than %d", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not UTF-8", ErrInvalidKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: key contains a NUL byte", ErrInvalidKey)
	}
	return nil
}

// CheckNamespace checks a namespace, which follows the rules of document
// names (CheckName).
func CheckNamespace(ns string) error {
	if err := CheckName(ns); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	return nil
}

// CheckKVList checks a List's arguments and returns the limit to use.
func CheckKVList(ns, prefix, after string, limit int) (int, error) {
	if err := CheckNamespace(ns); err != nil {
		return 0, err
	}
	for _, s := range []string{prefix, after} {
		if s == "" {
			continue
		}
		if err := CheckKey(s); err != nil {
			return 0, err
		}
	}
	if limit <= 0 || limit > MaxKVList {
		limit = MaxKVList
	}
	return limit, nil
}

// CheckKVWrite checks a Write's arguments as every KV does: a valid
// namespace, 1 to MaxKVOps operations with valid keys, values of at most
// MaxValueLen bytes, and at most MaxKVWriteBytes in all.
func CheckKVWrite(ns string, ops []KVOp) error {
	if err := CheckNamespace(ns); err != nil {
		return err
	}
	if len(ops) == 0 {
		return fmt.Errorf("%w: no operations", ErrInvalidKey)
	}
	if len(ops) > MaxKVOps {
		return fmt.Errorf("%w: %d operations, more than %d", ErrInvalidKey, len(ops), MaxKVOps)
	}
	total := 0
	for _, op := range ops {
		if err := CheckKey(op.Key); err != nil {
			return err
		}
		if len(op.Value) > MaxValueLen {
			return fmt.Errorf("%w: value of %d bytes under %q, more than %d", ErrInvalidKey, len(op.Value), op.Key, MaxValueLen)
		}
		total += len(op.Key) + len(op.Value)
	}
	if total > MaxKVWriteBytes {
		return fmt.Errorf("%w: %d bytes in one write, more than %d", ErrInvalidKey, total, MaxKVWriteBytes)
	}
	return nil
}
