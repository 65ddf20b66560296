package ydoc

import (
	"slices"

	"github.com/collabd/collabd/lib0"
)

// appendTo appends the struct's encoding from offset on (update format v1).
// Encoding appends to a local slice rather than through an Encoder field:
// storing a slice into a heap object costs a GC write barrier per call.
func (it *item) appendTo(b []byte, offset int) []byte {
	av := lib0.AppendVarUint
	if it.isGC() || it.isSkip() {
		if it.isSkip() {
			b = append(b, refSkip)
		} else {
			b = append(b, refGC)
		}
		return av(b, uint64(it.size()-offset))
	}
	hasOrigin := offset > 0 || it.hasOrigin()
	origin := it.origin()
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
	b = append(b, info)
	if hasOrigin {
		b = av(av(b, origin.Client), origin.Clock)
	}
	if it.hasRightOrigin() {
		ro := it.rightOrigin()
		b = av(av(b, ro.Client), ro.Clock)
	}
	if !hasOrigin && !it.hasRightOrigin() {
		switch p := it.parent; {
		case p == nil:
			// Unreachable: an item without neighbours names its parent.
		case p.kind == kindParentName || (p.item == nil && p.kind != kindParentID):
			b = appendString(av(b, 1), p.name)
		case p.kind == kindParentID:
			b = av(av(av(b, 0), p.parentID.Client), p.parentID.Clock)
		default:
			b = av(av(av(b, 0), p.item.id.Client), p.item.id.Clock)
		}
		if it.hasParentSub() {
			b = appendString(b, it.key())
		}
	}
	return it.content.appendTo(b, offset, it.size())
}

// EncodeStateAsUpdate encodes what the document has beyond sv as a v1
// update: with a nil or empty sv, the full state. Pending structs and
// pending deletions are included, as Yjs includes them, so that state a
// client sent is never lost by a round trip through this document.
func (d *Doc) EncodeStateAsUpdate(sv StateVector) []byte {
	b := d.appendStructsFrom(make([]byte, 0, d.sizeHint(sv)), sv)
	if d.pendingDS == nil {
		b = d.appendStoreDeleteSet(b)
	} else {
		ds := d.storeDeleteSet()
		if ds == nil {
			ds = make(deleteSet)
		}
		ds.merge(d.pendingDS)
		ds.sortAndMerge()
		b = ds.appendTo(b)
	}
	if len(sv) == 0 {
		d.fullSize = len(b)
	}
	return b
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

// appendStructsFrom appends, per client with anything beyond sv, the stored
// structs from sv's clock on followed by the client's pending structs (a
// Skip struct over any gap), clients in descending order.
func (d *Doc) appendStructsFrom(b []byte, sv StateVector) []byte {
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
	slices.SortFunc(sections, func(x, y section) int { return cmpU64(y.client, x.client) })
	b = lib0.AppendVarUint(b, uint64(len(sections)))
	var w structWriter
	for _, s := range sections {
		l := d.clients[s.client]
		var stored []*item
		if l != nil && len(l.items) > 0 {
			if from := max(s.from, l.items[0].id.Clock); from < d.stateOf(l) {
				stored = l.items[l.find(from):]
			}
		}
		if len(d.pending[s.client]) == 0 {
			// Only stored structs: contiguous, so the count is known and
			// they can be written straight into b.
			first := max(s.from, stored[0].id.Clock)
			b = lib0.AppendVarUint(b, uint64(len(stored)))
			b = lib0.AppendVarUint(b, s.client)
			b = lib0.AppendVarUint(b, first)
			b = stored[0].appendTo(b, int(first-stored[0].id.Clock))
			for _, it := range stored[1:] {
				b = it.appendTo(b, 0)
			}
			continue
		}
		w.reset(s.client, s.from)
		for _, it := range stored {
			w.add(it)
		}
		for _, it := range d.pending[s.client] {
			w.add(it)
		}
		b = w.appendTo(b)
	}
	return b
}

// structWriter writes one client's section of an update from structs given
// in clock order: it skips what was written already, cuts the first
// struct at the start clock, and fills gaps with Skip structs.
type structWriter struct {
	client uint64
	start  uint64 // first clock to write
	next   uint64 // clock after the last written struct
	body   []byte
	count  int
	first  uint64
}

func (w *structWriter) reset(client, from uint64) {
	w.client, w.start, w.next, w.count = client, from, from, 0
	w.body = w.body[:0]
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
		// A Skip struct over the gap (several if it is longer than one
		// struct may be).
		for w.next < it.id.Clock {
			n := min(it.id.Clock-w.next, maxStructLen)
			skip := &item{id: ID{w.client, w.next}, n: uint32(n), flags: flagSkip}
			w.body = skip.appendTo(w.body, 0)
			w.count++
			w.next += n
		}
	}
	offset := 0
	if it.id.Clock < w.next {
		offset = int(w.next - it.id.Clock)
	}
	w.body = it.appendTo(w.body, offset)
	w.count++
	w.next = end
}

// appendTo appends the section: struct count, client, first clock, structs.
func (w *structWriter) appendTo(b []byte) []byte {
	if w.count == 0 {
		w.first = w.start
	}
	b = lib0.AppendVarUint(b, uint64(w.count))
	b = lib0.AppendVarUint(b, w.client)
	b = lib0.AppendVarUint(b, w.first)
	return append(b, w.body...)
}

// sizeHint guesses the size of an encoding from sv on, from the size of
// the last full encoding scaled by the share of clocks it covers, so that
// encoding rarely grows its buffer.
func (d *Doc) sizeHint(sv StateVector) int {
	if d.fullSize == 0 {
		return 64
	}
	if len(sv) == 0 {
		return d.fullSize + d.fullSize/8
	}
	var total, want uint64
	for c, l := range d.clients {
		st := d.stateOf(l)
		total += st
		if from := sv[c]; from < st {
			want += st - from
		}
	}
	if total == 0 {
		return 64
	}
	return int(float64(d.fullSize)*float64(want)/float64(total)) + 64
}

// appendStoreDeleteSet appends the delete set of the stored structs (see
// storeDeleteSet) without building it.
func (d *Doc) appendStoreDeleteSet(b []byte) []byte {
	clients := make([]uint64, 0, len(d.clients))
	for c, l := range d.clients {
		if countDeletedRuns(l.items) > 0 {
			clients = append(clients, c)
		}
	}
	slices.Sort(clients)
	b = lib0.AppendVarUint(b, uint64(len(clients)))
	for i := len(clients) - 1; i >= 0; i-- {
		items := d.clients[clients[i]].items
		b = lib0.AppendVarUint(b, clients[i])
		b = lib0.AppendVarUint(b, uint64(countDeletedRuns(items)))
		for j := 0; j < len(items); j++ {
			s := items[j]
			if !s.deleted() {
				continue
			}
			clock, n := s.id.Clock, uint64(s.n)
			for j+1 < len(items) && items[j+1].deleted() {
				j++
				n += uint64(items[j].n)
			}
			b = lib0.AppendVarUint(lib0.AppendVarUint(b, clock), n)
		}
	}
	return b
}

// countDeletedRuns counts the runs of adjacent deleted structs.
func countDeletedRuns(items []*item) int {
	n := 0
	prev := false
	for _, s := range items {
		del := s.deleted()
		if del && !prev {
			n++
		}
		prev = del
	}
	return n
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
