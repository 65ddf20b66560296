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
}

// decodeUpdate decodes a v1 update completely, validating everything that
// can be validated without a document. Nothing it returns aliases b.
func decodeUpdate(b []byte) (*decodedUpdate, error) {
	d := lib0.NewDecoder(b)
	u := &decodedUpdate{}
	if err := decodeStructs(d, u); err != nil {
		return nil, err
	}
	ds, err := decodeDeleteSet(d)
	if err != nil {
		return nil, err
	}
	u.ds = ds
	// Yjs ignores bytes after the delete set, and so do we: some encoders
	// append nothing, but being strict here would refuse updates Yjs takes.
	return u, nil
}

func wrapDecode(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidUpdate, what, err)
}

func decodeStructs(d *lib0.Decoder, u *decodedUpdate) error {
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
			return wrapDecode("client id", err)
		}
		clock, err := d.ReadVarUint()
		if err != nil {
			return wrapDecode("clock", err)
		}
		refs := make([]*item, 0, count)
		for range count {
			it, err := decodeStruct(d, client, clock)
			if err != nil {
				return err
			}
			clock += uint64(it.length)
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

func decodeStruct(d *lib0.Decoder, client, clock uint64) (*item, error) {
	info, err := d.ReadUint8()
	if err != nil {
		return nil, wrapDecode("struct info", err)
	}
	id := ID{client, clock}
	switch info & 0x1f {
	case refGC, refSkip:
		n, err := d.ReadVarUint()
		if err != nil {
			return nil, wrapDecode("struct length", err)
		}
		if n == 0 || n > lib0.MaxSafeInteger {
			return nil, invalid("struct %d:%d has length %d", client, clock, n)
		}
		it := newGC(id, int(n))
		if info&0x1f == refSkip {
			it.flags = flagSkip
		}
		return it, nil
	}
	it := &item{id: id}
	if info&0x80 != 0 {
		if it.origin, err = readID(d); err != nil {
			return nil, wrapDecode("origin", err)
		}
		it.flags |= flagOrigin
		if it.origin.Client == client && it.origin.Clock >= clock {
			return nil, invalid("item %d:%d has origin %d:%d after it", client, clock, client, it.origin.Clock)
		}
	}
	if info&0x40 != 0 {
		if it.rightOrigin, err = readID(d); err != nil {
			return nil, wrapDecode("right origin", err)
		}
		it.flags |= flagRightOrigin
		if it.rightOrigin.Client == client && it.rightOrigin.Clock >= clock {
			return nil, invalid("item %d:%d has right origin %d:%d after it", client, clock, client, it.rightOrigin.Clock)
		}
	}
	if info&0xc0 == 0 {
		// No neighbours: the item names its parent, and its key if any.
		ref := &itemRef{}
		isName, err := d.ReadVarUint()
		if err != nil {
			return nil, wrapDecode("parent info", err)
		}
		if isName == 1 {
			if ref.parentName, err = d.ReadVarString(); err != nil {
				return nil, wrapDecode("parent name", err)
			}
		} else {
			if ref.parentID, err = readID(d); err != nil {
				return nil, wrapDecode("parent id", err)
			}
			ref.hasID = true
			if ref.parentID.Client == client && ref.parentID.Clock >= clock {
				return nil, invalid("item %d:%d has parent %d:%d after it", client, clock, client, ref.parentID.Clock)
			}
		}
		it.ref = ref
		if info&0x20 != 0 {
			if it.parentSub, err = d.ReadVarString(); err != nil {
				return nil, wrapDecode("parent key", err)
			}
			it.flags |= flagParentSub
		}
	}
	c, err := decodeContent(d, info&0x1f)
	if err != nil {
		return nil, err
	}
	it.content = c
	it.length = c.length()
	if it.length == 0 {
		return nil, invalid("item %d:%d is empty", client, clock)
	}
	if c.countable() {
		it.flags |= flagCountable
	}
	return it, nil
}

func readID(d *lib0.Decoder) (ID, error) {
	c, err := d.ReadVarUint()
	if err != nil {
		return ID{}, err
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

func decodeContent(d *lib0.Decoder, ref byte) (content, error) {
	switch ref {
	case refDeleted:
		n, err := d.ReadVarUint()
		if err != nil {
			return nil, wrapDecode("deleted length", err)
		}
		if n > lib0.MaxSafeInteger {
			return nil, invalid("deleted length %d", n)
		}
		return &contentDeleted{n: int(n)}, nil
	case refJSON:
		n, err := d.ReadCount(1)
		if err != nil {
			return nil, wrapDecode("json count", err)
		}
		vals := make([]string, 0, n)
		for range n {
			b, err := d.SkipVarString()
			if err != nil {
				return nil, wrapDecode("json value", err)
			}
			if string(b) != "undefined" && !json.Valid(b) {
				return nil, invalid("json content is not JSON")
			}
			vals = append(vals, string(b))
		}
		return &contentJSON{vals: vals}, nil
	case refBinary:
		b, err := d.ReadVarBytes()
		if err != nil {
			return nil, wrapDecode("binary", err)
		}
		return &contentBinary{b: append([]byte(nil), b...)}, nil
	case refString:
		b, err := d.SkipVarString()
		if err != nil {
			return nil, wrapDecode("string", err)
		}
		return newContentString(append([]byte(nil), b...)), nil
	case refEmbed:
		s, err := readJSONText(d, "embed")
		if err != nil {
			return nil, err
		}
		return &contentEmbed{json: s}, nil
	case refFormat:
		key, err := d.ReadVarString()
		if err != nil {
			return nil, wrapDecode("format key", err)
		}
		v, err := readJSONText(d, "format value")
		if err != nil {
			return nil, err
		}
		return &contentFormat{key: key, json: v}, nil
	case refType:
		k, err := d.ReadVarUint()
		if err != nil {
			return nil, wrapDecode("type ref", err)
		}
		if k > uint64(KindXMLText) {
			return nil, invalid("unknown type ref %d", k)
		}
		t := &Type{kind: Kind(k)}
		if t.kind == KindXMLElement || t.kind == KindXMLHook {
			if t.nodeName, err = d.ReadVarString(); err != nil {
				return nil, wrapDecode("node name", err)
			}
		}
		return &contentType{t: t}, nil
	case refAny:
		n, err := d.ReadCount(1)
		if err != nil {
			return nil, wrapDecode("any count", err)
		}
		start := d.Pos()
		for range n {
			if _, err := d.SkipAny(); err != nil {
				return nil, wrapDecode("any value", err)
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
		return &contentAny{vals: vals}, nil
	case refDoc:
		guid, err := d.ReadVarString()
		if err != nil {
			return nil, wrapDecode("subdocument guid", err)
		}
		opts, err := d.SkipAny()
		if err != nil {
			return nil, wrapDecode("subdocument options", err)
		}
		return &contentDoc{guid: guid, opts: append([]byte(nil), opts...)}, nil
	}
	return nil, invalid("unknown content ref %d", ref)
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
			return nil, wrapDecode("delete set client", err)
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
