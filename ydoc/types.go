package ydoc

// MaxNesting bounds how deep shared types nest. A type that would nest
// deeper is collected on arrival (it becomes a GC struct, and so does
// everything inside it), so that hostile input cannot make the recursive
// walks over nested types (deletion, collection, export) unbounded. Real
// documents nest a few dozen levels at most.
const MaxNesting = 1000

// Kind is the kind of a shared type. The numbers are Yjs's type references
// in update format v1.
type Kind uint8

// Shared type kinds. KindUnknown is a root type that no content has told
// the kind of yet (see Doc.RootKind for how it is inferred).
const (
	KindArray       Kind = 0
	KindMap         Kind = 1
	KindText        Kind = 2
	KindXMLElement  Kind = 3
	KindXMLFragment Kind = 4
	KindXMLHook     Kind = 5
	KindXMLText     Kind = 6
	KindUnknown     Kind = 255

	// Placeholder parents of decoded items that name their parent: by
	// root name (Type.name) or by the ID of the item holding it.
	kindParentName Kind = 253
	kindParentID   Kind = 254
)

func (k Kind) String() string {
	switch k {
	case KindArray:
		return "array"
	case KindMap:
		return "map"
	case KindText:
		return "text"
	case KindXMLElement:
		return "xmlelement"
	case KindXMLFragment:
		return "xmlfragment"
	case KindXMLHook:
		return "xmlhook"
	case KindXMLText:
		return "xmltext"
	}
	return "unknown"
}

// Type is a shared type: a root type of a document (named) or a nested
// type held by an item. Sequence content is the linked list from start;
// map entries are the newest item of each key (older ones are to its left).
type Type struct {
	doc      *Doc
	item     *item  // the item holding this type; nil for a root
	name     string // root name
	kind     Kind
	nodeName string // XmlElement node name or XmlHook hook name
	depth    int    // nesting depth: 0 for roots
	parentID ID     // for a kindParentID placeholder
	key      string // for a placeholder: the decoded item's map key

	start   *item
	entries map[string]*item
	keys    map[*item]string // the key of every map entry item
	length  int              // visible countable length of the sequence

	hasFormatting bool

	// A position cache for index lookups (local edits): marker is a
	// visible item and markerIndex the sequence index where it starts.
	// Anything that could invalidate it without updating it clears it.
	marker      *item
	markerIndex int
}

// Kind returns the type's kind as known from its content.
func (t *Type) Kind() Kind { return t.kind }

// Len is the number of visible elements (UTF-16 units for text).
func (t *Type) Len() int { return t.length }

func (t *Type) mapSet(key string, it *item) {
	if t.entries == nil {
		t.entries = make(map[string]*item)
	}
	t.entries[key] = it
}

// isPlaceholder reports whether t only names a decoded item's parent.
func (t *Type) isPlaceholder() bool { return t.kind == kindParentName || t.kind == kindParentID }

func (t *Type) setKey(it *item, key string) {
	if t.keys == nil {
		t.keys = make(map[*item]string)
	}
	t.keys[it] = key
}

// deleted reports whether the type is inside deleted content.
func (t *Type) deleted() bool { return t.item != nil && t.item.deleted() }
