package ydoc

import (
	"maps"
	"slices"
)

// RestoreUpdate returns an update that, applied to this document (and so to
// every replica of it), makes its content equal to the content of the
// snapshot (a full-state update of an earlier version): it deletes what is
// visible now and inserts a copy of what is visible in the snapshot, as new
// items of clientID. It is a forward change: nothing is rewound, history
// and concurrent edits stay intact, and clients merge it like any update.
// The document itself is changed by it too. clientID must be unique to
// this change (a fresh random id, at most MaxClientID): Yjs requires one writer per id.
func (d *Doc) RestoreUpdate(snapshot []byte, clientID uint64) ([]byte, error) {
	src := New(Options{})
	if err := src.ApplyUpdate(snapshot); err != nil {
		return nil, err
	}
	saved := d.clientID
	d.clientID = clientID & MaxClientID
	defer func() { d.clientID = saved }()
	return d.Transact(func(tx *Txn) error {
		names := make(map[string]bool)
		for n := range d.roots {
			names[n] = true
		}
		for n := range src.roots {
			names[n] = true
		}
		for _, n := range slices.Sorted(maps.Keys(names)) {
			dst := d.root(n)
			tx.clearType(dst)
			if s := src.roots[n]; s != nil {
				tx.copyInto(dst, s)
			}
		}
		return nil
	})
}

// clearType deletes everything visible in t: its sequence and the current
// value of every key.
func (tx *Txn) clearType(t *Type) {
	for it := t.start; it != nil; it = it.right {
		if !it.deleted() {
			tx.deleteItem(it)
		}
	}
	for _, it := range t.entries {
		if !it.deleted() {
			tx.deleteItem(it)
		}
	}
}

// copyInto appends to dst (of this transaction's document) new items with
// the visible content of src (of another document), nested types copied
// deeply, formatting marks included.
func (tx *Txn) copyInto(dst, src *Type) {
	if dst.kind == KindUnknown {
		dst.kind = src.kind
	}
	tail := dst.start
	for tail != nil && tail.right != nil {
		tail = tail.right
	}
	for it := src.start; it != nil; it = it.right {
		if it.deleted() {
			continue
		}
		c, nested := cloneContent(it.content)
		tail = tx.insertLocal(dst, tail, nil, nil, c)
		if nested != nil {
			tx.copyInto(c.(*contentType).t, nested)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(src.entries)) {
		it := src.entries[key]
		if it.deleted() {
			continue
		}
		c, nested := cloneContent(it.content)
		tx.insertLocal(dst, dst.entries[key], nil, &key, c)
		if nested != nil {
			tx.copyInto(c.(*contentType).t, nested)
		}
	}
}

// cloneContent copies content for another document. For a nested type it
// returns a new empty type of the same kind and the type to copy into it.
func cloneContent(c content) (content, *Type) {
	switch c := c.(type) {
	case *contentString:
		return &contentString{s: slices.Clone(c.s)}, nil
	case *contentAny:
		return &contentAny{vals: slices.Clone(c.vals)}, nil
	case *contentJSON:
		return &contentJSON{vals: slices.Clone(c.vals)}, nil
	case *contentBinary:
		return &contentBinary{b: slices.Clone(c.b)}, nil
	case *contentEmbed:
		return &contentEmbed{json: c.json}, nil
	case *contentFormat:
		return &contentFormat{key: c.key, json: c.json}, nil
	case *contentDoc:
		return &contentDoc{guid: c.guid, opts: slices.Clone(c.opts)}, nil
	case *contentType:
		return &contentType{t: &Type{kind: c.t.kind, nodeName: c.t.nodeName}}, c.t
	}
	return c, nil
}
