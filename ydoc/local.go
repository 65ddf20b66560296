package ydoc

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/collabd/collabd/lib0"
)

// ErrIndexOutOfRange reports a local edit at a position the type lacks.
var ErrIndexOutOfRange = errors.New("ydoc: index out of range")

// ErrNotLive reports a local edit of a type that is not part of a document
// (a nested type that was collected, for example).
var ErrNotLive = errors.New("ydoc: type is not live")

// Transact runs local edits as one transaction and returns the update they
// produced (as a Yjs client's "update" event carries it), or nil when
// nothing changed. Edits made before fn returns an error stay applied; the
// update then still reflects them and is returned with the error.
func (d *Doc) Transact(fn func(tx *Txn) error) ([]byte, error) {
	if d.broken != nil {
		return nil, d.broken
	}
	tx := d.newTxn()
	err := fn(tx)
	tx.cleanup()
	return tx.encodeUpdate(), err
}

// encodeUpdate encodes the structs the transaction added and what it
// deleted, or returns nil when it did neither.
func (tx *Txn) encodeUpdate() []byte {
	d := tx.doc
	var sections []clientClock
	for _, b := range tx.before {
		if d.state(b.client) > b.clock {
			sections = append(sections, b)
		}
	}
	if len(sections) == 0 && len(tx.ds) == 0 {
		return nil
	}
	b := lib0.AppendVarUint(nil, uint64(len(sections)))
	// Clients in descending order, as Yjs writes them.
	for i := 1; i < len(sections); i++ {
		for j := i; j > 0 && sections[j].client > sections[j-1].client; j-- {
			sections[j], sections[j-1] = sections[j-1], sections[j]
		}
	}
	var w structWriter
	for _, s := range sections {
		l := d.clients[s.client]
		w.reset(s.client, s.clock)
		for _, it := range l.items[l.find(s.clock):] {
			w.add(it)
		}
		b = w.appendTo(b)
	}
	return tx.ds.appendTo(b)
}

func (t *Type) checkLive(d *Doc) error {
	if t.doc != d || t.deleted() {
		return ErrNotLive
	}
	return nil
}

// position finds where index falls in t's sequence, as Yjs's findPosition
// does: left is the visible item ending at index (nil at index 0) and right
// what follows it, deleted items included. It splits an item that spans
// index. The type's position cache makes sequential edits cheap.
func (tx *Txn) position(t *Type, index int) (left, right *item, err error) {
	if index < 0 || index > t.length {
		return nil, nil, fmt.Errorf("%w: %d of %d", ErrIndexOutOfRange, index, t.length)
	}
	count := index
	right = t.start
	if m := t.marker; m != nil {
		p, pi := m, t.markerIndex
		for pi > index && p.left != nil {
			p = p.left
			if p.visible() {
				pi -= p.size()
			}
		}
		left, right, count = p.left, p, index-pi
	}
	for right != nil && count > 0 {
		if right.visible() {
			if count < right.size() {
				tx.doc.getItemCleanStart(tx, ID{right.id.Client, right.id.Clock + uint64(count)})
			}
			count -= right.size()
		}
		left, right = right, right.right
	}
	if count != 0 {
		return nil, nil, fmt.Errorf("%w: %d", ErrIndexOutOfRange, index)
	}
	for left != nil && !left.visible() {
		left, right = left.left, left
	}
	return left, right, nil
}

// insertLocal creates an item of this document's client between left and
// right and integrates it.
func (tx *Txn) insertLocal(t *Type, left, right *item, key *string, c content) *item {
	d := tx.doc
	it := &item{
		id:      ID{d.clientID, d.state(d.clientID)},
		left:    left,
		right:   right,
		parent:  t,
		content: c,
		n:       uint32(contentLength(c)),
	}
	if c.countable() {
		it.flags |= flagCountable
	}
	if left != nil {
		it.setOrigin(left.lastID())
	}
	if right != nil {
		it.setRightOrigin(right.id)
	}
	k := ""
	if key != nil {
		k = *key
		it.flags |= flagParentSub
	}
	tx.integrate(it, 0, k)
	return it
}

// InsertText inserts s at UTF-16 offset index of a text type, without
// formatting, as Y.Text.insert does.
func (tx *Txn) InsertText(t *Type, index int, s string) error {
	if err := t.checkLive(tx.doc); err != nil {
		return err
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("ydoc: text to insert is not valid UTF-8")
	}
	if s == "" {
		return nil
	}
	left, right, err := tx.position(t, index)
	if err != nil {
		return err
	}
	// Like Y.Text.insert, move past deleted items so that the new text
	// follows them (it then merges better with later typing).
	for right != nil && right.deleted() {
		left, right = right, right.right
	}
	it := tx.insertLocal(t, left, right, nil, &contentString{s: []byte(s)})
	t.marker, t.markerIndex = it, index
	return nil
}

// Delete deletes length elements (UTF-16 units for text) from index on.
func (tx *Txn) Delete(t *Type, index, length int) error {
	if err := t.checkLive(tx.doc); err != nil {
		return err
	}
	if length < 0 || index+length > t.length {
		return fmt.Errorf("%w: delete %d at %d of %d", ErrIndexOutOfRange, length, index, t.length)
	}
	if length == 0 {
		return nil
	}
	left, right, err := tx.position(t, index)
	if err != nil {
		return err
	}
	for right != nil && length > 0 {
		if right.visible() {
			if length < right.size() {
				tx.doc.getItemCleanStart(tx, ID{right.id.Client, right.id.Clock + uint64(length)})
			}
			length -= right.size()
			tx.deleteItem(right)
		}
		right = right.right
	}
	if left != nil {
		t.marker, t.markerIndex = left, index-left.size()
	}
	return nil
}

// InsertValues inserts JSON-like values (anything lib0's any encoding
// takes: nil, bool, numbers, strings, []byte, []any, map[string]any) at
// index of an array type, as Y.Array.insert does for plain values.
func (tx *Txn) InsertValues(t *Type, index int, values ...any) error {
	if err := t.checkLive(tx.doc); err != nil {
		return err
	}
	vals, err := encodeAnyValues(values)
	if err != nil || len(vals) == 0 {
		return err
	}
	left, right, err := tx.position(t, index)
	if err != nil {
		return err
	}
	it := tx.insertLocal(t, left, right, nil, &contentAny{vals: vals})
	t.marker, t.markerIndex = it, index
	return nil
}

// SetMapValue sets key of a map type to a JSON-like value, as Y.Map.set
// does for plain values.
func (tx *Txn) SetMapValue(t *Type, key string, value any) error {
	if err := t.checkLive(tx.doc); err != nil {
		return err
	}
	vals, err := encodeAnyValues([]any{value})
	if err != nil {
		return err
	}
	left := t.entries[key]
	tx.insertLocal(t, left, nil, &key, &contentAny{vals: vals})
	return nil
}

// DeleteMapKey deletes key of a map type, if set.
func (tx *Txn) DeleteMapKey(t *Type, key string) error {
	if err := t.checkLive(tx.doc); err != nil {
		return err
	}
	if it := t.entries[key]; it != nil {
		tx.deleteItem(it)
	}
	return nil
}

func encodeAnyValues(values []any) ([][]byte, error) {
	var e lib0.Encoder
	ends := make([]int, 0, len(values))
	for _, v := range values {
		if err := e.WriteAny(v); err != nil {
			return nil, fmt.Errorf("ydoc: %w", err)
		}
		ends = append(ends, len(e.Buf))
	}
	vals := make([][]byte, len(values))
	start := 0
	for i, end := range ends {
		vals[i] = e.Buf[start:end:end]
		start = end
	}
	return vals, nil
}

// Root returns the root type called name, creating it if the document has
// none. Its kind stays unknown until content or a caller names it.
func (d *Doc) Root(name string) *Type { return d.root(name) }
