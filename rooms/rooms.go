// Package rooms is collabd's core: a Registry of rooms, one per document,
// each merging the updates of its connections into a server-side Yjs
// document, relaying them and presence (awareness), persisting through a
// Store, and hibernating when idle. It knows nothing of HTTP or WebSockets:
// a transport hands it each connection as a Peer and feeds it frames.
//
// # Concurrency
//
// Each Room is owned by one goroutine (Room.run): it alone touches the
// document, the awareness state, the set of connections and the persistence
// queue; everything else talks to it through its inbox. The Registry's
// mutex guards only the name -> room map and each room's count of joins in
// flight, which is what keeps a hibernating room from leaving while a join
// is on its way. Peer methods never block, so a room never waits on a
// network write: a connection whose queue is full is closed as a slow
// consumer (its client reconnects and resyncs); document updates are never
// dropped for it.
//
// # Durability
//
// An update a client sends is applied to the document (a bad one closes the
// connection and changes nothing), appended to the Store, and only then
// relayed: everything any client has seen is stored. Appends happen on a
// helper goroutine so the room keeps working meanwhile; updates that arrive
// during an append share the next one (group commit), and every message that
// carries document state (relays, SyncStep2 replies) waits behind the
// appends of the updates accepted before it. A room whose stored state cannot
// be loaded refuses its connections instead of starting empty.
package rooms

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/metrics"
)

// Defaults for the zero values of Options.
const (
	DefaultIdleTimeout      = 10 * time.Second
	DefaultMaxDocumentSize  = 64 << 20
	DefaultInboxSize        = 16
	DefaultAwarenessTimeout = 30 * time.Second
	DefaultOpTimeout        = 30 * time.Second
	DefaultCompactEntries   = 1000
	DefaultAwarenessBatch   = 20 * time.Millisecond
	DefaultCompactBytes     = 8 << 20
	DefaultVersionInterval  = 5 * time.Minute
)

// Options configure a Registry. The zero value of each field is its default.
type Options struct {
	// Store persists documents. Nil keeps them in memory only.
	Store Store
	// Logger receives the rooms' logs; nil discards them.
	Logger *slog.Logger
	// IdleTimeout is how long a room without connections stays in memory
	// before it compacts its stored state and hibernates.
	IdleTimeout time.Duration
	// MaxDocumentSize bounds a document's encoded size, in bytes (an
	// estimate between compactions: the stored snapshot plus the updates
	// since). An update that would exceed it is refused.
	MaxDocumentSize int
	// InboxSize bounds each room's queue of incoming events; a full inbox
	// makes connections wait (backpressure on their sockets). Every room
	// holds its whole buffer (56 bytes an event), idle or not: 16 keeps a
	// room with one idle connection at 17.5 KB of RSS against 21–23 KB
	// with 64, and a presence storm of 100 clients × 20 Hz in one room
	// still sees every final state.
	InboxSize int
	// AwarenessTimeout is how long a presence state lives without renewal.
	AwarenessTimeout time.Duration
	// AwarenessBatch is how long presence changes are collected before
	// the room sends them (the latest state of each changed client, in one
	// message). Negative relays every change at once.
	AwarenessBatch time.Duration
	// OpTimeout bounds each storage operation.
	OpTimeout time.Duration
	// CompactEntries and CompactBytes: a live room whose log holds this
	// many updates, or bytes, since its last snapshot compacts (a version
	// with trigger "threshold"), so loads stay fast.
	CompactEntries int
	CompactBytes   int
	// MaxRooms bounds the rooms held in memory; 0 means no bound. A room
	// that must be loaded while MaxRooms are in memory makes the room idle
	// (without connections) the longest hibernate at once; if every room
	// has connections, the new one is refused with ErrTooManyRooms.
	MaxRooms int
	// VersionInterval: while a room is live and its document changes, it
	// stores a version (trigger "interval") VersionInterval after the
	// first change since its last version, so that the history of a note
	// being edited fills as it is written, at most one version per
	// interval. Negative takes none.
	VersionInterval time.Duration
	// Metrics counts what the rooms do; nil counts nothing.
	Metrics *metrics.Metrics
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxDocumentSize <= 0 {
		o.MaxDocumentSize = DefaultMaxDocumentSize
	}
	if o.InboxSize <= 0 {
		o.InboxSize = DefaultInboxSize
	}
	if o.AwarenessTimeout <= 0 {
		o.AwarenessTimeout = DefaultAwarenessTimeout
	}
	if o.AwarenessBatch == 0 {
		o.AwarenessBatch = DefaultAwarenessBatch
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.CompactEntries <= 0 {
		o.CompactEntries = DefaultCompactEntries
	}
	if o.CompactBytes <= 0 {
		o.CompactBytes = DefaultCompactBytes
	}
	if o.VersionInterval == 0 {
		o.VersionInterval = DefaultVersionInterval
	}
	return o
}

// Store is what rooms need from storage; docstore.Store provides it.
type Store interface {
	Load(ctx context.Context, doc string) (*docstore.Stored, error)
	Append(ctx context.Context, doc string, updates ...[]byte) (int64, error)
	Compact(ctx context.Context, doc string, snapshot []byte, throughSeq int64, trigger docstore.Trigger) (docstore.Version, error)
}

var (
	// ErrShuttingDown is returned by Join and the REST operations once
	// Shutdown has begun.
	ErrShuttingDown = errors.New("rooms: shutting down")
	// ErrUnavailable is wrapped by errors about a room whose stored state
	// could not be loaded; the room refuses connections rather than start
	// from an empty document.
	ErrUnavailable = errors.New("rooms: room unavailable")
	// ErrNotFound reports a document that is neither live nor stored.
	ErrNotFound = errors.New("rooms: document not found")
	// ErrClosed reports an operation on a connection its room has closed.
	ErrClosed = errors.New("rooms: connection closed")
	// ErrTooManyRooms: Options.MaxRooms rooms are in memory and none of
	// them is idle.
	ErrTooManyRooms = errors.New("rooms: too many rooms in memory")
)

// CloseReason says why a room closed a connection; the transport maps it to
// a WebSocket close code.
type CloseReason int

// Close reasons.
const (
	// CloseGoingAway: the server is shutting down.
	CloseGoingAway CloseReason = iota + 1
	// CloseSlowConsumer: the connection could not keep up with the room.
	CloseSlowConsumer
	// CloseBadMessage: the connection sent a message that does not decode,
	// or an update or presence state that is invalid.
	CloseBadMessage
	// CloseTooLarge: an update would make the document exceed its limit.
	CloseTooLarge
	// CloseUnavailable: the room cannot serve (its storage failed).
	CloseUnavailable
	// CloseDeleted: the document was deleted.
	CloseDeleted
	// CloseMoved: the room left this process for another node of a
	// cluster (see Relinquish); the client should reconnect at once.
	CloseMoved
)

func (r CloseReason) String() string {
	switch r {
	case CloseGoingAway:
		return "server shutting down"
	case CloseSlowConsumer:
		return "connection too slow"
	case CloseBadMessage:
		return "invalid message"
	case CloseTooLarge:
		return "document too large"
	case CloseUnavailable:
		return "room unavailable"
	case CloseDeleted:
		return "document deleted"
	case CloseMoved:
		return "room moved to another node"
	}
	return "closed"
}

// Peer is a transport's connection as a room sees it. Neither method may
// block; both are called from the room's goroutine.
type Peer interface {
	// Send queues one frame for sending and reports whether it fit in the
	// connection's queue. The frame may be shared with other peers and
	// must not be modified.
	Send(frame []byte) bool
	// Close closes the connection for reason. It may be called more than
	// once.
	Close(reason CloseReason)
}

// Registry holds the live rooms. All its methods are safe for concurrent
// use.
type Registry struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	rooms    map[string]*Room // guarded by mu
	shutdown bool             // guarded by mu
	evicting int              // rooms told to hibernate for MaxRooms; guarded by mu

	wg      sync.WaitGroup // room goroutines
	connIDs atomic.Uint64
	spoofed atomic.Int64
	// storeErrors counts rooms whose last storage operation failed; the
	// registry is not ready while it is above zero.
	storeErrors atomic.Int64
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	opts = opts.withDefaults()
	return &Registry{opts: opts, log: opts.Logger, rooms: make(map[string]*Room)}
}

// Ready reports an error while some room cannot reach its storage.
func (r *Registry) Ready() error {
	if n := r.storeErrors.Load(); n > 0 {
		return fmt.Errorf("rooms: %d room(s) cannot persist", n)
	}
	return nil
}

// has reports whether the room called name is in memory.
func (r *Registry) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rooms[name] != nil
}

// Stats are counters of a registry's life so far.
type Stats struct {
	// Spoofed counts presence entries dropped because another connection
	// owns their client ID.
	Spoofed int64
}

// Stats returns the registry's counters.
func (r *Registry) Stats() Stats { return Stats{Spoofed: r.spoofed.Load()} }

// Len returns the number of rooms in memory.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.rooms)
}

// acquire returns the room called name, starting it if needed, with one
// more join in flight counted against hibernation. The caller must post an
// event that ends with release.
func (r *Registry) acquire(name string) (*Room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return nil, ErrShuttingDown
	}
	rm := r.rooms[name]
	if rm == nil {
		if max := r.opts.MaxRooms; max > 0 && len(r.rooms)-r.evicting >= max && !r.evictLocked() {
			r.opts.Metrics.Rejected(metrics.ReasonRoomLimit)
			return nil, fmt.Errorf("%w (%d, every one with connections)", ErrTooManyRooms, max)
		}
		rm = newRoom(r, name)
		r.rooms[name] = rm
		r.wg.Add(1)
		go rm.run()
	}
	rm.joining++
	return rm, nil
}

// evictLocked tells the room idle the longest to hibernate now and
// reports whether there was one. The room stays registered until it has
// stored its state, so memory may briefly hold one room more than
// MaxRooms; rooms being evicted are not counted against it twice.
func (r *Registry) evictLocked() bool {
	var lru *Room
	for _, rm := range r.rooms {
		if rm.idleSince.IsZero() || rm.joining > 0 || rm.evicting {
			continue
		}
		if lru == nil || rm.idleSince.Before(lru.idleSince) {
			lru = rm
		}
	}
	if lru == nil {
		return false
	}
	lru.evicting = true
	r.evicting++
	select {
	case lru.evict <- struct{}{}:
	default:
	}
	return true
}

// setEvicting clears or sets rm's evicting mark (a room told to hibernate
// that stays, because it could not store its state yet).
func (r *Registry) setEvicting(rm *Room, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm.evicting != on {
		rm.evicting = on
		if on {
			r.evicting++
		} else {
			r.evicting--
		}
	}
}

// setIdle records whether rm has connections, for the choice of a room to
// evict. The room's goroutine calls it.
func (r *Registry) setIdle(rm *Room, idle bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !idle {
		rm.idleSince = time.Time{}
		if rm.evicting { // a join came first: the room stays
			rm.evicting = false
			r.evicting--
		}
		return
	}
	rm.idleSince = time.Now()
}

// release ends a join in flight counted by acquire.
func (r *Registry) release(rm *Room) {
	r.mu.Lock()
	rm.joining--
	r.mu.Unlock()
}

// tryRemove unregisters rm if nothing is on its way to it; the room then
// exits. It reports whether rm was removed.
func (r *Registry) tryRemove(rm *Room, force bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm.joining > 0 && !force {
		return false
	}
	if r.rooms[rm.name] == rm {
		delete(r.rooms, rm.name)
	}
	if rm.evicting {
		rm.evicting = false
		r.evicting--
	}
	return true
}

// JoinOptions describe a connection joining a room.
type JoinOptions struct {
	// ReadOnly connections may read and show presence but not change the
	// document: their updates are answered with permission-denied.
	ReadOnly bool
	// User is the authenticated user, "" if unknown. A client reconnecting
	// as the same (non-empty) user may take over its presence client ID
	// from its previous connection before that one's close is noticed.
	User string
}

// Join connects peer to the room called name, loading the room first if it
// is not in memory. When Join returns, the peer has been sent the room's
// state vector (SyncStep1) and presence, and frames it receives go to
// Conn.Receive.
func (r *Registry) Join(ctx context.Context, name string, peer Peer, o JoinOptions) (*Conn, error) {
	rm, err := r.acquire(name)
	if err != nil {
		return nil, err
	}
	c := &Conn{room: rm, id: r.connIDs.Add(1), peer: peer, readOnly: o.ReadOnly, user: o.User}
	reply := make(chan error, 1)
	if err := rm.post(ctx, event{kind: evJoin, conn: c, reply: reply}); err != nil {
		r.release(rm)
		return nil, err
	}
	select {
	case err := <-reply:
		if err != nil {
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		// The join is queued and will complete; undo it.
		go func() {
			if <-reply == nil {
				c.Leave()
			}
		}()
		return nil, ctx.Err()
	}
}

// Shutdown closes every connection with CloseGoingAway, persists every room
// and waits for the rooms to exit, or for ctx.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.shutdown = true
	live := make([]*Room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		live = append(live, rm)
	}
	r.mu.Unlock()
	for _, rm := range live {
		rm.stopOnce.Do(func() { close(rm.stop) })
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rooms: shutdown: %w", ctx.Err())
	}
}

// Conn is one connection of a room, as the transport holds it.
type Conn struct {
	room     *Room
	id       uint64
	peer     Peer
	readOnly bool
	user     string
	left     atomic.Bool
}

// ID identifies the connection in logs.
func (c *Conn) ID() uint64 { return c.id }

// Receive hands a frame from the connection to its room, which takes
// ownership of it. It waits while the room's inbox is full.
func (c *Conn) Receive(ctx context.Context, frame []byte) error {
	if c.left.Load() {
		return ErrClosed
	}
	return c.room.post(ctx, event{kind: evFrame, conn: c, frame: frame})
}

// Leave tells the room that the connection is gone (the transport calls it
// once its read loop ends). It does not block and may be called more than
// once.
func (c *Conn) Leave() {
	if c.left.Swap(true) {
		return
	}
	c.room.postAsync(event{kind: evLeave, conn: c})
}

// restoreClientID picks the Yjs client id of a server-made change: random
// and 32-bit like a stock client's (any id up to 2^53-1 is valid), so it
// never collides with a live writer.
func restoreClientID() uint64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return uint64(binary.LittleEndian.Uint32(b[:])) | 1
}
