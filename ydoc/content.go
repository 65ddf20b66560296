package ydoc

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/collabd/collabd/lib0"
)

// Content reference numbers of update format v1 (the low 5 bits of a
// struct's info byte). 0 is a GC struct and 10 a Skip struct.
const (
	refGC      = 0
	refDeleted = 1
	refJSON    = 2
	refBinary  = 3
	refString  = 4
	refEmbed   = 5
	refFormat  = 6
	refType    = 7
	refAny     = 8
	refDoc     = 9
	refSkip    = 10
)

// content is what an item holds. Splittable kinds (Deleted, JSON, String,
// Any) have a length above one; the others are always of length one.
//
// Values are kept as their validated wire encodings (raw JSON text, raw lib0
// any bytes) and only decoded when content is read for export: that keeps a
// loaded document small and re-encodes it byte for byte.
type content interface {
	ref() byte
	countable() bool
	// splice keeps [0,offset) and returns [offset,n) as a new content; n is
	// the item's length (the content's length in Yjs units: UTF-16 code
	// units for strings, elements otherwise).
	splice(offset, n int) content
	// mergeWith appends right (of the same kind) and reports success.
	mergeWith(right content) bool
	// appendTo appends the content's encoding from offset on; n is the
	// item's length.
	appendTo(b []byte, offset, n int) []byte
}

// A content's length is its item's length (item.size()), set once when the
// item is decoded or created; contentLength computes it for new content.
func contentLength(c content) int {
	switch c := c.(type) {
	case *contentJSON:
		return len(c.vals)
	case *contentAny:
		return len(c.vals)
	case *contentString:
		return utf16Len(c.s)
	}
	return 1
}

// contentDeleted is the tombstone of collected content. It is empty (the
// item's length says how much was deleted), so it costs no allocation.
type contentDeleted struct{}

func (contentDeleted) ref() byte               { return refDeleted }
func (contentDeleted) countable() bool         { return false }
func (contentDeleted) splice(int, int) content { return contentDeleted{} }
func (contentDeleted) mergeWith(content) bool  { return true }
func (contentDeleted) appendTo(b []byte, off, n int) []byte {
	return lib0.AppendVarUint(b, uint64(n-off))
}

// contentJSON is the legacy ContentJSON: each element is JSON text, or the
// literal "undefined".
type contentJSON struct{ vals []string }

func (c *contentJSON) ref() byte       { return refJSON }
func (c *contentJSON) countable() bool { return true }
func (c *contentJSON) splice(off, _ int) content {
	r := &contentJSON{vals: append([]string(nil), c.vals[off:]...)}
	c.vals = c.vals[:off:off]
	return r
}
func (c *contentJSON) mergeWith(r content) bool {
	c.vals = append(c.vals, r.(*contentJSON).vals...)
	return true
}
func (c *contentJSON) appendTo(b []byte, off, _ int) []byte {
	b = lib0.AppendVarUint(b, uint64(len(c.vals)-off))
	for _, v := range c.vals[off:] {
		b = appendString(b, v)
	}
	return b
}

type contentBinary struct{ b []byte }

func (c *contentBinary) ref() byte                          { return refBinary }
func (c *contentBinary) countable() bool                    { return true }
func (c *contentBinary) splice(int, int) content            { panic("ydoc: binary content cannot be split") }
func (c *contentBinary) mergeWith(content) bool             { return false }
func (c *contentBinary) appendTo(b []byte, _, _ int) []byte { return appendBytes(b, c.b) }

// contentString holds text as UTF-8 bytes. Yjs measures and splits text in
// UTF-16 code units: the item's length is that measure, and when it equals
// the byte length the text is ASCII and offsets are byte offsets. The byte
// slice grows in place when a typing run merges (Yjs's strings are ropes; a
// Go string would make a long run quadratic). Splits cap the left slice so
// that appending to it never overwrites the right half.
type contentString struct {
	s []byte
}

func (c *contentString) ref() byte       { return refString }
func (c *contentString) countable() bool { return true }

func (c *contentString) splice(off, n int) content {
	if n == len(c.s) { // ASCII: UTF-16 units are bytes
		r := &contentString{s: c.s[off:]}
		c.s = c.s[:off:off]
		return r
	}
	i, half := utf16Offset(c.s, off)
	if !half {
		r := &contentString{s: c.s[i:]}
		c.s = c.s[:i:i]
		return r
	}
	// The split falls inside a surrogate pair. Yjs replaces both halves by
	// U+FFFD, which keeps each side's UTF-16 length.
	_, size := utf8.DecodeRune(c.s[i:])
	right := make([]byte, 0, len(c.s)-i-size+3)
	right = utf8.AppendRune(right, utf8.RuneError)
	right = append(right, c.s[i+size:]...)
	left := make([]byte, 0, i+3)
	left = append(left, c.s[:i]...)
	left = utf8.AppendRune(left, utf8.RuneError)
	c.s = left
	return &contentString{s: right}
}

func (c *contentString) mergeWith(r content) bool {
	c.s = append(c.s, r.(*contentString).s...)
	return true
}

func (c *contentString) appendTo(b []byte, off, n int) []byte {
	if off == 0 {
		return appendBytes(b, c.s)
	}
	if n == len(c.s) {
		return appendBytes(b, c.s[off:])
	}
	i, half := utf16Offset(c.s, off)
	if !half {
		return appendBytes(b, c.s[i:])
	}
	// A lone low surrogate: TextEncoder writes it as U+FFFD.
	_, size := utf8.DecodeRune(c.s[i:])
	b = lib0.AppendVarUint(b, uint64(len(c.s)-i-size+3))
	b = utf8.AppendRune(b, utf8.RuneError)
	return append(b, c.s[i+size:]...)
}

// appendBytes appends a varUint length and p.
func appendBytes(b, p []byte) []byte {
	return append(lib0.AppendVarUint(b, uint64(len(p))), p...)
}

// appendString appends a varUint length and s.
func appendString(b []byte, s string) []byte {
	return append(lib0.AppendVarUint(b, uint64(len(s))), s...)
}

// utf16Len is the length of valid UTF-8 s in UTF-16 code units.
func utf16Len(s []byte) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x80 {
			continue
		}
		// Each multi-byte sequence: 2 bytes -> 1 unit, 3 -> 1, 4 -> 2.
		switch {
		case b >= 0xf0:
			n -= 2
			i += 3
		case b >= 0xe0:
			n -= 2
			i += 2
		default:
			n--
			i++
		}
	}
	return n
}

// utf16Offset returns the byte index of UTF-16 offset off in valid UTF-8 s,
// and whether off falls between the two halves of a surrogate pair (then the
// index is that of the pair's rune).
func utf16Offset(s []byte, off int) (int, bool) {
	u := 0
	for i := 0; i < len(s); {
		if u == off {
			return i, false
		}
		r, size := utf8.DecodeRune(s[i:])
		n := utf16.RuneLen(r)
		if n < 1 {
			n = 1
		}
		if u+n > off {
			return i, true
		}
		u += n
		i += size
	}
	return len(s), false
}

// contentEmbed holds an embed's JSON text.
type contentEmbed struct{ json string }

func (c *contentEmbed) ref() byte                          { return refEmbed }
func (c *contentEmbed) countable() bool                    { return true }
func (c *contentEmbed) splice(int, int) content            { panic("ydoc: embed content cannot be split") }
func (c *contentEmbed) mergeWith(content) bool             { return false }
func (c *contentEmbed) appendTo(b []byte, _, _ int) []byte { return appendString(b, c.json) }

// contentFormat is a formatting mark in a Y.Text: key and JSON value (the
// JSON text "null" ends a formatting range).
type contentFormat struct{ key, json string }

func (c *contentFormat) ref() byte               { return refFormat }
func (c *contentFormat) countable() bool         { return false }
func (c *contentFormat) splice(int, int) content { panic("ydoc: format content cannot be split") }
func (c *contentFormat) mergeWith(content) bool  { return false }
func (c *contentFormat) appendTo(b []byte, _, _ int) []byte {
	return appendString(appendString(b, c.key), c.json)
}

// contentType holds a nested shared type.
type contentType struct{ t *Type }

func (c *contentType) ref() byte               { return refType }
func (c *contentType) countable() bool         { return true }
func (c *contentType) splice(int, int) content { panic("ydoc: type content cannot be split") }
func (c *contentType) mergeWith(content) bool  { return false }
func (c *contentType) appendTo(b []byte, _, _ int) []byte {
	b = lib0.AppendVarUint(b, uint64(c.t.kind))
	if c.t.kind == KindXMLElement || c.t.kind == KindXMLHook {
		b = appendString(b, c.t.nodeName)
	}
	return b
}

// contentAny holds lib0 any values, each as its validated encoding.
type contentAny struct{ vals [][]byte }

func (c *contentAny) ref() byte       { return refAny }
func (c *contentAny) countable() bool { return true }
func (c *contentAny) splice(off, _ int) content {
	r := &contentAny{vals: append([][]byte(nil), c.vals[off:]...)}
	c.vals = c.vals[:off:off]
	return r
}
func (c *contentAny) mergeWith(r content) bool {
	c.vals = append(c.vals, r.(*contentAny).vals...)
	return true
}
func (c *contentAny) appendTo(b []byte, off, _ int) []byte {
	b = lib0.AppendVarUint(b, uint64(len(c.vals)-off))
	for _, v := range c.vals[off:] {
		b = append(b, v...)
	}
	return b
}

// contentDoc is a subdocument reference: its guid and its options (a lib0
// any value, kept encoded). collabd keeps it intact and does not load it.
type contentDoc struct {
	guid string
	opts []byte
}

func (c *contentDoc) ref() byte               { return refDoc }
func (c *contentDoc) countable() bool         { return true }
func (c *contentDoc) splice(int, int) content { panic("ydoc: doc content cannot be split") }
func (c *contentDoc) mergeWith(content) bool  { return false }
func (c *contentDoc) appendTo(b []byte, _, _ int) []byte {
	return append(appendString(b, c.guid), c.opts...)
}
