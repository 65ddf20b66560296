package ydoc

import (
	"fmt"
	"slices"
)

// Txn is one transaction on a document: the changes of one applied update
// or one batch of local edits. It records what the cleanup that ends it
// needs (the states before it, what it deleted, which structs may merge).
type Txn struct {
	doc          *Doc
	before       []clientClock // state before the txn of each client it added structs to
	ds           deleteSet     // what the txn deleted
	mergeStructs []*item       // items split during the txn that may merge back
	pendingGrew  bool          // structs or deletions were set aside as pending

	// For the formatting cleanup after a remote transaction (see
	// formatcleanup.go): the clients of ds in the order they were first
	// deleted from, the format items integrated, and the formatted nested
	// texts the txn changed (Yjs's changed types that set
	// _needFormattingCleanup).
	dsOrder    []uint64
	newFormats []*item
	formatted  []*Type
}

type clientClock struct{ client, clock uint64 }

func (d *Doc) newTxn() *Txn { return &Txn{doc: d} }

// touch records client's state before the first struct the txn adds for it.
func (tx *Txn) touch(client, state uint64) {
	for _, b := range tx.before {
		if b.client == client {
			return
		}
	}
	tx.before = append(tx.before, clientClock{client, state})
}

// beforeState is client's state when the txn began.
func (tx *Txn) beforeState(client uint64) uint64 {
	for _, b := range tx.before {
		if b.client == client {
			return b.clock
		}
	}
	return tx.doc.state(client)
}

func (tx *Txn) addDeleted(client, clock uint64, n int) {
	if tx.ds == nil {
		tx.ds = make(deleteSet)
	}
	if _, ok := tx.ds[client]; !ok {
		tx.dsOrder = append(tx.dsOrder, client)
	}
	tx.ds.add(client, clock, uint64(n))
}

// ApplyUpdate applies a Yjs v1 update. An update that cannot be decoded is
// refused with an error wrapping ErrInvalidUpdate and leaves the document
// unchanged. Structs whose dependencies are missing are kept pending.
//
// Like every way of applying an update, it is a remote transaction and may
// be followed by the document's own formatting cleanup (see
// ApplyWithCleanup); ApplyUpdate drops that clean-up's update, so use it
// only where the document is not a replica others must converge with.
func (d *Doc) ApplyUpdate(update []byte) error {
	_, _, err := d.ApplyWithCleanup(update)
	return err
}

// Apply is ApplyUpdate that also reports whether the update brought
// anything: structs or deletions the document lacked, integrated or kept
// pending. An update that brings nothing (an empty one, or one the
// document already has) need not be stored or relayed. Like ApplyUpdate it
// drops the clean-up update.
func (d *Doc) Apply(update []byte) (changed bool, err error) {
	changed, _, err = d.ApplyWithCleanup(update)
	return changed, err
}

// ApplyWithCleanup is Apply that also returns the document's own change
// that followed the update: after a remote transaction that changed a
// formatted text, Yjs 13 deletes redundant format items in a new local
// transaction (cleanupYTextAfterTransaction), and so does this document.
// cleanup is that transaction's v1 update (no structs, only a delete set),
// or nil. A replica that others converge with (a room's document) must
// store and broadcast it like any update, as Yjs clients and y-websocket's
// server send their document's update events.
func (d *Doc) ApplyWithCleanup(update []byte) (changed bool, cleanup []byte, err error) {
	if d.broken != nil {
		return false, nil, d.broken
	}
	u, err := decodeUpdate(update, len(d.clients) == 0)
	if err != nil {
		return false, nil, err
	}
	defer func() {
		// Integration is total for every decodable update; reaching this
		// means a bug in this package. Refuse further use of the document
		// rather than crash the process or keep editing a broken state.
		if r := recover(); r != nil {
			d.broken = fmt.Errorf("ydoc: internal error while applying an update, document closed: %v", r)
			err = d.broken
		}
	}()
	tx := d.newTxn()
	d.applyDecoded(tx, u)
	ctx := tx.formattingCleanup()
	tx.cleanup()
	d.fullSize += len(update) // a size hint for encoding
	if ctx != nil {
		ctx.cleanup()
		cleanup = ctx.encodeUpdate()
	}
	return len(tx.before) > 0 || len(tx.ds) > 0 || tx.pendingGrew, cleanup, nil
}

// applyDecoded integrates a decoded update, then retries pending structs
// whose missing dependencies have arrived, as Yjs's readUpdate does.
func (d *Doc) applyDecoded(tx *Txn, u *decodedUpdate) {
	for {
		rest, restMissing := tx.integrateStructs(u.clients)
		if rest != nil && !u.retry {
			tx.pendingGrew = true
		}
		retry := false
		if d.pending != nil {
			for c, clock := range d.pendingMissing {
				if clock < d.state(c) {
					retry = true
					break
				}
			}
			if rest != nil {
				for c, clock := range restMissing {
					if m, ok := d.pendingMissing[c]; !ok || m > clock {
						d.pendingMissing[c] = clock
					}
				}
				for c, refs := range rest {
					d.pending[c] = mergeRefs(d.pending[c], refs)
				}
			}
		} else if rest != nil {
			d.pending, d.pendingMissing = rest, restMissing
		}
		dsRest := tx.applyDeleteSet(u.ds)
		if dsRest != nil {
			tx.pendingGrew = true
		}
		if d.pendingDS != nil {
			ds2 := tx.applyDeleteSet(d.pendingDS)
			switch {
			case dsRest != nil && ds2 != nil:
				dsRest.merge(ds2)
				dsRest.sortAndMerge()
				d.pendingDS = dsRest
			case dsRest != nil:
				d.pendingDS = dsRest
			default:
				d.pendingDS = ds2
			}
		} else {
			d.pendingDS = dsRest
		}
		if !retry {
			return
		}
		pending := d.pending
		d.pending, d.pendingMissing = nil, nil
		u = &decodedUpdate{clients: make(map[uint64]*clientRefs, len(pending)), retry: true}
		for c, refs := range pending {
			u.clients[c] = &clientRefs{refs: refs}
		}
	}
}

// mergeRefs merges two clock-sorted lists of one client's unintegrated
// structs (the pending ones and newly set-aside ones) as Yjs merges its
// pending update with the new rest: see mergeClientRefs.
func mergeRefs(a, b []*item) []*item {
	return mergeClientRefs([][]*item{a, b})
}

// mergeClientRefs merges the structs of one client from several updates
// (each list in clock order) the way Yjs's mergeUpdates does, so that
// pending structs behave exactly as in Yjs even when updates disagree
// about an ID (one holds a GC struct where another holds the item):
// repeatedly the list whose next struct has the lowest clock (ties as
// Yjs's comparator and V8's insertion sort order them) writes its run of
// adjacent structs; structs already covered are skipped, a partly covered
// one is cut, gaps become Skip structs, adjacent GC structs merge.
func mergeClientRefs(lists [][]*item) []*item {
	type cursor struct {
		refs []*item
		i    int
	}
	curs := make([]*cursor, 0, len(lists))
	total := 0
	for _, l := range lists {
		curs = append(curs, &cursor{refs: l})
		total += len(l)
	}
	cur := func(c *cursor) *item {
		for c.i < len(c.refs) && c.refs[c.i].isSkip() {
			c.i++ // Yjs reads updates with Skip structs filtered out
		}
		if c.i < len(c.refs) {
			return c.refs[c.i]
		}
		return nil
	}
	// less is Yjs's comparator for two lists' current structs (one client).
	cmp := func(a, b *item) int {
		if a.id.Clock != b.id.Clock {
			return cmpU64(a.id.Clock, b.id.Clock)
		}
		if a.isGC() == b.isGC() {
			return 0
		}
		return -1 // inconsistent on purpose: Yjs's comparator says so
	}
	out := make([]*item, 0, total)
	var cw *item // the struct being written
	end := func(it *item) uint64 { return it.id.Clock + uint64(it.n) }
	for {
		live := curs[:0]
		for _, c := range curs {
			if cur(c) != nil {
				live = append(live, c)
			}
		}
		curs = live
		if len(curs) == 0 {
			break
		}
		// Binary insertion sort, as V8 sorts short arrays.
		for i := 1; i < len(curs); i++ {
			pivot := curs[i]
			lo, hi := 0, i
			for lo < hi {
				mid := lo + (hi-lo)/2
				if cmp(cur(pivot), cur(curs[mid])) < 0 {
					hi = mid
				} else {
					lo = mid + 1
				}
			}
			copy(curs[lo+1:i+1], curs[lo:i])
			curs[lo] = pivot
		}
		cd := curs[0]
		if cw != nil {
			c := cur(cd)
			iterated := false
			for c != nil && end(c) <= end(cw) {
				cd.i++
				c = cur(cd)
				iterated = true
			}
			if c == nil || (iterated && c.id.Clock > end(cw)) {
				continue
			}
			if end(cw) < c.id.Clock {
				if cw.isSkip() {
					// Yjs extends the Skip over c (and so drops c).
					out, cw = appendSkips(out, cw.id.Client, cw.id.Clock, end(c))
				} else {
					out = append(out, cw)
					out, cw = appendSkips(out, cw.id.Client, end(cw), c.id.Clock)
				}
			} else {
				diff := end(cw) - c.id.Clock
				switch {
				case diff > 0 && cw.isSkip() && (diff >= uint64(cw.n) || c.id.Clock < cw.id.Clock):
					// c covers the Skip's start: the Skip goes (Yjs would
					// give it a negative length).
					if c.id.Clock < cw.id.Clock {
						c = sliceRef(c, int(cw.id.Clock-c.id.Clock))
					}
					cw = c
					cd.i++
				case diff > 0 && cw.isSkip():
					cw.n -= uint32(diff)
					fallthrough
				default:
					if diff > 0 && !cw.isSkip() {
						c = sliceRef(c, int(diff))
					}
					if !mergeLoose(cw, c) {
						out = append(out, cw)
						cw = c
						cd.i++
					}
				}
			}
		} else {
			cw = cur(cd)
			cd.i++
		}
		for next := cur(cd); next != nil && next.id.Clock == end(cw); next = cur(cd) {
			out = append(out, cw)
			cw = next
			cd.i++
		}
	}
	if cw != nil {
		out = append(out, cw)
	}
	return out
}

// appendSkips covers the clocks [from, to) of client with Skip structs:
// the last one is returned, the others (if the gap is longer than one
// struct can be) are appended to out.
func appendSkips(out []*item, client, from, to uint64) ([]*item, *item) {
	for to-from > maxStructLen {
		out = append(out, &item{id: ID{client, from}, n: maxStructLen, flags: flagSkip})
		from += maxStructLen
	}
	return out, &item{id: ID{client, from}, n: uint32(to - from), flags: flagSkip}
}

// mergeLoose merges adjacent GC or Skip structs, as merging updates does
// (items read from updates have no neighbours and never merge there).
func mergeLoose(l, r *item) bool {
	if (l.isGC() && r.isGC()) || (l.isSkip() && r.isSkip()) {
		if uint64(l.n)+uint64(r.n) > maxStructLen {
			return false
		}
		l.n += r.n
		return true
	}
	return false
}

// normalizeRefs sorts one client's unintegrated structs by clock and drops
// what overlaps (cutting a struct that starts inside an earlier one) and
// Skip structs; of two structs at one clock the earlier one wins. It is
// the fast path of MergeUpdates for many updates, where mergeClientRefs
// would be quadratic; it differs from it only for updates that disagree
// about an ID. It reuses all's array.
func normalizeRefs(all []*item) []*item {
	byClock := func(x, y *item) int { return cmpU64(x.id.Clock, y.id.Clock) }
	if !slices.IsSortedFunc(all, byClock) {
		slices.SortStableFunc(all, byClock)
	}
	out := all[:0]
	var end uint64
	for _, s := range all {
		if s.isSkip() {
			continue
		}
		sEnd := s.id.Clock + uint64(s.n)
		if len(out) > 0 && sEnd <= end {
			continue
		}
		if len(out) > 0 && s.id.Clock < end {
			s = sliceRef(s, int(end-s.id.Clock))
		}
		out = append(out, s)
		end = sEnd
	}
	return out
}

// sliceRef returns an unintegrated struct holding s from offset diff on.
// Like an item written with an offset, it names its left neighbour as
// origin instead of its parent. It consumes s's content.
func sliceRef(s *item, diff int) *item {
	id := ID{s.id.Client, s.id.Clock + uint64(diff)}
	if s.isGC() || s.isSkip() {
		r := newGC(id, s.size()-diff)
		r.flags = s.flags
		return r
	}
	r := &item{
		id:    id,
		n:     uint32(s.size() - diff),
		flags: s.flags &^ (flagParentSub | flagDeleted),
	}
	r.copyRightOrigin(s)
	r.setOrigin(ID{s.id.Client, id.Clock - 1})
	r.content = s.content.splice(diff, s.size())
	return r
}

// integrateStructs integrates decoded structs in causal order, as Yjs's
// integrateStructs does: it starts with the highest client id, follows
// missing dependencies into other clients' structs, and sets aside (as the
// returned rest) every client whose structs cannot be integrated yet, with
// the lowest clock per client that is missing.
func (tx *Txn) integrateStructs(clients map[uint64]*clientRefs) (rest map[uint64][]*item, missing map[uint64]uint64) {
	d := tx.doc
	if len(clients) == 0 {
		return nil, nil
	}
	ids := make([]uint64, 0, len(clients))
	for c := range clients {
		ids = append(ids, c)
	}
	slices.Sort(ids)
	nextTarget := func() *clientRefs {
		for len(ids) > 0 {
			t := clients[ids[len(ids)-1]]
			if t != nil && t.i < len(t.refs) {
				return t
			}
			ids = ids[:len(ids)-1]
		}
		return nil
	}
	cur := nextTarget()
	if cur == nil {
		return nil, nil
	}
	var stack []*item
	updateMissing := func(client, clock uint64) {
		if missing == nil {
			missing = make(map[uint64]uint64)
		}
		if m, ok := missing[client]; !ok || m > clock {
			missing[client] = clock
		}
	}
	addStackToRest := func() {
		if rest == nil {
			rest = make(map[uint64][]*item)
		}
		for _, it := range stack {
			c := it.id.Client
			if inap := clients[c]; inap != nil {
				// The struct before the current index could not be applied.
				inap.i--
				rest[c] = inap.refs[inap.i:]
				delete(clients, c)
				inap.i = 0
				inap.refs = nil
			} else {
				rest[c] = []*item{it}
			}
			ids = slices.DeleteFunc(ids, func(x uint64) bool { return x == c })
		}
		stack = stack[:0]
	}
	// Cache of client states; a small slice beats a map here.
	var states []clientClock
	stateOf := func(c uint64) uint64 {
		for _, s := range states {
			if s.client == c {
				return s.clock
			}
		}
		s := d.state(c)
		states = append(states, clientClock{c, s})
		return s
	}
	setState := func(c, clock uint64) {
		for i := range states {
			if states[i].client == c {
				states[i].clock = clock
				return
			}
		}
		states = append(states, clientClock{c, clock})
	}

	head := cur.refs[cur.i]
	cur.i++
	for {
		if !head.isSkip() {
			local := stateOf(head.id.Client)
			if head.id.Clock > local {
				// A struct of the same client before this one is missing.
				stack = append(stack, head)
				updateMissing(head.id.Client, head.id.Clock-1)
				addStackToRest()
			} else {
				offset := int(local - head.id.Clock)
				if mc, key, ok := tx.getMissing(head); ok {
					stack = append(stack, head)
					refs := clients[mc]
					if refs == nil || refs.i == len(refs.refs) {
						// Depends on an update that has not arrived.
						updateMissing(mc, d.state(mc))
						addStackToRest()
					} else {
						head = refs.refs[refs.i]
						refs.i++
						continue
					}
				} else if offset == 0 || offset < head.size() {
					tx.integrate(head, offset, key)
					setState(head.id.Client, head.id.Clock+uint64(head.size()))
				}
			}
		}
		switch {
		case len(stack) > 0:
			head = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		case cur != nil && cur.i < len(cur.refs):
			head = cur.refs[cur.i]
			cur.i++
		default:
			cur = nextTarget()
			if cur == nil {
				return rest, missing
			}
			head = cur.refs[cur.i]
			cur.i++
		}
	}
}

// getMissing reports a client whose structs it depends on and that the
// document lacks. When nothing is missing it resolves the item's neighbours
// and parent (splitting neighbours as needed), as Yjs's getMissing does,
// and returns the item's map key (if it is a map entry); a GC struct
// neighbour or a parent that is not a type leaves parent nil, and the item
// then integrates as a GC struct.
func (tx *Txn) getMissing(it *item) (missing uint64, key string, ok bool) {
	d := tx.doc
	if it.isGC() {
		return 0, "", false
	}
	if o := it.origin(); it.hasOrigin() && o.Client != it.id.Client && o.Clock >= d.state(o.Client) {
		return o.Client, "", true
	}
	if r := it.rightOrigin(); it.hasRightOrigin() && r.Client != it.id.Client && r.Clock >= d.state(r.Client) {
		return r.Client, "", true
	}
	var ref *Type // how the item names its parent, if it does
	if it.parent != nil && it.parent.isPlaceholder() {
		ref = it.parent
	}
	if ref != nil && ref.kind == kindParentID && it.id.Client != ref.parentID.Client && ref.parentID.Clock >= d.state(ref.parentID.Client) {
		return ref.parentID.Client, "", true
	}
	if it.hasOrigin() {
		it.left = d.getItemCleanEnd(tx, it.origin())
		it.setOrigin(it.left.lastID())
	}
	if it.hasRightOrigin() {
		it.right = d.getItemCleanStart(tx, it.rightOrigin())
		it.setRightOrigin(it.right.id)
	}
	switch {
	case (it.left != nil && it.left.isGC()) || (it.right != nil && it.right.isGC()):
		it.parent = nil
	case ref == nil:
		if n := it.left; n != nil || it.right != nil {
			if n == nil {
				n = it.right
			}
			it.parent = n.parent
			it.flags = it.flags&^flagParentSub | n.flags&flagParentSub
			if n.hasParentSub() {
				key = n.key()
			}
		}
	case ref.kind == kindParentID:
		p := d.getItem(ref.parentID)
		it.parent = nil
		if !p.isGC() {
			if ct, ok := p.content.(*contentType); ok {
				it.parent = ct.t
			}
		}
	default:
		it.parent = d.root(ref.name)
	}
	if ref != nil && it.hasParentSub() {
		key = ref.key
	}
	return 0, key, false
}

// integrate links a resolved struct into its parent, as Yjs's
// Item.integrate does: offset skips the part the document already has, and
// concurrent inserts at the same position are ordered by YATA's rules.
func (tx *Txn) integrate(it *item, offset int, key string) {
	d := tx.doc
	if it.isGC() {
		if offset > 0 {
			it.id.Clock += uint64(offset)
			it.n -= uint32(offset)
		}
		d.addStruct(tx, it)
		return
	}
	if offset > 0 {
		it.id.Clock += uint64(offset)
		it.left = d.getItemCleanEnd(tx, ID{it.id.Client, it.id.Clock - 1})
		it.setOrigin(it.left.lastID())
		it.content = it.content.splice(offset, it.size())
		it.n -= uint32(offset)
	}
	p := it.parent
	if _, ok := it.content.(*contentType); ok && p != nil && p.depth >= MaxNesting {
		// Too deep: collect it on arrival, and with it everything inside.
		p = nil
	}
	if p == nil {
		// No parent (it was collected): keep the clocks as a GC struct.
		it.flags = flagGC | flagDeleted
		it.content, it.left, it.right, it.parent = nil, nil, nil, nil
		d.addStruct(tx, it)
		return
	}
	isEntry := it.hasParentSub()
	if isEntry {
		p.setKey(it, key)
	}
	if (it.left == nil && (it.right == nil || it.right.left != nil)) || (it.left != nil && it.left.right != it.right) {
		tx.resolveConflict(it, key)
	}
	if it.left != nil {
		it.right = it.left.right
		it.left.right = it
	} else {
		var r *item
		if isEntry {
			r = p.entries[key]
			for r != nil && r.left != nil {
				r = r.left
			}
		} else {
			r = p.start
			p.start = it
		}
		it.right = r
	}
	if it.right != nil {
		it.right.left = it
	} else if isEntry {
		p.mapSet(key, it)
		if it.left != nil {
			// The previous value of the key.
			tx.deleteItem(it.left)
		}
	}
	if !isEntry && it.countable() && !it.deleted() {
		p.length += it.size()
	}
	p.marker = nil
	d.addStruct(tx, it)
	switch c := it.content.(type) {
	case contentDeleted:
		tx.addDeleted(it.id.Client, it.id.Clock, it.size())
		it.flags |= flagDeleted
	case *contentType:
		c.t.doc = d
		c.t.item = it
		c.t.depth = p.depth + 1
	case *contentFormat:
		p.hasFormatting = true
		tx.newFormats = append(tx.newFormats, it)
	}
	tx.noteChanged(p)
	if (p.item != nil && p.item.deleted()) || (isEntry && it.right != nil) {
		tx.deleteItem(it)
	}
}

// resolveConflict finds it's left neighbour among concurrent inserts
// between its origin and right origin (YATA).
func (tx *Txn) resolveConflict(it *item, key string) {
	d := tx.doc
	p := it.parent
	left := it.left
	var o *item
	switch {
	case left != nil:
		o = left.right
	case it.hasParentSub():
		o = p.entries[key]
		for o != nil && o.left != nil {
			o = o.left
		}
	default:
		o = p.start
	}
	var conflicting, beforeOrigin map[*item]struct{}
	for o != nil && o != it.right {
		if beforeOrigin == nil {
			conflicting = make(map[*item]struct{})
			beforeOrigin = make(map[*item]struct{})
		}
		beforeOrigin[o] = struct{}{}
		conflicting[o] = struct{}{}
		if sameOrigin(it.hasOrigin(), it.origin(), o.hasOrigin(), o.origin()) {
			// Case 1: same origin; the lower client id goes left.
			if o.id.Client < it.id.Client {
				left = o
				clear(conflicting)
			} else if sameOrigin(it.hasRightOrigin(), it.rightOrigin(), o.hasRightOrigin(), o.rightOrigin()) {
				break
			}
		} else if o.hasOrigin() {
			oo := d.getItem(o.origin())
			if _, ok := beforeOrigin[oo]; !ok {
				break
			}
			// Case 2: o's origin lies between it's origin and o.
			if _, ok := conflicting[oo]; !ok {
				left = o
				clear(conflicting)
			}
		} else {
			break
		}
		o = o.right
	}
	it.left = left
}

func sameOrigin(ha bool, a ID, hb bool, b ID) bool {
	return ha == hb && (!ha || a == b)
}

// deleteItem marks an item deleted, and everything inside a deleted type.
func (tx *Txn) deleteItem(it *item) {
	if it.deleted() {
		return
	}
	p := it.parent
	if it.countable() && !it.hasParentSub() {
		p.length -= it.size()
	}
	it.flags |= flagDeleted
	p.marker = nil
	tx.addDeleted(it.id.Client, it.id.Clock, it.size())
	tx.noteChanged(p)
	if ct, ok := it.content.(*contentType); ok {
		t := ct.t
		for c := t.start; c != nil; c = c.right {
			tx.deleteOrMarkMerge(c)
		}
		for _, c := range t.entries {
			tx.deleteOrMarkMerge(c)
		}
	}
}

func (tx *Txn) deleteOrMarkMerge(c *item) {
	if !c.deleted() {
		tx.deleteItem(c)
	} else if c.id.Clock < tx.beforeState(c.id.Client) {
		// Deleted earlier: it will be collected and may merge now.
		tx.mergeStructs = append(tx.mergeStructs, c)
	}
}

// applyDeleteSet deletes the ranges the document has and returns the
// ranges it does not have yet (nil if none).
func (tx *Txn) applyDeleteSet(ds deleteSet) deleteSet {
	d := tx.doc
	var unapplied deleteSet
	addUnapplied := func(c, clock, n uint64) {
		if unapplied == nil {
			unapplied = make(deleteSet)
		}
		unapplied.add(c, clock, n)
	}
	// Yjs applies a delete set in its encoded order, clients descending as
	// Yjs writes them; the order of deletions is observable through the
	// formatting cleanup (see dsOrder).
	clients := make([]uint64, 0, len(ds))
	for c := range ds {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	for ci := len(clients) - 1; ci >= 0; ci-- {
		client, ranges := clients[ci], ds[clients[ci]]
		state := d.state(client)
		l := d.clients[client]
		for _, r := range ranges {
			clock, end := r.clock, r.clock+r.len
			if clock >= state {
				addUnapplied(client, clock, r.len)
				continue
			}
			if state < end {
				addUnapplied(client, state, end-state)
			}
			idx := l.find(clock)
			s := l.items[idx]
			if !s.deleted() && s.id.Clock < clock {
				right := s.split(tx, int(clock-s.id.Clock))
				l.items = slicesInsert(l.items, idx+1, right)
				idx++
			}
			for idx < len(l.items) {
				s = l.items[idx]
				idx++
				if s.id.Clock >= end {
					break
				}
				if !s.deleted() {
					if end < s.id.Clock+uint64(s.size()) {
						right := s.split(tx, int(end-s.id.Clock))
						l.items = slicesInsert(l.items, idx, right)
					}
					tx.deleteItem(s)
				}
			}
		}
	}
	return unapplied
}

// cleanup ends a transaction as Yjs's cleanupTransactions does: collect
// deleted content (unless history is kept), then merge adjacent structs.
func (tx *Txn) cleanup() {
	d := tx.doc
	ds := tx.ds
	ds.sortAndMerge()
	if d.gc {
		for client, ranges := range ds {
			l := d.clients[client]
			for di := len(ranges) - 1; di >= 0; di-- {
				r := ranges[di]
				end := r.clock + r.len
				for si := l.find(r.clock); si < len(l.items); si++ {
					s := l.items[si]
					if s.id.Clock >= end {
						break
					}
					if !s.isGC() && s.deleted() && s.flags&flagKeep == 0 && s.content != (contentDeleted{}) {
						d.gcItem(s, false)
					}
				}
			}
		}
	}
	for client, ranges := range ds {
		l := d.clients[client]
		for di := len(ranges) - 1; di >= 0; di-- {
			r := ranges[di]
			si := min(len(l.items)-1, 1+l.find(r.clock+r.len-1))
			for si > 0 && l.items[si].id.Clock >= r.clock {
				si -= 1 + d.tryMergeWithLefts(l, si)
			}
		}
	}
	for _, b := range tx.before {
		l := d.clients[b.client]
		if d.stateOf(l) == b.clock {
			continue
		}
		first := 1
		if b.clock > 0 {
			first = max(l.find(b.clock), 1)
		}
		for i := len(l.items) - 1; i >= first; {
			i -= 1 + d.tryMergeWithLefts(l, i)
		}
	}
	for i := len(tx.mergeStructs) - 1; i >= 0; i-- {
		m := tx.mergeStructs[i]
		l := d.clients[m.id.Client]
		pos := l.find(m.id.Clock)
		if pos+1 < len(l.items) && d.tryMergeWithLefts(l, pos+1) > 1 {
			continue
		}
		if pos > 0 {
			d.tryMergeWithLefts(l, pos)
		}
	}
}

// gcItem replaces a deleted item's content by a tombstone; inside a
// collected type (parentGCd) the item itself becomes a GC struct.
func (d *Doc) gcItem(it *item, parentGCd bool) {
	if ct, ok := it.content.(*contentType); ok {
		t := ct.t
		for c := t.start; c != nil; c = c.right {
			d.gcItem(c, true)
		}
		t.start = nil
		for _, c := range t.entries {
			for ; c != nil; c = c.left {
				d.gcItem(c, true)
			}
		}
		t.entries = nil
		t.keys = nil
		t.marker = nil
	}
	if parentGCd {
		d.replaceStruct(it, newGC(it.id, it.size()))
	} else {
		it.content = contentDeleted{}
	}
}

// tryMergeWithLefts merges l.items[pos] into its left neighbours while they
// merge and returns how many merged.
func (d *Doc) tryMergeWithLefts(l *structList, pos int) int {
	items := l.items
	right, left := items[pos], items[pos-1]
	i := pos
	for i > 0 {
		if left.deleted() != right.deleted() || left.isGC() != right.isGC() || !left.mergeWith(right) {
			break
		}
		if !right.isGC() && right.hasParentSub() {
			p := right.parent
			if key := p.keys[right]; p.entries[key] == right {
				p.entries[key] = left
			}
			delete(p.keys, right)
		}
		i--
		if i == 0 {
			break
		}
		right, left = left, items[i-1]
	}
	merged := pos - i
	if merged > 0 {
		l.items = slices.Delete(items, pos+1-merged, pos+1)
	}
	return merged
}
