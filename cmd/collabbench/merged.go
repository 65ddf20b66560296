package main

import (
	"cmp"
	"slices"
	"sync"

	"github.com/collabd/collabd/ydoc"
)

// A server may relay several updates as one merged update (collabd does
// when a room's updates queue up behind a slow store commit: one merged
// relay instead of many). The tool then sees bytes that are none of its
// updates; it recognises which of them the merge holds by their content:
// the clock ranges each update's structs cover and deletes (a merged
// update's ranges cover those of each of its parts, see
// ydoc.UpdateRanges). Matching is by content, so it credits an update
// only when all of it has arrived.

// rangeRef is one range of one of the room's updates.
type rangeRef struct {
	ydoc.IDRange
	idx int32
}

// mergeIndex finds a room's updates inside a merged update.
type mergeIndex struct {
	once    sync.Once
	structs []rangeRef // sorted by client, clock
	deletes []rangeRef
	parts   []int32 // number of ranges of each update
	err     error
}

func (mi *mergeIndex) build(updates [][]byte) {
	mi.parts = make([]int32, len(updates))
	for i, u := range updates {
		s, d, err := ydoc.UpdateRanges(u)
		if err != nil {
			mi.err = err
			return
		}
		for _, r := range s {
			mi.structs = append(mi.structs, rangeRef{r, int32(i)})
		}
		for _, r := range d {
			mi.deletes = append(mi.deletes, rangeRef{r, int32(i)})
		}
		mi.parts[i] = int32(len(s) + len(d))
	}
	byID := func(a, b rangeRef) int {
		return cmp.Or(cmp.Compare(a.Client, b.Client), cmp.Compare(a.Clock, b.Clock))
	}
	slices.SortFunc(mi.structs, byID)
	slices.SortFunc(mi.deletes, byID)
}

// contained returns the indices of the room's updates that update holds
// entirely, in increasing order, or nil if it is not an update at all.
func (mi *mergeIndex) contained(updates [][]byte, update []byte) []int32 {
	mi.once.Do(func() { mi.build(updates) })
	if mi.err != nil {
		return nil
	}
	s, d, err := ydoc.UpdateRanges(update)
	if err != nil {
		return nil
	}
	hits := map[int32]int32{}
	count := func(refs []rangeRef, rs []ydoc.IDRange) {
		for _, r := range rs {
			i, _ := slices.BinarySearchFunc(refs, r, func(a rangeRef, r ydoc.IDRange) int {
				return cmp.Or(cmp.Compare(a.Client, r.Client), cmp.Compare(a.Clock, r.Clock))
			})
			for ; i < len(refs) && refs[i].Client == r.Client && refs[i].Clock+refs[i].Len <= r.Clock+r.Len; i++ {
				hits[refs[i].idx]++
			}
		}
	}
	count(mi.structs, s)
	count(mi.deletes, d)
	var out []int32
	for idx, n := range hits {
		if n == mi.parts[idx] {
			out = append(out, idx)
		}
	}
	slices.Sort(out)
	return out
}
