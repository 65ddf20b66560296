package ydoc

import (
	"slices"

	"github.com/collabd/collabd/lib0"
)

// write encodes the struct from offset on (update format v1).
func (it *item) write(e *lib0.Encoder, offset int) {
	if it.isGC() || it.isSkip() {
		if it.isSkip() {
			e.WriteUint8(refSkip)
		} else {
			e.WriteUint8(refGC)
		}
		e.WriteVarUint(uint64(it.size() - offset))
		return
	}
	hasOrigin := offset > 0 || it.hasOrigin()
	origin := it.origin
	if offset > 0 {
		origin = ID{it.id.Client, it.id.Clock + uint64(offset) - 1}
	}
	info := it.content.ref()
	if hasOrigin {
		info |= 0x80
	}
	if it.hasRightOrigin() {
		info |= 0x40
	}
	if it.hasParentSub() {
		info |= 0x20
	}
	e.WriteUint8(info)
	if hasOrigin {
		e.WriteVarUint(origin.Client)
		e.WriteVarUint(origin.Clock)
	}
	if it.hasRightOrigin() {
		e.WriteVarUint(it.rightOrigin.Client)
		e.WriteVarUint(it.rightOrigin.Clock)
	}
	if !hasOrigin && !it.hasRightOrigin() {
		switch p := it.parent; {
		case p == nil:
			// Unreachable: an item without neighbours names its parent.
		case p.kind == kindParentName || (p.item == nil && p.kind != kindParentID):
			e.WriteVarUint(1)
			e.WriteVarString(p.name)
		case p.kind == kindParentID:
			e.WriteVarUint(0)
			e.WriteVarUint(p.parentID.Client)
			e.WriteVarUint(p.parentID.Clock)
		default:
			e.WriteVarUint(0)
			e.WriteVarUint(p.item.id.Client)
			e.WriteVarUint(p.item.id.Clock)
		}
		if it.hasParentSub() {
			e.WriteVarString(it.key())
		}
	}
	it.content.write(e, offset, it.size())
}

// EncodeStateAsUpdate encodes what the document has beyond sv as a v1
// update: with a nil or empty sv, the full state. Pending structs and
// pending deletions are included, as Yjs includes them, so that state a
// client sent is never lost by a round trip through this document.
func (d *Doc) EncodeStateAsUpdate(sv StateVector) []byte {
	var e lib0.Encoder
	d.writeStructsFrom(&e, sv)
	ds := d.storeDeleteSet()
	if d.pendingDS != nil {
		if ds == nil {
			ds = make(deleteSet)
		}
		ds.merge(d.pendingDS)
		ds.sortAndMerge()
	}
	ds.write(&e)
	return e.Buf
}

// EncodeDiff is EncodeStateAsUpdate for an encoded state vector (what a
// SyncStep1 message carries).
func (d *Doc) EncodeDiff(encodedSV []byte) ([]byte, error) {
	sv, err := DecodeStateVector(encodedSV)
	if err != nil {
		return nil, err
	}
	return d.EncodeStateAsUpdate(sv), nil
}

// writeStructsFrom writes, per client with anything beyond sv, the stored
// structs from sv's clock on followed by the client's pending structs (a
// Skip struct over any gap), clients in descending order.
func (d *Doc) writeStructsFrom(e *lib0.Encoder, sv StateVector) {
	type section struct {
		client uint64
		from   uint64
	}
	var sections []section
	for c, l := range d.clients {
		if len(l.items) > 0 && d.stateOf(l) > sv[c] {
			sections = append(sections, section{c, sv[c]})
		}
	}
	for c, refs := range d.pending {
		if len(refs) == 0 {
			continue
		}
		if l := d.clients[c]; l != nil && len(l.items) > 0 && d.stateOf(l) > sv[c] {
			continue // already listed
		}
		if hasContentFrom(refs, sv[c]) {
			sections = append(sections, section{c, sv[c]})
		}
	}
	slices.SortFunc(sections, func(a, b section) int { return cmpU64(b.client, a.client) })
	e.WriteVarUint(uint64(len(sections)))
	var w structWriter
	for _, s := range sections {
		w.reset(s.client, s.from)
		if l := d.clients[s.client]; l != nil && len(l.items) > 0 {
			from := max(s.from, l.items[0].id.Clock)
			if from < d.stateOf(l) {
				for _, it := range l.items[l.find(from):] {
					w.add(it)
				}
			}
		}
		for _, it := range d.pending[s.client] {
			w.add(it)
		}
		w.flush(e)
	}
}

// structWriter writes one client's section of an update from structs given
// in clock order: it skips what was written already, cuts the first
// struct at the start clock, and fills gaps with Skip structs.
type structWriter struct {
	client uint64
	start  uint64 // first clock to write
	next   uint64 // clock after the last written struct
	body   lib0.Encoder
	count  int
	first  uint64
}

func (w *structWriter) reset(client, from uint64) {
	w.client, w.start, w.next, w.count = client, from, from, 0
	w.body.Buf = w.body.Buf[:0]
}

func (w *structWriter) add(it *item) {
	end := it.id.Clock + uint64(it.size())
	if end <= w.next || it.isSkip() {
		return
	}
	if w.count == 0 {
		w.first = max(it.id.Clock, w.start)
		w.next = w.first
	} else if it.id.Clock > w.next {
		skip := &item{id: ID{w.client, w.next}, n: uint32(it.id.Clock - w.next), flags: flagSkip}
		skip.write(&w.body, 0)
		w.count++
		w.next = it.id.Clock
	}
	offset := 0
	if it.id.Clock < w.next {
		offset = int(w.next - it.id.Clock)
	}
	it.write(&w.body, offset)
	w.count++
	w.next = end
}

func (w *structWriter) flush(e *lib0.Encoder) {
	if w.count == 0 {
		w.first = w.start
	}
	e.WriteVarUint(uint64(w.count))
	e.WriteVarUint(w.client)
	e.WriteVarUint(w.first)
	e.Buf = append(e.Buf, w.body.Buf...)
}

// storeDeleteSet is the delete set of the stored structs: every range of
// deleted items and GC structs, merged.
func (d *Doc) storeDeleteSet() deleteSet {
	var ds deleteSet
	for c, l := range d.clients {
		var rs []delRange
		for i := 0; i < len(l.items); i++ {
			s := l.items[i]
			if !s.deleted() {
				continue
			}
			clock, n := s.id.Clock, uint64(s.size())
			for i+1 < len(l.items) && l.items[i+1].deleted() {
				i++
				n += uint64(l.items[i].size())
			}
			rs = append(rs, delRange{clock, n})
		}
		if len(rs) > 0 {
			if ds == nil {
				ds = make(deleteSet)
			}
			ds[c] = rs
		}
	}
	return ds
}
