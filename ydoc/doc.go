// Package ydoc is collabd's Yjs document core: a Go implementation of the
// Yjs CRDT (YATA) that reads and writes Yjs update format v1, integrates
// remote updates exactly as Yjs does, and reads content out for export.
//
// A Doc holds per client the structs it has received, in clock order (the
// store), and the shared types they form: each type's items are a doubly
// linked list in document order. ApplyUpdate decodes an update completely
// before it touches the document, so an update that fails to decode leaves
// the document exactly as it was. Structs whose dependencies have not
// arrived wait as pending structs (and pending delete sets) and integrate
// when the missing updates arrive; until then they are part of the encoded
// state, as in Yjs.
//
// Facts about the format and algorithm come from the Yjs sources and docs;
// the code is collabd's own.
//
// Concurrency: a Doc is not safe for concurrent use. It is owned by one
// goroutine (in collabd, the room's), or guarded by the caller's lock. The
// package has no global state; documents never share memory.
package ydoc

import (
	"fmt"
	"sort"
)

// Options configure a Doc. The zero value is the default.
type Options struct {
	// ClientID is the client id of local edits (Transact): callers that
	// edit locally should set a random id (as Yjs clients do, 32-bit; any
	// id up to MaxClientID = 2^53-1 works, higher bits are dropped; zero
	// picks 1).
	ClientID uint64
	// KeepHistory turns garbage collection off: deleted content is kept
	// (marked deleted) instead of being replaced by tombstones. Yjs calls
	// this gc: false.
	KeepHistory bool
}

// Doc is a Yjs document.
type Doc struct {
	clientID uint64
	gc       bool

	clients map[uint64]*structList
	roots   map[string]*Type

	// pending are structs whose dependencies are missing, per client, and
	// the lowest missing clock per client that blocks them.
	pending        map[uint64][]*item
	pendingMissing map[uint64]uint64
	// pendingDS are deletions of clocks not yet received.
	pendingDS deleteSet

	// fullSize is the size of the last full-state encoding (a size hint).
	fullSize int

	// broken is set if an internal invariant failed; the document then
	// refuses further updates rather than risk corrupting state.
	broken error
}

type structList struct {
	items []*item
	// hint is the index of the last lookup. Lookups cluster (an origin is
	// usually near the previous one, delete ranges come in order), so find
	// starts there and gallops before it falls back to a full search.
	hint int
}

// find returns the index of the struct holding clock, which the caller has
// checked is below the client's state.
func (l *structList) find(clock uint64) int {
	items := l.items
	h := l.hint
	if h >= len(items) {
		h = len(items) - 1
	}
	it := items[h]
	var lo, hi int // search window [lo, hi]
	switch {
	case clock < it.id.Clock:
		// Gallop down.
		step := 1
		hi = h - 1
		for {
			p := h - step
			if p <= 0 {
				lo = 0
				break
			}
			if items[p].id.Clock <= clock {
				lo = p
				break
			}
			hi = p - 1
			step *= 2
		}
	case clock < it.id.Clock+uint64(it.n):
		return h
	default:
		// Gallop up.
		step := 1
		lo = h + 1
		for {
			p := h + step
			if p >= len(items)-1 {
				hi = len(items) - 1
				break
			}
			if items[p].id.Clock > clock {
				hi = p - 1
				break
			}
			lo = p
			step *= 2
		}
	}
	i := searchClock(items, lo, hi, clock)
	l.hint = i
	return i
}

// New returns an empty document.
func New(opts Options) *Doc {
	id := opts.ClientID & MaxClientID
	if id == 0 {
		id = 1
	}
	return &Doc{
		clientID: id,
		gc:       !opts.KeepHistory,
		clients:  make(map[uint64]*structList),
		roots:    make(map[string]*Type),
	}
}

// ClientID returns the client id used for local edits.
func (d *Doc) ClientID() uint64 { return d.clientID }

// root returns the root type called name, creating it if needed.
func (d *Doc) root(name string) *Type {
	t := d.roots[name]
	if t == nil {
		t = &Type{doc: d, name: name, kind: KindUnknown}
		d.roots[name] = t
	}
	return t
}

// RootNames returns the names of the root types that have content, sorted.
func (d *Doc) RootNames() []string {
	names := make([]string, 0, len(d.roots))
	for n, t := range d.roots {
		if t.start != nil || len(t.entries) > 0 || t.kind != KindUnknown {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// state is the next expected clock of client.
func (d *Doc) state(client uint64) uint64 {
	l := d.clients[client]
	if l == nil || len(l.items) == 0 {
		return 0
	}
	last := l.items[len(l.items)-1]
	return last.id.Clock + uint64(last.size())
}

// StateVector returns, per client, the number of clocks the document holds
// (pending structs excluded, as in Yjs).
func (d *Doc) StateVector() StateVector {
	sv := make(StateVector, len(d.clients))
	for c := range d.clients {
		if s := d.state(c); s > 0 {
			sv[c] = s
		}
	}
	return sv
}

// searchClock binary-searches items[left..right] for the struct holding
// clock, which must be there.
func searchClock(items []*item, left, right int, clock uint64) int {
	for left <= right {
		mid := int(uint(left+right) >> 1)
		m := items[mid]
		if m.id.Clock <= clock {
			if clock < m.id.Clock+uint64(m.size()) {
				return mid
			}
			left = mid + 1
		} else {
			right = mid - 1
		}
	}
	panic(fmt.Sprintf("ydoc: clock %d not in store", clock))
}

// getItem returns the struct holding id (without splitting).
func (d *Doc) getItem(id ID) *item {
	l := d.clients[id.Client]
	return l.items[l.find(id.Clock)]
}

// getItemCleanStart returns the struct starting at id, splitting if needed.
func (d *Doc) getItemCleanStart(tx *Txn, id ID) *item {
	l := d.clients[id.Client]
	i := l.find(id.Clock)
	it := l.items[i]
	if it.id.Clock < id.Clock && !it.isGC() {
		r := it.split(tx, int(id.Clock-it.id.Clock))
		l.items = slicesInsert(l.items, i+1, r)
		return r
	}
	return it
}

// getItemCleanEnd returns the struct ending at id, splitting if needed
// (a GC struct is returned whole).
func (d *Doc) getItemCleanEnd(tx *Txn, id ID) *item {
	l := d.clients[id.Client]
	i := l.find(id.Clock)
	it := l.items[i]
	if id.Clock != it.id.Clock+uint64(it.size())-1 && !it.isGC() {
		r := it.split(tx, int(id.Clock-it.id.Clock)+1)
		l.items = slicesInsert(l.items, i+1, r)
	}
	return it
}

func slicesInsert(s []*item, i int, v *item) []*item {
	s = append(s, nil)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// addStruct appends a struct to its client's list.
func (d *Doc) addStruct(tx *Txn, it *item) {
	l := d.clients[it.id.Client]
	if l == nil {
		l = &structList{}
		d.clients[it.id.Client] = l
	}
	if tx != nil {
		tx.touch(it.id.Client, d.stateOf(l))
	}
	l.items = append(l.items, it)
}

func (d *Doc) stateOf(l *structList) uint64 {
	if len(l.items) == 0 {
		return 0
	}
	last := l.items[len(l.items)-1]
	return last.id.Clock + uint64(last.size())
}

// replaceStruct puts a GC struct in place of a collected item.
func (d *Doc) replaceStruct(old, gc *item) {
	l := d.clients[old.id.Client]
	l.items[l.find(old.id.Clock)] = gc
}

// Get returns the root type called name, or nil if the document has none.
func (d *Doc) Get(name string) *Type { return d.roots[name] }
