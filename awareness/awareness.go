// Package awareness keeps a room's presence state: for every Yjs client ID
// a clock and a JSON state (user name, colour, cursor, ...), updated by the
// awareness messages of the y-websocket protocol.
//
// The rules are those of y-protocols' awareness.js, which every stock client
// applies too:
//
//   - An entry (clientID, clock, state) is accepted when its clock is greater
//     than the known one (0 for a client never seen), or when it is equal,
//     the state is null and the client currently has a state: the equal-clock
//     null is how a peer reports a client gone.
//   - A null state removes the client but its clock is kept, so an older
//     state arriving late cannot bring it back (such a remembered removal is
//     called a tombstone here).
//   - A state not renewed for 30 seconds expires (clients renew theirs every
//     15 seconds).
//
// A server also has to remove the clients of a connection that closes,
// since a client that loses its connection cannot say goodbye. State
// remembers, for each client, the connection that last delivered an
// accepted state for it; RemoveConn removes those clients the way
// y-partykit's server does: the clock stays, the state becomes null, and the
// resulting update makes every peer drop the client at once. (y-partykit
// only tracks the clients a connection introduced for the first time, so a
// client that came back after a removal stays behind as a ghost until it
// expires; State does not have that gap.)
//
// States are kept as the JSON text the client sent (checked with
// json.Valid, never re-serialized). Every operation that changes something
// returns Changes, including the awareness message to broadcast to the room.
//
// # Who may speak for a client ID
//
// A connection may only set and remove the states of the client IDs it
// introduced: the first connection whose entry for an ID is accepted owns
// that ID until RemoveConn (its close) releases it. An entry that would
// change an ID another connection owns is dropped and counted in
// Changes.Spoofed, so that no connection can forge or erase someone else's
// cursor. (Stock clients re-send the states they receive, and after 30 s
// of silence they announce others' removal: the former lose to the clock
// rule and are ignored as before, the latter count as spoofed.) A client
// that reconnects before the server has noticed its old connection's end
// would find its own ID owned by the dead connection; Options.MayTakeOver
// lets the room hand the ID over when it knows both connections belong to
// one user. Each connection owns at most Options.MaxClientsPerConn IDs.
//
// A State is bounded (Options.MaxClients, Options.MaxStateSize), keeps
// tombstones only for Options.Timeout, and never reads the clock itself:
// time is passed in, and should not go backwards from one call to the next.
// A State is owned by the room's goroutine and not safe for concurrent use.
package awareness

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/collabd/collabd/yprotocol"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxClients is the number of client IDs a State tracks when
	// Options.MaxClients is zero.
	DefaultMaxClients = 1024
	// DefaultMaxStateSize is the size limit of one client's JSON state when
	// Options.MaxStateSize is zero.
	DefaultMaxStateSize = 64 << 10
	// DefaultTimeout is y-protocols' outdatedTimeout, used when
	// Options.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxClientsPerConn bounds the client IDs one connection may
	// own when Options.MaxClientsPerConn is zero. A stock provider speaks
	// for one ID; the margin covers apps that run several.
	DefaultMaxClientsPerConn = 16
)

var (
	// ErrInvalidState is wrapped by the error about a state that is not
	// JSON.
	ErrInvalidState = errors.New("awareness: state is not JSON")
	// ErrStateTooLarge is wrapped by the error about a state larger than
	// Options.MaxStateSize.
	ErrStateTooLarge = errors.New("awareness: state too large")
)

// Options configures a State. The zero value of each field selects its
// default.
type Options struct {
	// MaxClients bounds the client IDs tracked, with a state or as a
	// tombstone. When it is reached, the oldest tombstone makes room for a
	// new client; when there is none, entries for new clients are dropped
	// (counted in Changes.Dropped). 0 means DefaultMaxClients.
	MaxClients int
	// MaxStateSize bounds one client's JSON state, in bytes; an update with
	// a larger state is rejected whole. 0 means DefaultMaxStateSize.
	MaxStateSize int
	// Timeout is how long a state lives without renewal, and how long a
	// tombstone is kept. 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxClientsPerConn bounds the client IDs one connection owns; entries
	// introducing more are dropped (counted in Changes.Dropped). 0 means
	// DefaultMaxClientsPerConn.
	MaxClientsPerConn int
	// MayTakeOver, if set, is asked whether connection conn may take over
	// a client ID that connection owner owns (for a client that came back
	// on a new connection before its old one's close was noticed). Nil
	// never allows it.
	MayTakeOver func(owner, conn ConnID) bool
}

// ConnID identifies a connection of the room to the State. The room picks
// the values; 0 means no connection (an update applied with conn 0 belongs
// to none, and RemoveConn(0, ...) removes nothing).
type ConnID uint64

// Client is what a State knows about one client ID.
type Client struct {
	ID    uint64
	Clock uint64
	// State is the client's JSON state, nil for a tombstone. It is shared
	// with the State: do not modify it.
	State []byte
	// Conn is the connection that last delivered an accepted state for the
	// client, 0 for a tombstone.
	Conn ConnID
	// Updated is when the state or tombstone was last set.
	Updated time.Time
}

// Changes reports what an operation changed.
type Changes struct {
	// Added lists clients that had no state and now have one, Updated
	// clients whose state was renewed or replaced (equal or not), Removed
	// clients whose state became null.
	Added, Updated, Removed []uint64
	// Dropped counts entries ignored because MaxClients or
	// MaxClientsPerConn was reached.
	Dropped int
	// Spoofed counts entries ignored because another connection owns their
	// client ID.
	Spoofed int
	// Frame is an awareness message (a complete y-websocket frame) with the
	// clock and state of every added and updated client and a null state for
	// every removed one, in that order: what to broadcast to the room's
	// connections. Nil when nothing was added, updated or removed.
	Frame []byte
}

// Empty reports whether nothing was added, updated or removed.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Updated)+len(c.Removed) == 0 }

type client struct {
	clock   uint64
	state   []byte // nil: tombstone
	conn    ConnID
	updated time.Time
	gen     uint64 // the Apply call that last touched the client
}

// tomb records when a client became a tombstone. Records are appended in
// time order; a record whose client has since changed is stale and skipped.
type tomb struct {
	id uint64
	at time.Time
}

// State is the awareness state of one room. The zero value is not usable;
// call New.
type State struct {
	opts    Options
	clients map[uint64]client
	live    int    // clients with a state; the others are tombstones
	tombs   []tomb // tombstone records, oldest first, from index head
	head    int
	gen     uint64 // counts Apply calls

	// owner maps each claimed client ID to the connection that owns it;
	// owned counts the IDs of each connection. Ownership outlives the
	// client's record (a forgotten tombstone), so that an ID stays its
	// owner's for as long as the owner is connected.
	owner map[uint64]ConnID
	owned map[ConnID]int

	// scratch space reused by Apply
	entries []yprotocol.AwarenessEntry
	touched []touch
}

type touch struct {
	id         uint64
	wasPresent bool
}

// New returns an empty State.
func New(opts Options) *State {
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.MaxStateSize <= 0 {
		opts.MaxStateSize = DefaultMaxStateSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxClientsPerConn <= 0 {
		opts.MaxClientsPerConn = DefaultMaxClientsPerConn
	}
	return &State{opts: opts, clients: make(map[uint64]client), owner: make(map[uint64]ConnID), owned: make(map[ConnID]int)}
}

// Len is the number of clients with a state.
func (s *State) Len() int { return s.live }

// Get returns what the State knows about a client: its state, or its
// tombstone (State nil). ok is false for a client it does not track.
func (s *State) Get(clientID uint64) (c Client, ok bool) {
	cl, ok := s.clients[clientID]
	if !ok {
		return Client{}, false
	}
	return Client{ID: clientID, Clock: cl.clock, State: cl.state, Conn: cl.conn, Updated: cl.updated}, true
}

// Apply applies an awareness update (the payload of an awareness message,
// as yprotocol.Decode returns it) that arrived on connection conn at time
// now. An update that does not decode, or holds a state that is not JSON or
// is larger than MaxStateSize, is rejected whole with an error and changes
// nothing. Entries that lose to the known clock are ignored, which also
// filters out the echoes clients send of each other's states. The accepted
// states are copied; update is not retained.
func (s *State) Apply(conn ConnID, update []byte, now time.Time) (Changes, error) {
	entries := s.entries[:0]
	defer func() {
		clear(entries) // do not keep the caller's buffer alive
		s.entries = entries[:0]
	}()
	err := yprotocol.DecodeAwareness(update, func(e yprotocol.AwarenessEntry) error {
		if len(e.State) > s.opts.MaxStateSize {
			return fmt.Errorf("%w: client %d: %d bytes, limit %d", ErrStateTooLarge, e.ClientID, len(e.State), s.opts.MaxStateSize)
		}
		if !json.Valid(e.State) {
			return fmt.Errorf("%w: client %d: %.40q", ErrInvalidState, e.ClientID, e.State)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return Changes{}, fmt.Errorf("awareness: apply update: %w", err)
	}

	s.gen++
	touched := s.touched[:0]
	defer func() { s.touched = touched[:0] }()
	var dropped, spoofed int
	for _, e := range entries {
		c, known := s.clients[e.ClientID]
		present := known && c.state != nil
		null := e.IsNull()
		if !(c.clock < e.Clock || (c.clock == e.Clock && null && present)) {
			continue
		}
		switch s.claim(conn, e.ClientID, known) {
		case claimSpoofed:
			spoofed++
			continue
		case claimFull:
			dropped++
			continue
		}
		if !known && !s.makeRoom() {
			if !null {
				dropped++
			}
			continue
		}
		if !known || c.gen != s.gen {
			touched = append(touched, touch{id: e.ClientID, wasPresent: present})
		}
		c.clock, c.updated, c.gen = e.Clock, now, s.gen
		if null {
			if present {
				s.live--
			}
			c.state, c.conn = nil, 0
			s.clients[e.ClientID] = c
			s.pushTomb(e.ClientID, now)
			continue
		}
		if !present {
			s.live++
		}
		c.state, c.conn = append([]byte(nil), e.State...), conn
		s.clients[e.ClientID] = c
	}

	var ch Changes
	for _, t := range touched {
		switch present := s.clients[t.id].state != nil; {
		case !t.wasPresent && present:
			ch.Added = append(ch.Added, t.id)
		case t.wasPresent && present:
			ch.Updated = append(ch.Updated, t.id)
		case t.wasPresent && !present:
			ch.Removed = append(ch.Removed, t.id)
		}
	}
	ch.Dropped, ch.Spoofed = dropped, spoofed
	ch.Frame = s.frame(ch)
	return ch, nil
}

type claimResult int

const (
	claimOK      claimResult = iota
	claimSpoofed             // another connection owns the ID
	claimFull                // conn owns MaxClientsPerConn IDs already
)

// claim decides whether conn may change client id, taking ownership of
// an unowned ID. Connection 0 (no connection) may change unowned IDs and
// never owns one. An entry for an unknown ID that the State then cannot
// track (makeRoom) leaves a claim behind; it is released with the rest of
// conn's IDs.
func (s *State) claim(conn ConnID, id uint64, known bool) claimResult {
	owner, owned := s.owner[id]
	switch {
	case owned && owner == conn:
		return claimOK
	case owned && (conn == 0 || s.opts.MayTakeOver == nil || !s.opts.MayTakeOver(owner, conn)):
		return claimSpoofed
	case conn == 0:
		return claimOK
	case s.owned[conn] >= s.opts.MaxClientsPerConn:
		return claimFull
	}
	if owned {
		s.release(owner, id)
	}
	s.owner[id] = conn
	s.owned[conn]++
	return claimOK
}

// release drops conn's ownership of id.
func (s *State) release(conn ConnID, id uint64) {
	delete(s.owner, id)
	if s.owned[conn]--; s.owned[conn] <= 0 {
		delete(s.owned, conn)
	}
}

// Owner returns the connection that owns client id, 0 if none does.
func (s *State) Owner(id uint64) ConnID { return s.owner[id] }

// makeRoom reports whether a new client ID may be tracked, forgetting the
// oldest tombstone if the State is full. Tombstones made by the Apply call
// in progress are kept: its Changes need their clocks.
func (s *State) makeRoom() bool {
	if len(s.clients) < s.opts.MaxClients {
		return true
	}
	for ; s.head < len(s.tombs); s.head++ {
		t := s.tombs[s.head]
		if !s.isTomb(t) {
			continue
		}
		if s.clients[t.id].gen == s.gen {
			return false // this and every later record are from this call
		}
		delete(s.clients, t.id)
		s.head++
		return true
	}
	return false
}

// isTomb reports whether record t still describes a tombstone.
func (s *State) isTomb(t tomb) bool {
	c, ok := s.clients[t.id]
	return ok && c.state == nil && c.updated.Equal(t.at)
}

// pushTomb records that client id became a tombstone at time at, compacting
// the records when consumed or stale ones dominate.
func (s *State) pushTomb(id uint64, at time.Time) {
	s.tombs = append(s.tombs, tomb{id: id, at: at})
	pending := len(s.tombs) - s.head
	if (s.head > 32 && s.head >= len(s.tombs)/2) || pending > 2*(len(s.clients)-s.live)+32 {
		kept := s.tombs[:0]
		for _, t := range s.tombs[s.head:] {
			if s.isTomb(t) {
				kept = append(kept, t)
			}
		}
		clear(s.tombs[len(kept):])
		s.tombs, s.head = kept, 0
	}
}

// RemoveConn removes the clients whose state connection conn delivered last,
// for when conn closes: their states become tombstones with unchanged
// clocks, and Changes.Frame tells the other connections (an equal clock with
// a null state removes a client at every peer). The IDs conn owned are
// released.
func (s *State) RemoveConn(conn ConnID, now time.Time) Changes {
	if conn == 0 {
		return Changes{}
	}
	var ch Changes
	for id, c := range s.clients {
		if c.state != nil && c.conn == conn {
			ch.Removed = append(ch.Removed, id)
		}
	}
	s.remove(ch.Removed, now)
	if s.owned[conn] > 0 {
		for id, o := range s.owner {
			if o == conn {
				s.release(conn, id)
			}
		}
	}
	ch.Frame = s.frame(ch)
	return ch
}

// Expire removes the states not renewed within Timeout before now, as
// RemoveConn does, and forgets tombstones older than Timeout. The room calls
// it periodically (y-protocols checks every 3 seconds); now should not go
// backwards between calls.
func (s *State) Expire(now time.Time) Changes {
	for ; s.head < len(s.tombs); s.head++ {
		t := s.tombs[s.head]
		if !s.isTomb(t) {
			continue
		}
		if now.Sub(t.at) < s.opts.Timeout {
			break // later records are younger
		}
		delete(s.clients, t.id)
	}
	var ch Changes
	for id, c := range s.clients {
		if c.state != nil && now.Sub(c.updated) >= s.opts.Timeout {
			ch.Removed = append(ch.Removed, id)
		}
	}
	s.remove(ch.Removed, now)
	ch.Frame = s.frame(ch)
	return ch
}

// remove turns the states of ids into tombstones, sorting ids.
func (s *State) remove(ids []uint64, now time.Time) {
	slices.Sort(ids)
	for _, id := range ids {
		c := s.clients[id]
		c.state, c.conn, c.updated = nil, 0, now
		s.clients[id] = c
		s.live--
		s.pushTomb(id, now)
	}
}

// AppendFull appends an awareness message with the state of every client
// that has one, ordered by client ID: the full state to send to a new
// connection or in reply to a query-awareness message. With no clients the
// message lists none (y-partykit's server sends nothing then; check Len).
func (s *State) AppendFull(dst []byte) []byte {
	ids := make([]uint64, 0, s.live)
	for id, c := range s.clients {
		if c.state != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	entries := make([]yprotocol.AwarenessEntry, 0, len(ids))
	for _, id := range ids {
		c := s.clients[id]
		entries = append(entries, yprotocol.AwarenessEntry{ClientID: id, Clock: c.clock, State: c.state})
	}
	return yprotocol.AppendAwareness(dst, entries)
}

// frame encodes the awareness message announcing ch, nil if ch is empty.
func (s *State) frame(ch Changes) []byte {
	if ch.Empty() {
		return nil
	}
	entries := make([]yprotocol.AwarenessEntry, 0, len(ch.Added)+len(ch.Updated)+len(ch.Removed))
	for _, list := range [][]uint64{ch.Added, ch.Updated, ch.Removed} {
		for _, id := range list {
			c := s.clients[id]
			entries = append(entries, yprotocol.AwarenessEntry{ClientID: id, Clock: c.clock, State: c.state})
		}
	}
	return yprotocol.AppendAwareness(nil, entries)
}
