package ydoc

import (
	"cmp"
	"slices"
)

// IDRange is a run of clocks of one client: [Clock, Clock+Len).
type IDRange struct {
	Client, Clock, Len uint64
}

// UpdateRanges returns what an update holds without applying it: the
// clock ranges its structs cover (items and GC'd structs; skips are gaps,
// not content) and the ranges its delete set deletes, each sorted by client
// and clock with touching ranges joined. Two updates hold the same
// content exactly when their ranges are equal; a merged update's ranges
// cover those of every update merged into it. A load client uses it to
// recognise its own updates inside the merged ones a server may relay.
func UpdateRanges(update []byte) (structs, deleted []IDRange, err error) {
	du, err := decodeUpdate(update, false)
	if err != nil {
		return nil, nil, err
	}
	for c, cr := range du.clients {
		for _, it := range cr.refs {
			if it.isSkip() {
				continue
			}
			structs = appendRange(structs, IDRange{c, it.id.Clock, uint64(it.size())})
		}
	}
	for c, rs := range du.ds {
		for _, r := range rs {
			deleted = appendRange(deleted, IDRange{c, r.clock, r.len})
		}
	}
	return joinRanges(structs), joinRanges(deleted), nil
}

func appendRange(rs []IDRange, r IDRange) []IDRange {
	if r.Len == 0 {
		return rs
	}
	return append(rs, r)
}

// joinRanges sorts rs and joins overlapping or touching ranges.
func joinRanges(rs []IDRange) []IDRange {
	slices.SortFunc(rs, func(a, b IDRange) int {
		return cmp.Or(cmp.Compare(a.Client, b.Client), cmp.Compare(a.Clock, b.Clock))
	})
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Client == r.Client && r.Clock <= out[n-1].Clock+out[n-1].Len {
			out[n-1].Len = max(out[n-1].Len, r.Clock+r.Len-out[n-1].Clock)
			continue
		}
		out = append(out, r)
	}
	return out
}
