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
	reply := make(chan error, 1)
	call := func(rm *Room) {
		rm.reg.release(rm)
		if rm.loadErr != nil {
			reply <- rm.loadErr
			return
		}
		if !rm.exists {
			// Connections may have joined, but nothing was ever written.
			reply <- ErrNotFound
			return
		}
		rm.whenStored(func(error) { reply <- fn(rm.doc) })
	}
	if err := rm.post(ctx, event{kind: evCall, call: call}); err != nil {
		r.release(rm)
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
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
	rm, err := r.acquire(name)
	if err != nil {
		return err
	}
	update = append([]byte(nil), update...) // the room keeps it
	reply := make(chan error, 1)
	call := func(rm *Room) {
		rm.reg.release(rm)
		if rm.loadErr != nil {
			reply <- rm.loadErr
			return
		}
		if err := rm.acceptUpdate(update, func(err error) { reply <- err }); err != nil {
			reply <- err
		}
	}
	if err := rm.post(ctx, event{kind: evCall, call: call}); err != nil {
		r.release(rm)
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
