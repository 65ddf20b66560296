package ydoc

import "github.com/collabd/collabd/lib0"

// ID names one unit of content: the client that created it and that
// client's logical clock when it did.
type ID struct {
	Client uint64
	Clock  uint64
}

// item flags.
const (
	flagDeleted     = 1 << iota
	flagCountable   // content counts towards its parent's length
	flagGC          // a GC struct: a range of collected content, no item fields
	flagSkip        // a Skip struct: a gap inside an update (never in a store)
	flagOrigin      // origin is set
	flagRightOrigin // rightOrigin is set
	flagParentSub   // parentSub is set (a map entry); the key may be ""
	flagKeep        // protected from garbage collection
)

// item is one struct of the document: an Item, or a GC struct (flagGC)
// covering collected content. Items of one parent form a doubly linked list
// (left/right) in document order; the store also holds every struct of a
// client in clock order.
//
// While an item is decoded but not yet integrated (a "ref"), origin and
// rightOrigin are what was decoded, and an item that names its parent has
// a placeholder parent (kindParentName or kindParentID) that says how.
type item struct {
	id ID
	// origin is the ID right before this item when it was inserted and
	// rightOrigin the ID right after it. Client ids go up to 2^53-1 (as in
	// Yjs) and clocks too, which would take 2×(53+53) bits; to keep an item
	// at 88 bytes (a loaded document is mostly items) each origin is packed
	// into a 64-bit word (the clock's 53 bits and client bits 32..42), a
	// 32-bit word (client bits 0..31) and 10 bits of hi (client bits
	// 43..52; the origin's in bits 0..9, the right origin's in 10..19).
	// Only origin, rightOrigin, setOrigin and setRightOrigin touch them.
	originWord, rightWord     uint64
	left, right               *item
	parent                    *Type
	content                   content
	originClient, rightClient uint32
	n                         uint32 // length in clocks (see size)
	flags                     uint8
	hi                        [3]byte
}

// MaxClientID is the largest client id: Yjs decodes client ids as
// JavaScript numbers, up to Number.MAX_SAFE_INTEGER; updates naming larger
// ones are refused (lib0's varUint decoding refuses them already).
const MaxClientID = lib0.MaxSafeInteger

const (
	clockMask  = 1<<53 - 1
	hiBitsMask = 1<<10 - 1
)

func (it *item) hiBits() uint32 {
	return uint32(it.hi[0]) | uint32(it.hi[1])<<8 | uint32(it.hi[2])<<16
}

func (it *item) setHiBits(v uint32) {
	it.hi = [3]byte{byte(v), byte(v >> 8), byte(v >> 16)}
}

// packID splits id into the two words of a packed origin and its 10 high
// client bits. id.Client and id.Clock must not exceed 2^53-1.
func packID(id ID) (word uint64, lo uint32, hi uint32) {
	return id.Clock | (id.Client>>32&0x7ff)<<53, uint32(id.Client), uint32(id.Client >> 43)
}

func unpackID(word uint64, lo, hi uint32) ID {
	return ID{uint64(lo) | (word>>53)<<32 | uint64(hi)<<43, word & clockMask}
}

func (it *item) origin() ID {
	return unpackID(it.originWord, it.originClient, it.hiBits()&hiBitsMask)
}

func (it *item) rightOrigin() ID {
	return unpackID(it.rightWord, it.rightClient, it.hiBits()>>10)
}

// setOrigin sets the origin (client and clock at most 2^53-1).
func (it *item) setOrigin(id ID) {
	var hi uint32
	it.originWord, it.originClient, hi = packID(id)
	it.setHiBits(it.hiBits()&^hiBitsMask | hi)
	it.flags |= flagOrigin
}

// setRightOrigin sets the right origin (client and clock at most 2^53-1).
func (it *item) setRightOrigin(id ID) {
	var hi uint32
	it.rightWord, it.rightClient, hi = packID(id)
	it.setHiBits(it.hiBits()&hiBitsMask | hi<<10)
	it.flags |= flagRightOrigin
}

// copyRightOrigin gives it src's right origin (and its flag).
func (it *item) copyRightOrigin(src *item) {
	it.rightWord, it.rightClient = src.rightWord, src.rightClient
	it.setHiBits(it.hiBits()&hiBitsMask | src.hiBits()&^hiBitsMask)
	it.flags = it.flags&^flagRightOrigin | src.flags&flagRightOrigin
}

// maxStructLen bounds one struct's length so that it fits item.n. Decoding
// refuses longer structs and merging never makes one.
const maxStructLen = 1<<32 - 1

// size is the struct's length in clocks: UTF-16 units for text, elements
// for other content.
func (it *item) size() int { return int(it.n) }

func (it *item) deleted() bool   { return it.flags&flagDeleted != 0 }
func (it *item) countable() bool { return it.flags&flagCountable != 0 }
func (it *item) isGC() bool      { return it.flags&flagGC != 0 }
func (it *item) isSkip() bool    { return it.flags&flagSkip != 0 }
func (it *item) hasOrigin() bool { return it.flags&flagOrigin != 0 }
func (it *item) hasRightOrigin() bool {
	return it.flags&flagRightOrigin != 0
}
func (it *item) hasParentSub() bool { return it.flags&flagParentSub != 0 }

// key returns the map key of a map entry. Keys live with the parent (most
// items are not map entries, so items do not carry a key field): in the
// parent's keys table once integrated, in the placeholder parent before.
func (it *item) key() string {
	if p := it.parent; p != nil {
		if p.isPlaceholder() {
			return p.key
		}
		return p.keys[it]
	}
	return ""
}

// visible reports whether the item counts towards its parent's length.
func (it *item) visible() bool {
	return it.flags&(flagDeleted|flagCountable) == flagCountable
}

func (it *item) lastID() ID { return ID{it.id.Client, it.id.Clock + uint64(it.size()) - 1} }

func newGC(id ID, length int) *item {
	return &item{id: id, n: uint32(length), flags: flagGC | flagDeleted}
}

// split cuts it at diff (0 < diff < length): it keeps [0,diff), the new
// right item gets the rest and is linked in after it. The caller inserts the
// new item into the store. This mirrors Yjs's splitItem, including that the
// left half keeps the original rightOrigin.
func (it *item) split(tx *Txn, diff int) *item {
	r := &item{
		id:     ID{it.id.Client, it.id.Clock + uint64(diff)},
		left:   it,
		right:  it.right,
		parent: it.parent,
		n:      uint32(it.size() - diff),
		flags:  it.flags,
	}
	r.copyRightOrigin(it)
	r.setOrigin(ID{it.id.Client, it.id.Clock + uint64(diff) - 1})
	r.content = it.content.splice(diff, it.size())
	it.right = r
	if r.right != nil {
		r.right.left = r
	}
	if tx != nil {
		tx.mergeStructs = append(tx.mergeStructs, r)
	}
	if r.hasParentSub() && r.parent != nil && !r.parent.isPlaceholder() {
		key := it.key()
		r.parent.setKey(r, key)
		if r.right == nil {
			r.parent.mapSet(key, r)
		}
	}
	it.n = uint32(diff)
	return r
}

// mergeWith appends right to it when Yjs would merge the two (same client,
// adjacent clocks, adjacent in the list, same deletion state, right's origin
// is it's last id, same rightOrigin, mergeable content).
func (it *item) mergeWith(right *item) bool {
	if uint64(it.n)+uint64(right.n) > maxStructLen {
		return false
	}
	if it.isGC() || right.isGC() {
		if it.isGC() && right.isGC() {
			it.n += uint32(right.size())
			return true
		}
		return false
	}
	if !right.hasOrigin() || right.origin() != it.lastID() ||
		it.right != right ||
		it.hasRightOrigin() != right.hasRightOrigin() ||
		(it.hasRightOrigin() && it.rightOrigin() != right.rightOrigin()) ||
		it.id.Client != right.id.Client ||
		it.id.Clock+uint64(it.size()) != right.id.Clock ||
		it.deleted() != right.deleted() ||
		it.content.ref() != right.content.ref() {
		return false
	}
	if !it.content.mergeWith(right.content) {
		return false
	}
	if p := it.parent; p != nil && p.marker == right {
		p.marker = it
		if it.visible() {
			p.markerIndex -= it.size()
		}
	}
	if right.flags&flagKeep != 0 {
		it.flags |= flagKeep
	}
	it.right = right.right
	if it.right != nil {
		it.right.left = it
	}
	it.n += uint32(right.size())
	return true
}
