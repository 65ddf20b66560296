package ydoc

import (
	"slices"
	"sort"

	"github.com/collabd/collabd/lib0"
)

// delRange is a range of deleted clocks of one client.
type delRange struct{ clock, len uint64 }

// deleteSet maps a client to ranges of its deleted clocks.
type deleteSet map[uint64][]delRange

func (ds deleteSet) add(client, clock, length uint64) {
	ds[client] = append(ds[client], delRange{clock, length})
}

// sortAndMerge sorts each client's ranges and merges overlapping or
// touching ones.
func (ds deleteSet) sortAndMerge() {
	for c, rs := range ds {
		ds[c] = sortMergeRanges(rs)
	}
}

func sortMergeRanges(rs []delRange) []delRange {
	if len(rs) < 2 {
		return rs
	}
	if !slices.IsSortedFunc(rs, func(a, b delRange) int { return cmpU64(a.clock, b.clock) }) {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].clock < rs[j].clock })
	}
	j := 1
	for i := 1; i < len(rs); i++ {
		l, r := &rs[j-1], rs[i]
		if l.clock+l.len >= r.clock {
			if end := r.clock + r.len; end > l.clock+l.len {
				l.len = end - l.clock
			}
		} else {
			rs[j] = r
			j++
		}
	}
	return rs[:j]
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// contains reports whether id is in the (sorted and merged) set.
func (ds deleteSet) contains(id ID) bool {
	rs := ds[id.Client]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].clock+rs[i].len > id.Clock })
	return i < len(rs) && rs[i].clock <= id.Clock
}

// appendTo appends the set's encoding, clients in descending order as Yjs
// writes them.
func (ds deleteSet) appendTo(b []byte) []byte {
	clients := make([]uint64, 0, len(ds))
	for c, rs := range ds {
		if len(rs) > 0 {
			clients = append(clients, c)
		}
	}
	slices.Sort(clients)
	b = lib0.AppendVarUint(b, uint64(len(clients)))
	for i := len(clients) - 1; i >= 0; i-- {
		rs := ds[clients[i]]
		b = lib0.AppendVarUint(b, clients[i])
		b = lib0.AppendVarUint(b, uint64(len(rs)))
		for _, r := range rs {
			b = lib0.AppendVarUint(lib0.AppendVarUint(b, r.clock), r.len)
		}
	}
	return b
}

// merge adds every range of other into ds (then call sortAndMerge).
func (ds deleteSet) merge(other deleteSet) {
	for c, rs := range other {
		ds[c] = append(ds[c], rs...)
	}
}
