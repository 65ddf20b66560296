package ydoc

import (
	"slices"

	"github.com/collabd/collabd/lib0"
)

// exactMergeLimit is how many updates of one client MergeUpdates merges
// with Yjs's exact (quadratic) procedure; above it, a sort does the same for
// updates that agree about every ID.
const exactMergeLimit = 64

// MergeUpdates merges v1 updates into one update without building a
// document: per client the structs of all updates, deduplicated, in clock
// order (a Skip struct over any gap), and the union of their delete sets.
// Applying the result has the same effect as applying every input.
func MergeUpdates(updates ...[]byte) ([]byte, error) {
	if len(updates) == 1 {
		if _, err := decodeUpdate(updates[0], false); err != nil {
			return nil, err
		}
		return slices.Clone(updates[0]), nil
	}
	// Per client, the struct lists of the updates in order.
	lists := make(map[uint64][][]*item)
	var ds deleteSet
	for _, u := range updates {
		du, err := decodeUpdate(u, false)
		if err != nil {
			return nil, err
		}
		for c, cr := range du.clients {
			lists[c] = append(lists[c], cr.refs)
		}
		if len(du.ds) > 0 {
			if ds == nil {
				ds = make(deleteSet)
			}
			ds.merge(du.ds)
		}
	}
	merged := make(map[uint64][]*item, len(lists))
	for c, ls := range lists {
		if len(ls) <= exactMergeLimit {
			merged[c] = mergeClientRefs(ls)
			continue
		}
		var all []*item
		for _, l := range ls {
			all = append(all, l...)
		}
		merged[c] = normalizeRefs(all)
	}
	ds.sortAndMerge()
	return writeRefs(merged, nil, ds), nil
}

// DiffUpdate returns what update holds beyond the encoded state vector sv:
// the structs from sv's clocks on, and the whole delete set (as Yjs's
// diffUpdate does).
func DiffUpdate(update, sv []byte) ([]byte, error) {
	du, err := decodeUpdate(update, false)
	if err != nil {
		return nil, err
	}
	state, err := DecodeStateVector(sv)
	if err != nil {
		return nil, err
	}
	refs := make(map[uint64][]*item, len(du.clients))
	for c, cr := range du.clients {
		refs[c] = cr.refs
	}
	du.ds.sortAndMerge()
	return writeRefs(refs, state, du.ds), nil
}

// writeRefs encodes per-client clock-sorted structs from the clocks in sv
// on, and a delete set.
func writeRefs(refs map[uint64][]*item, sv StateVector, ds deleteSet) []byte {
	clients := make([]uint64, 0, len(refs))
	for c, rs := range refs {
		if n := len(rs); n > 0 && rs[n-1].id.Clock+uint64(rs[n-1].size()) > sv[c] && hasContentFrom(rs, sv[c]) {
			clients = append(clients, c)
		}
	}
	slices.Sort(clients)
	b := lib0.AppendVarUint(nil, uint64(len(clients)))
	var w structWriter
	for i := len(clients) - 1; i >= 0; i-- {
		c := clients[i]
		w.reset(c, sv[c])
		for _, it := range refs[c] {
			w.add(it)
		}
		b = w.appendTo(b)
	}
	return ds.appendTo(b)
}

// hasContentFrom reports whether some struct that is not a Skip ends
// after clock.
func hasContentFrom(rs []*item, clock uint64) bool {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].id.Clock+uint64(rs[i].size()) <= clock {
			return false
		}
		if !rs[i].isSkip() {
			return true
		}
	}
	return false
}

// StateVectorFromUpdate returns the state vector an update brings a new
// document to: per client, the clocks from 0 that it holds without a gap.
func StateVectorFromUpdate(update []byte) (StateVector, error) {
	du, err := decodeUpdate(update, false)
	if err != nil {
		return nil, err
	}
	sv := make(StateVector, len(du.clients))
	for c, cr := range du.clients {
		var next uint64
		for _, it := range cr.refs {
			if it.isSkip() || it.id.Clock != next {
				break
			}
			next += uint64(it.size())
		}
		if next > 0 {
			sv[c] = next
		}
	}
	return sv, nil
}
