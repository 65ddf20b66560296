package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/collabd/collabd/docstore"
)

// ErrNotOwner is wrapped by the errors of a store write for a room whose
// lease this node does not hold (or no longer knows it holds).
var ErrNotOwner = errors.New("cluster: this node does not hold the room's lease")

// Store wraps the document store so that this node writes a room's log and
// snapshots only while it holds the room's lease (fencing by lease time):
// an Append or Compact after the lease's validUntil (the last renewal plus
// LeaseTTL minus one heartbeat, by this node's clock) fails, and the room
// holds the updates and retries as with any failed append. Reads pass
// through.
func (n *Node) Store(st docstore.Store) docstore.Store {
	fs := &fencedStore{Store: st, n: n}
	if as, ok := st.(docstore.AsyncAppender); ok {
		return &fencedAsyncStore{fencedStore: fs, async: as}
	}
	return fs
}

type fencedStore struct {
	docstore.Store
	n *Node
}

func (s *fencedStore) check(op, doc string) error {
	if !s.n.holds(doc) {
		return fmt.Errorf("%w: %s %q", ErrNotOwner, op, doc)
	}
	return nil
}

func (s *fencedStore) Append(ctx context.Context, doc string, updates ...[]byte) (int64, error) {
	if err := s.check("append to", doc); err != nil {
		return 0, err
	}
	return s.Store.Append(ctx, doc, updates...)
}

func (s *fencedStore) Compact(ctx context.Context, doc string, snapshot []byte, throughSeq int64, trigger docstore.Trigger) (docstore.Version, error) {
	if err := s.check("compact", doc); err != nil {
		return docstore.Version{}, err
	}
	return s.Store.Compact(ctx, doc, snapshot, throughSeq, trigger)
}

func (s *fencedStore) Delete(ctx context.Context, doc string) error {
	if err := s.check("delete", doc); err != nil {
		return err
	}
	return s.Store.Delete(ctx, doc)
}

// fencedAsyncStore keeps the store's asynchronous appends (its group
// commit).
type fencedAsyncStore struct {
	*fencedStore
	async docstore.AsyncAppender
}

func (s *fencedAsyncStore) AppendAsync(doc string, updates [][]byte, done func(seq int64, err error)) {
	if err := s.check("append to", doc); err != nil {
		done(0, err)
		return
	}
	s.async.AppendAsync(doc, updates, done)
}
