package ydoc

import (
	"slices"
	"strconv"
	"strings"
)

// textString is Yjs's YText.toString: the visible strings, concatenated.
// It is the hot path of text export: one pass over the items into a buffer
// sized by the visible length (exact for ASCII text).
func textString(t *Type) string {
	var b strings.Builder // Grow does not zero, String does not copy
	b.Grow(max(t.length, 0))
	for it := t.start; it != nil; it = it.right {
		if it.flags&(flagDeleted|flagCountable) != flagCountable {
			continue
		}
		if c, ok := it.content.(*contentString); ok {
			b.Write(c.s)
		}
	}
	return b.String()
}

// appendTextString is textString appending to b (for nested texts).
func appendTextString(b []byte, t *Type) []byte {
	for it := t.start; it != nil; it = it.right {
		if it.flags&(flagDeleted|flagCountable) != flagCountable {
			continue
		}
		if c, ok := it.content.(*contentString); ok {
			b = append(b, c.s...)
		}
	}
	return b
}

// Delta returns the type's content as Yjs's toDelta gives it, for Y.Text
// and Y.XmlText (nil for other kinds): string inserts with the formatting
// attributes in effect, embeds (their JSON value) and embedded shared types
// (their JSON, see JSON), each with the attributes in effect. A format item
// sets its attribute, or removes it when its value is null, for the content
// after it; deleted items are skipped.
//
// As in Yjs, every visible format item ends the current string op, even
// one that changes nothing: Yjs 13 removes redundant format items itself
// (the formatting cleanup after a remote transaction, which this package
// performs too, see ApplyWithCleanup), and the ones that remain are part
// of Yjs's output. NormalizedDelta merges such runs.
//
// The result is never nil for a text: an empty text has an empty delta.
func (t *Type) Delta() []DeltaOp { return t.delta(false) }

// NormalizedDelta is Delta with adjacent string inserts whose attributes
// are deeply equal merged into one op: the same for every replica whatever
// format items its history left behind. It is not what Yjs gives.
func (t *Type) NormalizedDelta() []DeltaOp { return t.delta(true) }

func (t *Type) delta(normalize bool) []DeltaOp {
	src, k := t.view()
	if k != KindText && k != KindXMLText {
		return nil
	}
	db := deltaBuilder{normalize: normalize}
	db.build(src)
	text := string(db.text) // one allocation; inserts are substrings of it
	ops := make([]DeltaOp, len(db.ops))
	for i, op := range db.ops {
		if op.isEmbed {
			ops[i].Insert, _ = jsonValue(op.embed, 0)
		} else {
			ops[i].Insert = text[op.start:op.end]
		}
		if len(op.attrs) > 0 {
			a := make(map[string]any, len(op.attrs))
			for key, v := range op.attrs {
				a[key], _ = jsonValue(v, 0)
			}
			ops[i].Attributes = a
		}
	}
	return ops
}

// deltaBuilder computes a text's delta with the values still in their
// content form (see export.go).
type deltaBuilder struct {
	text      []byte // every string insert, in order
	ops       []deltaOp
	normalize bool // merge string runs with equal attributes (see NormalizedDelta)

	attrs   map[string]any // the attributes in effect
	shared  bool           // attrs is referenced by an op: copy it before a change
	version int            // counts changes to attrs
}

type deltaOp struct {
	start, end int  // a string insert: text[start:end]
	isEmbed    bool // else an embed or a type
	embed      any
	attrs      map[string]any // nil when none; shared between ops, read only
	version    int            // the builder's attrs version the op was made with
}

func (db *deltaBuilder) build(t *Type) {
	db.text = make([]byte, 0, max(t.length, 0))
	for it := t.start; it != nil; it = it.right {
		if it.deleted() {
			continue
		}
		switch c := it.content.(type) {
		case *contentString:
			if len(c.s) == 0 {
				continue
			}
			if n := len(db.ops); n > 0 && !db.ops[n-1].isEmbed && db.continues(&db.ops[n-1]) {
				db.text = append(db.text, c.s...)
				db.ops[n-1].end = len(db.text)
				continue
			}
			start := len(db.text)
			db.text = append(db.text, c.s...)
			db.ops = append(db.ops, deltaOp{start: start, end: len(db.text), attrs: db.snapshot(), version: db.version})
		case *contentEmbed:
			db.ops = append(db.ops, deltaOp{isEmbed: true, embed: parseJSON(c.json), attrs: db.snapshot(), version: db.version})
		case *contentType:
			db.ops = append(db.ops, deltaOp{isEmbed: true, embed: c.t, attrs: db.snapshot(), version: db.version})
		case *contentFormat:
			db.format(c)
		}
	}
}

// continues reports whether a string insert extends the string op op:
// as in Yjs, when no format item came since op (the attributes' version is
// op's); normalized, when the attributes in effect equal op's.
func (db *deltaBuilder) continues(op *deltaOp) bool {
	return op.version == db.version || (db.normalize && attrsEqual(op.attrs, db.attrs))
}

// snapshot returns the attributes in effect for an op to keep.
func (db *deltaBuilder) snapshot() map[string]any {
	if len(db.attrs) == 0 {
		return nil
	}
	db.shared = true
	return db.attrs
}

// format applies a format item, as Yjs's updateCurrentAttributes does.
func (db *deltaBuilder) format(c *contentFormat) {
	if db.shared {
		m := make(map[string]any, len(db.attrs)+1)
		for k, v := range db.attrs {
			m[k] = v
		}
		db.attrs, db.shared = m, false
	}
	db.version++
	if isJSONNull(c.json) {
		delete(db.attrs, c.key)
		return
	}
	if db.attrs == nil {
		db.attrs = make(map[string]any)
	}
	db.attrs[c.key] = parseJSON(c.json)
}

// appendXMLTextString is Yjs's YXmlText.toString over the delta:
// each insert wrapped in one tag per attribute (sorted by name), the
// attribute's value's enumerable properties as the tag's attributes
// (sorted by key), nothing escaped.
func appendXMLTextString(b []byte, t *Type, depth int, norm bool) []byte {
	db := deltaBuilder{normalize: norm}
	db.build(t)
	var names []string
	for _, op := range db.ops {
		names = sortedKeys(names[:0], op.attrs)
		for _, name := range names {
			b = append(b, '<')
			b = append(b, name...)
			b = appendForInAttrs(b, op.attrs[name], depth, norm)
			b = append(b, '>')
		}
		if op.isEmbed {
			b = appendJSString(b, op.embed, depth, norm)
		} else {
			b = append(b, db.text[op.start:op.end]...)
		}
		for i := len(names) - 1; i >= 0; i-- {
			b = append(b, "</"...)
			b = append(b, names[i]...)
			b = append(b, '>')
		}
	}
	return b
}

// sortedKeys appends m's keys to dst, sorted as JavaScript sorts strings.
func sortedKeys(dst []string, m map[string]any) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.SortFunc(dst, compareUTF16)
	return dst
}

// appendForInAttrs appends ` key="value"` for each key JavaScript's for-in
// enumerates on v (an object's keys, an array's or a string's indices),
// sorted by key, each value converted to a string.
func appendForInAttrs(b []byte, v any, depth int, norm bool) []byte {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(nil, v) {
			b = appendAttr(b, k, v[k], depth, norm)
		}
	case []any:
		keys, idx := sortedIndices(len(v))
		for j, i := range idx {
			b = appendAttr(b, keys[j], v[i], depth, norm)
		}
	case string:
		units := stringUnits(v)
		keys, idx := sortedIndices(len(units))
		for j, i := range idx {
			b = appendAttr(b, keys[j], units[i], depth, norm)
		}
	}
	return b
}

func appendAttr(b []byte, key string, v any, depth int, norm bool) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, `="`...)
	b = appendJSString(b, v, depth, norm)
	return append(b, '"')
}

// sortedIndices returns the decimal strings of 0..n-1 in JavaScript's
// string order, with their indices.
func sortedIndices(n int) ([]string, []int) {
	type kv struct {
		k string
		i int
	}
	kvs := make([]kv, n)
	for i := range kvs {
		kvs[i] = kv{strconv.Itoa(i), i}
	}
	slices.SortFunc(kvs, func(a, b kv) int { return compareUTF16(a.k, b.k) })
	keys, idx := make([]string, n), make([]int, n)
	for j, e := range kvs {
		keys[j], idx[j] = e.k, e.i
	}
	return keys, idx
}

// stringUnits splits s into its UTF-16 code units, each as a string (a
// lone half of a surrogate pair as U+FFFD).
func stringUnits(s string) []string {
	var units []string
	forEachElem(&contentString{s: []byte(s)}, func(v any) { units = append(units, v.(string)) })
	return units
}
