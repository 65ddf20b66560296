package rooms

import "errors"

// What a cluster of collabd processes (package cluster) needs from a
// registry: whether a room is in memory here, and a way to make one leave
// at once when another node has taken it over.

// ErrTryAgain is wrapped by errors of a join that could not be served now
// but may be in a moment (in a cluster: the room is moving between nodes);
// the transport tells the client to come back later.
var ErrTryAgain = errors.New("rooms: room not available here now, try again")

// Live reports whether the room called name is in memory.
func (r *Registry) Live(name string) bool { return r.has(name) }

// Relinquish makes the room called name leave memory without storing
// anything more: its connections are closed with CloseMoved, updates not
// yet stored are dropped, and it does not compact. Nothing any client has
// seen is lost by that: an update is relayed only once stored, so the
// dropped ones were never relayed, and their senders still hold them and
// send them again when they reconnect and resync. A cluster node calls it
// when it has lost the room's lease, because another node may be writing
// the room's log already. It does not block.
func (r *Registry) Relinquish(name string) {
	r.mu.Lock()
	rm := r.rooms[name]
	r.mu.Unlock()
	if rm == nil {
		return
	}
	rm.relinquished.Store(true)
	rm.stopOnce.Do(func() { close(rm.stop) })
}
