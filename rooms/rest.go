package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/ydoc"
)

// View runs fn with the document called name: the live room's document
// (on the room's goroutine, once every update it accepted is stored), or,
// for a hibernated document, a copy loaded from the store. fn must not keep
// the document or call back into the registry. A document that is neither
// live nor stored is ErrNotFound.
func (r *Registry) View(ctx context.Context, name string, fn func(d *ydoc.Doc) error) error {
	r.mu.Lock()
	if r.shutdown {
		r.mu.Unlock()
		return ErrShuttingDown
	}
	rm := r.rooms[name]
	if rm != nil {
		rm.joining++ // keeps the room from hibernating under us
	}
	r.mu.Unlock()
	if rm == nil {
		return r.viewStored(ctx, name, fn)
	}
	return r.callRoom(ctx, rm, func(rm *Room, reply func(error)) {
		if !rm.exists {
			// Connections may have joined, but nothing was ever written.
			reply(ErrNotFound)
			return
		}
		rm.whenStored(func(error) { reply(fn(rm.doc)) })
	})
}

func (r *Registry) viewStored(ctx context.Context, name string, fn func(d *ydoc.Doc) error) error {
	st := r.opts.Store
	if st == nil {
		return ErrNotFound
	}
	stored, err := st.Load(ctx, name)
	if errors.Is(err, docstore.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("%w: loading %q: %w", ErrUnavailable, name, err)
	}
	d := ydoc.New(ydoc.Options{})
	if len(stored.Snapshot) > 0 {
		if err := d.ApplyUpdate(stored.Snapshot); err != nil {
			return fmt.Errorf("%w: stored snapshot of %q: %w", ErrUnavailable, name, err)
		}
	}
	for _, e := range stored.Entries {
		if err := d.ApplyUpdate(e.Update); err != nil {
			return fmt.Errorf("%w: stored update %d of %q: %w", ErrUnavailable, e.Seq, name, err)
		}
	}
	return fn(d)
}

// ApplyUpdate applies a Yjs v1 update to the document called name as if a
// client had sent it: it is stored, then relayed to the room's connections.
// It returns once the update is stored. A document that does not exist yet
// is created. An update that does not decode is an error wrapping
// ydoc.ErrInvalidUpdate and changes nothing.
func (r *Registry) ApplyUpdate(ctx context.Context, name string, update []byte) error {
	update = append([]byte(nil), update...) // the room keeps it
	return r.roomCall(ctx, name, func(rm *Room, reply func(error)) {
		if err := rm.acceptUpdate(update, reply); err != nil {
			reply(err)
		}
	})
}

// Versions lists the stored versions of a document, newest first.
func (r *Registry) Versions(ctx context.Context, name string) ([]docstore.Version, error) {
	h, err := r.history()
	if err != nil {
		return nil, err
	}
	vs, err := h.Versions(ctx, name)
	if errors.Is(err, docstore.ErrNotFound) {
		return nil, ErrNotFound
	}
	return vs, err
}

// Version returns one stored version of a document and its snapshot (a
// full-state v1 update).
func (r *Registry) Version(ctx context.Context, name string, id int64) (docstore.Version, []byte, error) {
	h, err := r.history()
	if err != nil {
		return docstore.Version{}, nil, err
	}
	v, snap, err := h.Version(ctx, name, id)
	switch {
	case errors.Is(err, docstore.ErrNotFound):
		return v, nil, ErrNotFound
	case errors.Is(err, docstore.ErrVersionNotFound):
		return v, nil, ErrVersionNotFound
	}
	return v, snap, err
}

// ErrVersionNotFound reports a version id a document does not have.
var ErrVersionNotFound = errors.New("rooms: version not found")

// ErrNoHistory reports history operations on a registry without a store.
var ErrNoHistory = errors.New("rooms: no store, no history")

// History is what the history operations need from the store beyond Store
// (docstore.Store provides it).
type History interface {
	Versions(ctx context.Context, doc string) ([]docstore.Version, error)
	Version(ctx context.Context, doc string, id int64) (docstore.Version, []byte, error)
}

func (r *Registry) history() (History, error) {
	h, ok := r.opts.Store.(History)
	if !ok || r.opts.Store == nil {
		return nil, ErrNoHistory
	}
	return h, nil
}

// TakeVersion stores the document's current state as a new version now
// (trigger manual).
func (r *Registry) TakeVersion(ctx context.Context, name string) (docstore.Version, error) {
	var v docstore.Version
	err := r.roomCall(ctx, name, func(rm *Room, reply func(error)) {
		if !rm.exists {
			reply(ErrNotFound)
			return
		}
		rm.whenStored(func(error) {
			var err error
			v, err = rm.snapshot(ctx, docstore.TriggerManual)
			reply(err)
		})
	})
	return v, err
}

// Restore makes the document's content equal to version id's, as a new
// forward change that live clients receive, stored, then recorded as a
// version itself (trigger restore), which it returns.
func (r *Registry) Restore(ctx context.Context, name string, id int64) (docstore.Version, error) {
	_, snap, err := r.Version(ctx, name, id)
	if err != nil {
		return docstore.Version{}, err
	}
	var v docstore.Version
	err = r.roomCall(ctx, name, func(rm *Room, reply func(error)) {
		update, err := rm.doc.RestoreUpdate(snap, restoreClientID())
		if err != nil {
			reply(fmt.Errorf("%w: version %d of %q: %w", ErrUnavailable, id, name, err))
			return
		}
		// The document has the change already; store and relay it.
		rm.commit(update, func(err error) {
			if err != nil {
				reply(err)
				return
			}
			v, err = rm.snapshot(ctx, docstore.TriggerRestore)
			reply(err)
		})
	})
	return v, err
}

// roomCall runs fn on the room's goroutine (loading the room if needed)
// and waits for fn's reply.
func (r *Registry) roomCall(ctx context.Context, name string, fn func(rm *Room, reply func(error))) error {
	rm, err := r.acquire(name)
	if err != nil {
		return err
	}
	return r.callRoom(ctx, rm, fn)
}

// callRoom runs fn on the goroutine of rm, whose join count the caller
// raised (acquire), and waits for fn's reply.
func (r *Registry) callRoom(ctx context.Context, rm *Room, fn func(rm *Room, reply func(error))) error {
	done := make(chan error, 1)
	call := func(rm *Room) {
		rm.reg.release(rm)
		if rm.loadErr != nil {
			done <- rm.loadErr
			return
		}
		fn(rm, func(err error) { done <- err })
	}
	if err := rm.post(ctx, event{kind: evCall, call: call}); err != nil {
		r.release(rm)
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Deleter is implemented by stores that can delete a document
// (docstore.Store does).
type Deleter interface {
	Delete(ctx context.Context, doc string) error
}

// Delete removes the document called name and its history: its live
// connections are closed with CloseDeleted, what the room accepted is
// stored first (so nothing is left half-written), then the store deletes
// the document, and the room goes on with an empty one. A later connect
// starts empty. (Clients that kept a copy of the document will write it
// back if they reconnect: the application should discard them.) A
// document that is neither live nor stored is ErrNotFound.
func (r *Registry) Delete(ctx context.Context, name string) error {
	var del Deleter
	if st := r.opts.Store; st != nil {
		d, ok := st.(Deleter)
		if !ok {
			return ErrNoHistory
		}
		del = d
	}
	return r.roomCall(ctx, name, func(rm *Room, reply func(error)) {
		if !rm.exists {
			reply(ErrNotFound)
			return
		}
		for c := range rm.conns {
			rm.kick(c, CloseDeleted)
		}
		if rm.versionDue != nil {
			rm.versionDue.Stop()
			rm.versionDue = nil
		}
		ctx, cancel := context.WithTimeout(ctx, rm.reg.opts.OpTimeout)
		defer cancel()
		if err := rm.drainPersist(ctx); err != nil {
			reply(fmt.Errorf("deleting %q: storing pending updates first: %w", name, err))
			return
		}
		if del != nil {
			if err := del.Delete(ctx, name); err != nil && !errors.Is(err, docstore.ErrNotFound) {
				reply(fmt.Errorf("deleting %q: %w", name, err))
				return
			}
		}
		rm.doc = ydoc.New(ydoc.Options{})
		rm.fullFrame = nil
		rm.aware = rm.newAwareness()
		rm.exists = false
		rm.docSize, rm.logBytes, rm.lastSeq, rm.baseSeq = 0, 0, 0, 0
		rm.log.Info("document deleted")
		reply(nil)
	})
}

// Lister is implemented by stores that list their documents a page at a
// time (docstore.Store does).
type Lister interface {
	List(ctx context.Context, after string, limit int) ([]docstore.DocumentInfo, error)
}

// List describes up to limit stored documents whose names sort after
// after, in name order.
func (r *Registry) List(ctx context.Context, after string, limit int) ([]docstore.DocumentInfo, error) {
	l, ok := r.opts.Store.(Lister)
	if !ok || r.opts.Store == nil {
		return nil, ErrNoHistory
	}
	return l.List(ctx, after, limit)
}
