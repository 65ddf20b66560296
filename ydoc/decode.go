package ydoc

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/collabd/collabd/lib0"
)

var (
	// ErrInvalidUpdate is wrapped by every error about an update that cannot
	// be decoded or applied. A document is unchanged by such an update.
	ErrInvalidUpdate = errors.New("ydoc: invalid update")
	// ErrInvalidStateVector is wrapped by errors about undecodable state vectors.
	ErrInvalidStateVector = errors.New("ydoc: invalid state vector")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidUpdate}, args...)...)
}

// clientRefs are one client's decoded structs of an update, in clock order,
// and how many of them integrateStructs has consumed.
type clientRefs struct {
	refs []*item
	i    int
}

// decodedUpdate is an update decoded into structs that are not integrated.
type decodedUpdate struct {
	clients map[uint64]*clientRefs
	ds      deleteSet
	retry   bool // the document's own pending structs, tried again
}

// decodeUpdate decodes a v1 update completely, validating everything that
// can be validated without a document. Nothing it returns aliases b.
//
// cold says the structs will almost all be kept (loading into an empty
// document): items are then allocated in slabs, which saves allocations
// and memory, but would pin a whole slab for one surviving item otherwise.
func decodeUpdate(b []byte, cold bool) (*decodedUpdate, error) {
	dec := &updateDecoder{d: lib0.NewDecoder(b), cold: cold}
	u := &decodedUpdate{}
	if err := dec.structs(u); err != nil {
		return nil, err
	}
	ds, err := decodeDeleteSet(dec.d)
	if err != nil {
		return nil, err
	}
	u.ds = ds
	// Yjs ignores bytes after the delete set, and so do we: being strict
	// here would refuse updates Yjs takes.
	dec.ownStrings()
	return u, nil
}

// updateDecoder decodes the structs of one update.
type updateDecoder struct {
	d    *lib0.Decoder
	cold bool
	slab []item          // preallocated items (cold decoding)
	strs []contentString // preallocated string contents (cold decoding)
	// Text content aliases the input until ownStrings copies all of it
	// into one buffer.
	aliased []*contentString
}

func wrapDecode(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidUpdate, what, err)
}

func (dec *updateDecoder) newItem(count int) *item {
	if !dec.cold {
		return &item{}
	}
	if len(dec.slab) == 0 {
		dec.slab = make([]item, min(count, 1024))
	}
	it := &dec.slab[0]
	dec.slab = dec.slab[1:]
	return it
}

func (dec *updateDecoder) newString(s []byte) *contentString {
	var c *contentString
	if dec.cold {
		if len(dec.strs) == 0 {
			dec.strs = make([]contentString, 128)
		}
		c = &dec.strs[0]
		dec.strs = dec.strs[1:]
		c.s = s
	} else {
		c = &contentString{s: s}
	}
	dec.aliased = append(dec.aliased, c)
	return c
}

// ownStrings copies the text that content aliases into one buffer, so the
// decoded update does not keep the input alive.
func (dec *updateDecoder) ownStrings() {
	total := 0
	for _, c := range dec.aliased {
		total += len(c.s)
	}
	buf := make([]byte, total)
	off := 0
	for _, c := range dec.aliased {
		n := copy(buf[off:], c.s)
		c.s = buf[off : off+n : off+n]
		off += n
	}
}

func (dec *updateDecoder) structs(u *decodedUpdate) error {
	d := dec.d
	// A client section takes at least 3 bytes (count, client, clock).
	n, err := d.ReadCount(3)
	if err != nil {
		return wrapDecode("client count", err)
	}
	u.clients = make(map[uint64]*clientRefs, n)
	for range n {
		// A struct takes at least 2 bytes (info and a length or content).
		count, err := d.ReadCount(2)
		if err != nil {
			return wrapDecode("struct count", err)
		}
		client, err := d.ReadVarUint()
		if err != nil {
			return wrapDecode("client id", clientErr(err))
		}
		clock, err := d.ReadVarUint()
		if err != nil {
			return wrapDecode("clock", err)
		}
		refs := make([]*item, 0, count)
		for i := range count {
			it, err := dec.structAt(client, clock, count-i)
			if err != nil {
				return err
			}
			clock += uint64(it.size())
			if clock > lib0.MaxSafeInteger {
				return invalid("clock of client %d overflows", client)
			}
			refs = append(refs, it)
		}
		// A client repeated within one update replaces its earlier section,
		// as in Yjs.
		u.clients[client] = &clientRefs{refs: refs}
	}
	return nil
}

// structAt decodes one struct of client at clock; left is how many structs
// of the section remain (for slab sizing).
func (dec *updateDecoder) structAt(client, clock uint64, left int) (*item, error) {
	d := dec.d
	info, err := d.ReadUint8()
	if err != nil {
		return nil, wrapDecode("struct info", err)
	}
	id := ID{client, clock}
	it := dec.newItem(left)
	it.id = id
	switch info & 0x1f {
	case refGC, refSkip:
		n, err := d.ReadVarUint()
		if err != nil {
			return nil, wrapDecode("struct length", err)
		}
		if n == 0 || n > maxStructLen {
			return nil, invalid("struct %d:%d has length %d", client, clock, n)
		}
		it.n = uint32(n)
		it.flags = flagGC | flagDeleted
		if info&0x1f == refSkip {
			it.flags = flagSkip
		}
		return it, nil
	}
	if info&0x80 != 0 {
		o, err := readID(d)
		if err != nil {
			return nil, wrapDecode("origin", err)
		}
		if o.Client == client && o.Clock >= clock {
			return nil, invalid("item %d:%d has origin %d:%d after it", client, clock, client, o.Clock)
		}
		it.setOrigin(o)
	}
	if info&0x40 != 0 {
		r, err := readID(d)
		if err != nil {
			return nil, wrapDecode("right origin", err)
		}
		if r.Client == client && r.Clock >= clock {
			return nil, invalid("item %d:%d has right origin %d:%d after it", client, clock, client, r.Clock)
		}
		it.setRightOrigin(r)
	}
	if info&0xc0 == 0 {
		// No neighbours: the item names its parent, and its key if any.
		// Until integration, parent is a placeholder holding that name.
		ref := &Type{kind: kindParentName}
		isName, err := d.ReadVarUint()
		if err != nil {
			return nil, wrapDecode("parent info", err)
		}
		if isName == 1 {
			if ref.name, err = d.ReadVarString(); err != nil {
				return nil, wrapDecode("parent name", err)
			}
		} else {
			if ref.parentID, err = readID(d); err != nil {
				return nil, wrapDecode("parent id", err)
			}
			ref.kind = kindParentID
			if ref.parentID.Client == client && ref.parentID.Clock >= clock {
				return nil, invalid("item %d:%d has parent %d:%d after it", client, clock, client, ref.parentID.Clock)
			}
		}
		it.parent = ref
		if info&0x20 != 0 {
			if ref.key, err = d.ReadVarString(); err != nil {
				return nil, wrapDecode("parent key", err)
			}
			it.flags |= flagParentSub
		}
	}
	c, n, err := dec.content(info & 0x1f)
	if err != nil {
		return nil, err
	}
	if n > maxStructLen {
		return nil, invalid("item %d:%d is too long", client, clock)
	}
	it.content = c
	it.n = uint32(n)
	if c.countable() {
		it.flags |= flagCountable
	}
	return it, nil
}

// ErrClientID reports a client id above MaxClientID (2^53-1), which Yjs
// cannot decode either.
var ErrClientID = errors.New("client id exceeds 2^53-1")

// clientErr names an out-of-range varUint read as a client id for what it
// is: lib0 refuses values above 2^53-1.
func clientErr(err error) error {
	if errors.Is(err, lib0.ErrIntegerOverflow) {
		return ErrClientID
	}
	return err
}

func readID(d *lib0.Decoder) (ID, error) {
	c, err := d.ReadVarUint()
	if err != nil {
		return ID{}, clientErr(err)
	}
	k, err := d.ReadVarUint()
	if err != nil {
		return ID{}, err
	}
	return ID{c, k}, nil
}

func readJSONText(d *lib0.Decoder, what string) (string, error) {
	b, err := d.SkipVarString()
	if err != nil {
		return "", wrapDecode(what, err)
	}
	if !json.Valid(b) {
		return "", invalid("%s is not JSON", what)
	}
	return string(b), nil
}

// content decodes an item's content and returns it with its length. Empty
// content (which no Yjs client writes) is refused: a struct of length zero
// would break the clock arithmetic everything else relies on.
func (dec *updateDecoder) content(ref byte) (content, int, error) {
	d := dec.d
	switch ref {
	case refDeleted:
		n, err := d.ReadVarUint()
		if err != nil {
			return nil, 0, wrapDecode("deleted length", err)
		}
		if n == 0 || n > maxStructLen {
			return nil, 0, invalid("deleted length %d", n)
		}
		return contentDeleted{}, int(n), nil
	case refJSON:
		n, err := d.ReadCount(1)
		if err != nil {
			return nil, 0, wrapDecode("json count", err)
		}
		if n == 0 {
			return nil, 0, invalid("empty json content")
		}
		vals := make([]string, 0, n)
		for range n {
			b, err := d.SkipVarString()
			if err != nil {
				return nil, 0, wrapDecode("json value", err)
			}
			if string(b) != "undefined" && !json.Valid(b) {
				return nil, 0, invalid("json content is not JSON")
			}
			vals = append(vals, string(b))
		}
		return &contentJSON{vals: vals}, n, nil
	case refBinary:
		b, err := d.ReadVarBytes()
		if err != nil {
			return nil, 0, wrapDecode("binary", err)
		}
		return &contentBinary{b: append([]byte(nil), b...)}, 1, nil
	case refString:
		b, err := d.SkipVarString()
		if err != nil {
			return nil, 0, wrapDecode("string", err)
		}
		if len(b) == 0 {
			return nil, 0, invalid("empty string content")
		}
		return dec.newString(b), utf16Len(b), nil
	case refEmbed:
		s, err := readJSONText(d, "embed")
		if err != nil {
			return nil, 0, err
		}
		return &contentEmbed{json: s}, 1, nil
	case refFormat:
		key, err := d.ReadVarString()
		if err != nil {
			return nil, 0, wrapDecode("format key", err)
		}
		v, err := readJSONText(d, "format value")
		if err != nil {
			return nil, 0, err
		}
		return &contentFormat{key: key, json: v}, 1, nil
	case refType:
		k, err := d.ReadVarUint()
		if err != nil {
			return nil, 0, wrapDecode("type ref", err)
		}
		if k > uint64(KindXMLText) {
			return nil, 0, invalid("unknown type ref %d", k)
		}
		t := &Type{kind: Kind(k)}
		if t.kind == KindXMLElement || t.kind == KindXMLHook {
			if t.nodeName, err = d.ReadVarString(); err != nil {
				return nil, 0, wrapDecode("node name", err)
			}
		}
		return &contentType{t: t}, 1, nil
	case refAny:
		n, err := d.ReadCount(1)
		if err != nil {
			return nil, 0, wrapDecode("any count", err)
		}
		if n == 0 {
			return nil, 0, invalid("empty any content")
		}
		start := d.Pos()
		for range n {
			if _, err := d.SkipAny(); err != nil {
				return nil, 0, wrapDecode("any value", err)
			}
		}
		// One allocation for all values; each value is a sub-slice.
		raw := append([]byte(nil), d.Since(start)...)
		vals := make([][]byte, 0, n)
		sub := lib0.NewDecoder(raw)
		for range n {
			v, _ := sub.SkipAny()
			vals = append(vals, v)
		}
		return &contentAny{vals: vals}, n, nil
	case refDoc:
		guid, err := d.ReadVarString()
		if err != nil {
			return nil, 0, wrapDecode("subdocument guid", err)
		}
		opts, err := d.SkipAny()
		if err != nil {
			return nil, 0, wrapDecode("subdocument options", err)
		}
		return &contentDoc{guid: guid, opts: append([]byte(nil), opts...)}, 1, nil
	}
	return nil, 0, invalid("unknown content ref %d", ref)
}

func decodeDeleteSet(d *lib0.Decoder) (deleteSet, error) {
	n, err := d.ReadCount(2)
	if err != nil {
		return nil, wrapDecode("delete set client count", err)
	}
	if n == 0 {
		return nil, nil
	}
	ds := make(deleteSet, n)
	for range n {
		client, err := d.ReadVarUint()
		if err != nil {
			return nil, wrapDecode("delete set client", clientErr(err))
		}
		count, err := d.ReadCount(2)
		if err != nil {
			return nil, wrapDecode("delete set range count", err)
		}
		ranges := make([]delRange, 0, count)
		for range count {
			clock, err := d.ReadVarUint()
			if err != nil {
				return nil, wrapDecode("delete set clock", err)
			}
			l, err := d.ReadVarUint()
			if err != nil {
				return nil, wrapDecode("delete set length", err)
			}
			if clock+l > lib0.MaxSafeInteger {
				return nil, invalid("delete range %d:%d+%d overflows", client, clock, l)
			}
			if l > 0 {
				ranges = append(ranges, delRange{clock, l})
			}
		}
		ds[client] = append(ds[client], ranges...)
	}
	return ds, nil
}
