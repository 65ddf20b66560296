package ydoc

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// appendTypeString appends Yjs's toString of an XML type read as kind k.
func appendTypeString(b []byte, t *Type, k Kind, depth int, norm bool) []byte {
	if depth > maxExportDepth {
		return b
	}
	switch k {
	case KindXMLText:
		return appendXMLTextString(b, t, depth, norm)
	case KindXMLElement:
		// YXmlElement.toString: <nodename key="value" ...>children</nodename>
		name := jsLower(elementName(t))
		b = append(b, '<')
		b = append(b, name...)
		for _, key := range attributeKeys(t) {
			b = appendAttr(b, key, lastElem(t.entries[key]), depth, norm)
		}
		b = append(b, '>')
		b = appendChildrenString(b, t, depth, norm)
		b = append(b, "</"...)
		b = append(b, name...)
		return append(b, '>')
	case KindXMLFragment:
		return appendChildrenString(b, t, depth, norm)
	}
	return b
}

// appendChildrenString is YXmlFragment.toString: every element of the
// visible content converted to a string, concatenated.
func appendChildrenString(b []byte, t *Type, depth int, norm bool) []byte {
	for it := t.start; it != nil; it = it.right {
		if it.visible() {
			forEachElem(it.content, func(v any) { b = appendJSString(b, v, depth, norm) })
		}
	}
	return b
}

// elementName is an XML element's node name. A root read as an element has
// none; Yjs's YXmlElement constructor defaults it to "UNDEFINED".
func elementName(t *Type) string {
	if t.item == nil && t.nodeName == "" {
		return "UNDEFINED"
	}
	return t.nodeName
}

// attributeKeys returns the keys of t's visible map entries, sorted as
// JavaScript sorts strings.
func attributeKeys(t *Type) []string {
	keys := make([]string, 0, len(t.entries))
	for k, it := range t.entries {
		if it != nil && !it.deleted() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareUTF16)
	return keys
}

// ProseMirrorJSON returns a Y.XmlFragment or Y.XmlElement as a
// ProseMirror-style JSON tree (nil for other kinds):
//
//   - the fragment is {"type": "doc", "content": [...]};
//   - a Y.XmlElement is {"type": nodeName, "attrs": {...}, "content": [...]}
//     with its attributes as JSON values (see JSON);
//   - a Y.XmlText gives one {"type": "text", "text": s, "marks": [...]} node
//     per string insert of its delta (see Delta), with one mark per
//     attribute, sorted by attribute name: {"type": name up to the first
//     "--" (y-prosemirror's suffix for overlapping marks of one type),
//     "attrs": value}, "attrs" only when the value is an object with keys;
//   - embeds in text, Y.XmlHook children and any other content are skipped.
//
// "attrs", "content" and "marks" are left out when empty ("attrs" is kept
// when every attribute's value is undefined, as in y-prosemirror).
func (t *Type) ProseMirrorJSON() map[string]any {
	src, k := t.view()
	switch k {
	case KindXMLFragment:
		return pmNode(src, "doc", false, 0)
	case KindXMLElement:
		return pmNode(src, elementName(src), true, 0)
	}
	return nil
}

func pmNode(t *Type, typ string, withAttrs bool, depth int) map[string]any {
	node := map[string]any{"type": typ}
	if withAttrs {
		attrs := make(map[string]any)
		n := 0
		for key, it := range t.entries {
			if it == nil || it.deleted() {
				continue
			}
			n++
			if v, ok := jsonValue(lastElem(it), depth); ok {
				attrs[key] = v
			}
		}
		if n > 0 {
			node["attrs"] = attrs
		}
	}
	var content []any
	if depth < maxExportDepth {
		for it := t.start; it != nil; it = it.right {
			ct, ok := it.content.(*contentType)
			if !ok || ct.t == nil || !it.visible() {
				continue
			}
			switch c := ct.t; c.kind {
			case KindXMLElement:
				content = append(content, pmNode(c, c.nodeName, true, depth+1))
			case KindXMLText:
				content = appendPMText(content, c, depth)
			}
		}
	}
	if len(content) > 0 {
		node["content"] = content
	}
	return node
}

// appendPMText appends the text nodes of t. ProseMirror joins adjacent
// text nodes with the same marks (Fragment.fromArray), so y-prosemirror's
// nodes for a Yjs delta are the normalized delta's ops.
func appendPMText(content []any, t *Type, depth int) []any {
	db := deltaBuilder{normalize: true}
	db.build(t)
	text := string(db.text)
	var names []string
	for _, op := range db.ops {
		if op.isEmbed || op.start == op.end {
			continue
		}
		n := map[string]any{"type": "text", "text": text[op.start:op.end]}
		if len(op.attrs) > 0 {
			names = sortedKeys(names[:0], op.attrs)
			marks := make([]any, 0, len(names))
			for _, name := range names {
				typ, _, _ := strings.Cut(name, "--")
				m := map[string]any{"type": typ}
				if obj, ok := op.attrs[name].(map[string]any); ok && len(obj) > 0 {
					m["attrs"], _ = jsonValue(obj, depth)
				}
				marks = append(marks, m)
			}
			n["marks"] = marks
		}
		content = append(content, n)
	}
	return content
}

// XML returns a well-formed XML serialization of a Y.XmlFragment,
// Y.XmlElement or Y.XmlText (and of a Y.Text, rendered like a Y.XmlText);
// other kinds give "". Unlike String it escapes text and attribute values,
// and keeps node names as they are:
//
//   - an element is <nodeName key="value" ...>children</nodeName>, or
//     <nodeName .../> without children; attributes sorted by name, string
//     values as they are, other values as their JSON text (see JSON),
//     undefined ones left out;
//   - text is its delta (see Delta), each string insert wrapped in one tag
//     per formatting attribute, sorted by name; an object value gives the
//     tag its keys as attributes, true none, any other value one attribute
//     value="..."; embedded XML types are serialized in place, other embeds
//     skipped;
//   - a fragment is its children, one after the other (not wrapped in a
//     root element); Y.XmlHook children and non-XML content are skipped.
//
// Node, tag and attribute names keep ASCII and other letters and digits of
// the Basic Multilingual Plane (what parsers of every XML edition accept);
// any other character becomes "_", and "_" is put in front of a name that
// starts with a digit, "-" or "."; of two attributes whose names become
// equal, the first (in key order) is kept. Characters XML cannot carry
// become U+FFFD.
func (t *Type) XML() string {
	src, k := t.view()
	if src == nil {
		return ""
	}
	var w xmlWriter
	w.typ(src, k, 0)
	return string(w.b)
}

type xmlWriter struct {
	b []byte
}

func (w *xmlWriter) typ(t *Type, k Kind, depth int) {
	if t == nil || depth > maxExportDepth {
		return
	}
	switch k {
	case KindXMLFragment:
		w.children(t, depth)
	case KindXMLElement:
		w.element(t, depth)
	case KindXMLText, KindText:
		w.text(t, depth)
	}
}

func (w *xmlWriter) children(t *Type, depth int) {
	for it := t.start; it != nil; it = it.right {
		if !it.visible() {
			continue
		}
		switch c := it.content.(type) {
		case *contentType:
			w.typ(c.t, kindOf(c.t), depth+1)
		case *contentString:
			w.b = appendEscaped(w.b, c.s, false)
		}
	}
}

func (w *xmlWriter) element(t *Type, depth int) {
	name := xmlName(elementName(t))
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	seen := make(map[string]bool)
	for _, key := range attributeKeys(t) {
		v, ok := jsonValue(lastElem(t.entries[key]), depth)
		if !ok {
			continue
		}
		w.attr(seen, key, v)
	}
	w.b = append(w.b, '>')
	open := len(w.b)
	w.children(t, depth)
	if len(w.b) == open {
		w.b = append(w.b[:open-1], "/>"...)
		return
	}
	w.b = append(w.b, "</"...)
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// attr writes one attribute with a JSON value, unless its name is taken.
func (w *xmlWriter) attr(seen map[string]bool, key string, v any) {
	name := xmlName(key)
	if seen[name] {
		return
	}
	seen[name] = true
	w.b = append(w.b, ' ')
	w.b = append(w.b, name...)
	w.b = append(w.b, `="`...)
	s, ok := v.(string)
	if !ok {
		s = marshalJSON(v)
	}
	w.b = appendEscaped(w.b, []byte(s), true)
	w.b = append(w.b, '"')
}

func (w *xmlWriter) text(t *Type, depth int) {
	var db deltaBuilder
	db.build(t)
	for _, op := range db.ops {
		if op.isEmbed {
			if et, ok := op.embed.(*Type); ok {
				switch kindOf(et) {
				case KindXMLElement, KindXMLFragment, KindXMLText:
					w.wrap(op.attrs, depth, func() { w.typ(et, et.kind, depth+1) })
				}
			}
			continue
		}
		w.wrap(op.attrs, depth, func() { w.b = appendEscaped(w.b, db.text[op.start:op.end], false) })
	}
}

// wrap writes inner wrapped in one tag per formatting attribute.
func (w *xmlWriter) wrap(attrs map[string]any, depth int, inner func()) {
	names := sortedKeys(nil, attrs)
	for _, n := range names {
		w.b = append(w.b, '<')
		w.b = append(w.b, xmlName(n)...)
		v, _ := jsonValue(attrs[n], depth)
		switch v := v.(type) {
		case map[string]any:
			seen := make(map[string]bool)
			for _, k := range sortedKeys(nil, v) {
				w.attr(seen, k, v[k])
			}
		case bool:
			if !v {
				w.attr(map[string]bool{}, "value", v)
			}
		default:
			w.attr(map[string]bool{}, "value", v)
		}
		w.b = append(w.b, '>')
	}
	inner()
	for i := len(names) - 1; i >= 0; i-- {
		w.b = append(w.b, "</"...)
		w.b = append(w.b, xmlName(names[i])...)
		w.b = append(w.b, '>')
	}
}

// appendEscaped appends UTF-8 s escaped for XML character data (attr:
// for a double-quoted attribute value, where white space other than the
// space character is escaped too so that parsers keep it).
func appendEscaped(b, s []byte, attr bool) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		s = s[n:]
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"' && attr:
			b = append(b, "&quot;"...)
		case r == '\r':
			b = append(b, "&#13;"...)
		case (r == '\n' || r == '\t') && attr:
			if r == '\n' {
				b = append(b, "&#10;"...)
			} else {
				b = append(b, "&#9;"...)
			}
		case !xmlChar(r) || (r == utf8.RuneError && n == 1):
			b = utf8.AppendRune(b, utf8.RuneError)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// xmlChar reports whether XML 1.0 allows r in a document.
func xmlChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}

// xmlName makes s a valid XML name: one that XML 1.0 parsers of every
// edition accept, without colons (so it is a valid namespace-less name too).
// Letters and digits of the Basic Multilingual Plane are kept.
func xmlName(s string) string {
	ok := s != ""
	for i, r := range s {
		if (i == 0 && !nameStart(r)) || !nameChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case i == 0 && !nameStart(r) && nameChar(r):
			b.WriteByte('_')
			b.WriteRune(r)
		case i == 0 && !nameStart(r), !nameChar(r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

func nameStart(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		return true
	case r < 0xC0 || r > 0xFFFD:
		return false
	}
	return xml5NameStart(r) && unicode.IsLetter(r)
}

func nameChar(r rune) bool {
	switch {
	case nameStart(r), r == '-', r == '.', r >= '0' && r <= '9', r == 0xB7:
		return true
	case r < 0xC0 || r > 0xFFFD:
		return false
	}
	return (xml5NameStart(r) || (r >= 0x300 && r <= 0x36F) || (r >= 0x203F && r <= 0x2040)) &&
		(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc))
}

// xml5NameStart reports whether XML 1.0 (fifth edition) allows r, a
// non-ASCII rune, to start a name.
func xml5NameStart(r rune) bool {
	return (r >= 0xC0 && r <= 0xD6) || (r >= 0xD8 && r <= 0xF6) || (r >= 0xF8 && r <= 0x2FF) ||
		(r >= 0x370 && r <= 0x37D) || (r >= 0x37F && r <= 0x1FFF) || (r >= 0x200C && r <= 0x200D) ||
		(r >= 0x2070 && r <= 0x218F) || (r >= 0x2C00 && r <= 0x2FEF) || (r >= 0x3001 && r <= 0xD7FF) ||
		(r >= 0xF900 && r <= 0xFDCF) || (r >= 0xFDF0 && r <= 0xFFFD)
}
