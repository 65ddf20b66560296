package ydoc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/collabd/collabd/lib0"
)

// Reading content out.
//
// The export functions read a type's content the way Yjs's toString,
// toDelta and toJSON read it, and turn it into plain Go values that
// encoding/json marshals to what JSON.stringify gives in JavaScript (with
// Uint8Array values as standard base64 strings). They never change a
// document's content and never panic, whatever content a document holds.
//
// While content is read, values are JavaScript-like: nil (null),
// lib0.Undefined, bool, float64 (NaN and ±Inf included), lib0.BigInt,
// string, []byte (Uint8Array), []any, map[string]any, *Type (a nested shared
// type) and subdocValue (a Y.Doc). jsonValue turns them into JSON values.

// maxExportDepth bounds the recursion of the export functions over nested
// types. Types nest at most MaxNesting deep (deeper ones are collected on
// arrival), so the bound never cuts real content.
const maxExportDepth = MaxNesting + 1

// DeltaOp is one operation of a text's delta (Yjs's toDelta): an insert of
// a string, of an embed (its JSON value) or of a nested shared type (its
// JSON value, see Type.JSON), with the formatting attributes in effect.
// Marshalled to JSON it is {"insert": ..., "attributes": {...}}, without
// "attributes" when there are none.
type DeltaOp struct {
	Insert     any            `json:"insert"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// subdocValue is a subdocument (ContentDoc) as a value.
type subdocValue struct{ guid string }

// kindOf is t's kind; KindUnknown for nil.
func kindOf(t *Type) Kind {
	if t == nil {
		return KindUnknown
	}
	return t.kind
}

// knownKind reports whether k is one of the shared type kinds.
func knownKind(k Kind) bool { return k <= KindXMLText }

// view returns the type whose content t reads and the kind it is read as.
// A root handle made by RootAs reads the live root of its document; a type
// of unknown kind is read as the kind its content suggests.
func (t *Type) view() (*Type, Kind) {
	if t == nil {
		return nil, KindUnknown
	}
	src := t
	if t.item == nil && t.doc != nil {
		if r := t.doc.roots[t.name]; r != nil {
			src = r
		}
	}
	k := t.kind
	if !knownKind(k) {
		k = src.kind
		if !knownKind(k) {
			k = inferKind(src)
		}
	}
	return src, k
}

// RootKind returns the kind of the root type called name: the kind it was
// given if something in this package named it, else the kind inferred from
// its content:
//
//   - a sequence holding any string, format or embed item is a Y.Text
//     (KindText; text may also embed shared types);
//   - else a sequence of Y.XmlElement, Y.XmlText and Y.XmlHook types only is
//     a Y.XmlFragment (KindXMLFragment);
//   - else a sequence with other content (any values, JSON, binary,
//     subdocuments, other types, or XML types mixed with those) is a
//     Y.Array (KindArray);
//   - else a root with map entries is a Y.Map (KindMap);
//   - else a sequence of collected (deleted) content only is read as an
//     empty Y.Text (KindText), whose JSON ("") is also an empty XML
//     fragment's;
//   - a root that does not exist or holds nothing is KindUnknown.
//
// Deleted content counts where the document still holds it (KeepHistory).
// Map entries next to sequence content (attributes) do not change the kind.
func (d *Doc) RootKind(name string) Kind {
	r := d.roots[name]
	if r == nil {
		return KindUnknown
	}
	if knownKind(r.kind) {
		return r.kind
	}
	return inferKind(r)
}

// inferKind infers a root's kind from its content (see RootKind).
func inferKind(t *Type) Kind {
	var xml, other, seq bool
	for it := t.start; it != nil; it = it.right {
		seq = true
		switch c := it.content.(type) {
		case *contentString, *contentFormat, *contentEmbed:
			return KindText
		case *contentType:
			switch kindOf(c.t) {
			case KindXMLElement, KindXMLText, KindXMLHook:
				xml = true
			default:
				other = true
			}
		case *contentAny, *contentJSON, *contentBinary, *contentDoc:
			other = true
		}
	}
	switch {
	case xml && !other:
		return KindXMLFragment
	case xml || other:
		return KindArray
	case len(t.entries) > 0:
		return KindMap
	case seq:
		return KindText
	}
	return KindUnknown
}

// RootAs returns the root type called name read as kind k, as Yjs's
// doc.getText, getMap, getArray and getXmlFragment do; a missing root is
// created empty (no struct is added, so encoding and integration are
// unaffected).
//
// The result is the root itself when the root already has kind k (or k is
// KindUnknown). Otherwise it is a handle for reading the root as k: its
// String, Delta, JSON, XML and ProseMirrorJSON read the root's current
// content as k, and Kind returns k, but its Len is the root's length when
// RootAs was called. RootAs never changes the root's own kind, so reading a
// root one way does not change how RootKind, ToJSON or other handles read it.
func (d *Doc) RootAs(name string, k Kind) *Type {
	r := d.root(name)
	if r.kind == k || k == KindUnknown {
		return r
	}
	return &Type{doc: d, name: name, kind: k, length: r.length}
}

// ToJSON returns the content of every root type that has content, keyed
// by name, each read as its RootKind (see Type.JSON for the values).
func (d *Doc) ToJSON() map[string]any {
	out := make(map[string]any)
	for _, name := range d.RootNames() {
		k := d.RootKind(name)
		if k == KindUnknown {
			continue
		}
		out[name] = exportJSON(d.roots[name], k, 0)
	}
	return out
}

// JSON returns the type's content as Yjs's toJSON gives it, turned into
// plain Go values: exactly what JSON.parse(JSON.stringify(type.toJSON(),
// replacer)) gives in JavaScript where the replacer turns Uint8Array values
// into standard base64 strings. So:
//
//   - Y.Text: its string; Y.XmlText, Y.XmlElement, Y.XmlFragment: their
//     String();
//   - Y.Map (and Y.XmlHook): map[string]any of the visible value of each
//     key, keys whose value is undefined omitted;
//   - Y.Array: []any, undefined elements as nil;
//   - nested types as their own JSON;
//   - numbers are float64, NaN and ±Inf become nil, -0 becomes 0;
//   - a BigInt is a float64 when the float64 holds it exactly, else its
//     decimal digits as a string (JSON.stringify would throw);
//   - binary content and Uint8Array values are standard base64 strings;
//   - a subdocument is {"guid": "<guid>"} (Yjs's value is the unloaded
//     subdocument, whose toJSON is an empty object).
//
// A root that holds nothing (KindUnknown) gives nil.
func (t *Type) JSON() any {
	src, k := t.view()
	if src == nil {
		return nil
	}
	return exportJSON(src, k, 0)
}

// String returns what Yjs's toString gives for the type's kind: the text of
// a Y.Text (embeds and formats skipped); for Y.XmlText, Y.XmlElement and
// Y.XmlFragment the XML-like string Yjs builds (unescaped; see XML for
// well-formed XML); for Y.Map, Y.XmlHook and Y.Array the JSON text of JSON.
//
// Y.XmlText is rendered from its delta (see Delta), run by run as Yjs's
// toString does. NormalizedString renders merged runs instead.
func (t *Type) String() string { return t.toString(false) }

// NormalizedString is String with every Y.XmlText rendered from its
// NormalizedDelta: adjacent runs with equal formatting share one set of
// tags. It is the same for every replica, but it is not what Yjs gives.
func (t *Type) NormalizedString() string { return t.toString(true) }

func (t *Type) toString(norm bool) string {
	src, k := t.view()
	if src == nil {
		return ""
	}
	switch k {
	case KindText:
		return textString(src)
	case KindXMLText, KindXMLElement, KindXMLFragment:
		return string(appendTypeString(nil, src, k, 0, norm))
	case KindMap, KindXMLHook, KindArray:
		return marshalJSON(exportJSON(src, k, 0))
	}
	return ""
}

// marshalJSON marshals a JSON value as JSON.stringify does (no HTML
// escaping, no trailing newline).
func marshalJSON(v any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return "null"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// exportJSON is Type.JSON for t read as kind k.
func exportJSON(t *Type, k Kind, depth int) any {
	if depth > maxExportDepth {
		return nil
	}
	switch k {
	case KindText:
		return textString(t)
	case KindXMLText, KindXMLElement, KindXMLFragment:
		return string(appendTypeString(nil, t, k, depth, false))
	case KindMap, KindXMLHook:
		m := make(map[string]any, len(t.entries))
		for key, it := range t.entries {
			if it == nil || it.deleted() {
				continue
			}
			if v, ok := jsonValue(lastElem(it), depth); ok {
				m[key] = v
			}
		}
		return m
	case KindArray:
		a := make([]any, 0, max(t.length, 0))
		for it := t.start; it != nil; it = it.right {
			if !it.visible() {
				continue
			}
			forEachElem(it.content, func(v any) {
				jv, _ := jsonValue(v, depth)
				a = append(a, jv)
			})
		}
		return a
	}
	return nil
}

// jsonValue turns a content value into a JSON value, as JSON.stringify with
// the base64 replacer would; ok is false for undefined.
func jsonValue(v any, depth int) (any, bool) {
	switch v := v.(type) {
	case nil, bool, string:
		return v, true
	case lib0.Undefined:
		return nil, false
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, true
		}
		if v == 0 {
			return 0.0, true // -0 too
		}
		return v, true
	case lib0.BigInt:
		f := float64(v)
		if f >= -(1<<63) && f < 1<<63 && int64(f) == int64(v) {
			return f, true
		}
		return strconv.FormatInt(int64(v), 10), true
	case []byte:
		return base64.StdEncoding.EncodeToString(v), true
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i], _ = jsonValue(e, depth)
		}
		return a, true
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			if jv, ok := jsonValue(e, depth); ok {
				m[k] = jv
			}
		}
		return m, true
	case *Type:
		if v == nil {
			return nil, true
		}
		return exportJSON(v, v.kind, depth+1), true
	case subdocValue:
		return map[string]any{"guid": v.guid}, true
	}
	return nil, false
}

// forEachElem calls fn with every element of c as Yjs's getContent lists
// them: a string's UTF-16 code units one by one (a lone half of a
// surrogate pair as U+FFFD, as it reads back from JSON), each value of
// JSON and any content, and the single value of the other kinds. Deleted
// and format content have no elements.
func forEachElem(c content, fn func(v any)) {
	switch c := c.(type) {
	case *contentString:
		s := c.s
		for len(s) > 0 {
			r, n := utf8.DecodeRune(s)
			if r >= 0x10000 {
				fn("\uFFFD")
				fn("\uFFFD")
			} else {
				fn(string(s[:n]))
			}
			s = s[n:]
		}
	case *contentJSON:
		for _, v := range c.vals {
			fn(jsonContentValue(v))
		}
	case *contentAny:
		for _, v := range c.vals {
			fn(decodeAny(v))
		}
	case *contentBinary:
		fn(c.b)
	case *contentEmbed:
		fn(parseJSON(c.json))
	case *contentType:
		fn(c.t)
	case *contentDoc:
		fn(subdocValue{c.guid})
	}
}

// lastElem is the value of a map entry: the last element of its content
// (Yjs reads getContent()[length-1]); undefined when there is none.
func lastElem(it *item) any {
	switch c := it.content.(type) {
	case *contentString:
		r, n := utf8.DecodeLastRune(c.s)
		switch {
		case n == 0:
			return lib0.Undefined{}
		case r >= 0x10000:
			return "\uFFFD" // the low half of a surrogate pair
		}
		return string(c.s[len(c.s)-n:])
	case *contentJSON:
		if len(c.vals) == 0 {
			return lib0.Undefined{}
		}
		return jsonContentValue(c.vals[len(c.vals)-1])
	case *contentAny:
		if len(c.vals) == 0 {
			return lib0.Undefined{}
		}
		return decodeAny(c.vals[len(c.vals)-1])
	case *contentBinary, *contentEmbed, *contentType, *contentDoc:
		var v any = lib0.Undefined{}
		forEachElem(c, func(e any) { v = e })
		return v
	}
	return lib0.Undefined{}
}

// jsonContentValue decodes one value of legacy JSON content.
func jsonContentValue(s string) any {
	if s == "undefined" {
		return lib0.Undefined{}
	}
	return parseJSON(s)
}

// decodeAny decodes one stored lib0 any value (validated when the update
// was decoded); undefined if it cannot be read.
func decodeAny(b []byte) any {
	v, err := lib0.NewDecoder(b).ReadAny()
	if err != nil {
		return lib0.Undefined{}
	}
	return v
}

// parseJSON parses stored JSON text (validated when the update was
// decoded) as JSON.parse does: numbers too large for a float64 become ±Inf.
// Text that cannot be parsed gives undefined.
func parseJSON(s string) any {
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	// Unmarshal refuses numbers out of float64 range; JSON.parse makes
	// them ±Infinity.
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return lib0.Undefined{}
	}
	return fromNumbers(v)
}

func fromNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(v), 64) // ±Inf on overflow
		return f
	case []any:
		for i, e := range v {
			v[i] = fromNumbers(e)
		}
	case map[string]any:
		for k, e := range v {
			v[k] = fromNumbers(e)
		}
	}
	return v
}

// isJSONNull reports whether JSON text is the literal null.
func isJSONNull(s string) bool { return strings.TrimSpace(s) == "null" }

// jsonEqual reports whether two parsed JSON values are deeply equal once
// turned into JSON (see jsonValue: a non-finite number is null).
func jsonEqual(a, b any) bool {
	a, b = finiteOrNil(a), finiteOrNil(b)
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case float64:
		bf, ok := b.(float64)
		return ok && a == bf
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], ba[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		return ok && attrsEqual(a, bm)
	}
	return false
}

func finiteOrNil(v any) any {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil
	}
	return v
}

// attrsEqual reports whether two attribute maps are deeply equal.
func attrsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !jsonEqual(av, bv) {
			return false
		}
	}
	return true
}

// appendJSString appends v converted to a string as JavaScript's String(v)
// does (and template literals and + concatenation, for these values).
func appendJSString(b []byte, v any, depth int, norm bool) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case lib0.Undefined:
		return append(b, "undefined"...)
	case bool:
		return strconv.AppendBool(b, v)
	case string:
		return append(b, v...)
	case float64:
		return appendJSNumber(b, v)
	case lib0.BigInt:
		return strconv.AppendInt(b, int64(v), 10)
	case []byte: // Uint8Array: its elements joined with commas
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(x), 10)
		}
		return b
	case []any: // Array: elements joined with commas, null and undefined empty
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			switch e.(type) {
			case nil, lib0.Undefined:
			default:
				b = appendJSString(b, e, depth, norm)
			}
		}
		return b
	case *Type:
		if v != nil && depth < maxExportDepth {
			switch v.kind {
			case KindText:
				return appendTextString(b, v)
			case KindXMLText, KindXMLElement, KindXMLFragment:
				return appendTypeString(b, v, v.kind, depth+1, norm)
			}
		}
	}
	// Objects, Y.Map, Y.Array, Y.XmlHook and Y.Doc have no toString of
	// their own.
	return append(b, "[object Object]"...)
}
