package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/collabd/collabd/docstore"
)

// KV returns the store's key-value storage (see docstore.KV), in the table
// kv (migration 0002): one row per key. A Write is one transaction, durable
// at its commit. It shares the store's pool and lifetime: after Close its
// methods return docstore.ErrClosed.
func (s *Store) KV() docstore.KV { return kvStore{s} }

type kvStore struct{ s *Store }

func (k kvStore) Get(ctx context.Context, ns, key string) ([]byte, error) {
	v, err := k.get(ctx, ns, key)
	if err != nil {
		return nil, opError(ctx, "kv get", ns, err)
	}
	return v, nil
}

func (k kvStore) get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := docstore.CheckNamespace(ns); err != nil {
		return nil, err
	}
	if err := docstore.CheckKey(key); err != nil {
		return nil, err
	}
	if err := k.s.enter(ctx); err != nil {
		return nil, err
	}
	defer k.s.mu.RUnlock()
	var v []byte
	err := k.s.read(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT value FROM kv WHERE ns = $1 AND key = $2`, ns, key).Scan(&v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, docstore.ErrKeyNotFound
	}
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

func (k kvStore) List(ctx context.Context, ns, prefix, after string, limit int) ([]docstore.KVPair, error) {
	out, err := k.list(ctx, ns, prefix, after, limit)
	if err != nil {
		return nil, opError(ctx, "kv list", ns, err)
	}
	return out, nil
}

func (k kvStore) list(ctx context.Context, ns, prefix, after string, limit int) ([]docstore.KVPair, error) {
	limit, err := docstore.CheckKVList(ns, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	if err := k.s.enter(ctx); err != nil {
		return nil, err
	}
	defer k.s.mu.RUnlock()
	var out []docstore.KVPair
	err = k.s.read(ctx, func(c *pgx.Conn) error {
		// key >= prefix lets the primary key's index start at the prefix;
		// starts_with ends the range.
		rows, err := c.Query(ctx, `SELECT key, value FROM kv
			WHERE ns = $1 AND key >= $2 AND starts_with(key, $2) AND key > $3
			ORDER BY key LIMIT $4`, ns, prefix, after, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (docstore.KVPair, error) {
			var p docstore.KVPair
			err := row.Scan(&p.Key, &p.Value)
			if p.Value == nil {
				p.Value = []byte{}
			}
			return p, err
		})
		return err
	})
	if out == nil {
		out = []docstore.KVPair{}
	}
	return out, err
}

func (k kvStore) Write(ctx context.Context, ns string, ops []docstore.KVOp) error {
	if err := k.write(ctx, ns, ops); err != nil {
		return opError(ctx, "kv write", ns, err)
	}
	return nil
}

func (k kvStore) write(ctx context.Context, ns string, ops []docstore.KVOp) error {
	if err := docstore.CheckKVWrite(ns, ops); err != nil {
		return err
	}
	if err := k.s.enter(ctx); err != nil {
		return err
	}
	defer k.s.mu.RUnlock()
	now := k.s.now()
	return pgx.BeginFunc(ctx, k.s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, op := range ops {
			if op.Delete {
				b.Queue(`DELETE FROM kv WHERE ns = $1 AND key = $2`, ns, op.Key)
				continue
			}
			v := op.Value
			if v == nil {
				v = []byte{}
			}
			b.Queue(`INSERT INTO kv (ns, key, value, updated) VALUES ($1, $2, $3, $4)
				ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, updated = EXCLUDED.updated`,
				ns, op.Key, v, now)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}
