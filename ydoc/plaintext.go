package ydoc

import "strings"

// PlainText returns the type's text without markup: a text's characters
// (embeds left out); for XML types the characters of their text nodes,
// with a line break between sibling elements (so a ProseMirror document
// reads as one paragraph or block per line). Other kinds return "".
func (t *Type) PlainText() string {
	v, k := t.view()
	var b strings.Builder
	switch k {
	case KindText, KindXMLText:
		b.WriteString(textString(v))
	case KindXMLFragment, KindXMLElement:
		writeXMLPlain(&b, v, 0)
	}
	return b.String()
}

func writeXMLPlain(b *strings.Builder, t *Type, depth int) {
	if depth > MaxNesting {
		return
	}
	first := true
	for it := t.start; it != nil; it = it.right {
		if it.deleted() {
			continue
		}
		c, ok := it.content.(*contentType)
		if !ok {
			continue
		}
		switch c.t.kind {
		case KindXMLText:
			b.WriteString(textString(c.t))
		case KindXMLElement:
			if !first {
				b.WriteByte('\n')
			}
			writeXMLPlain(b, c.t, depth+1)
			first = false
		}
	}
}
