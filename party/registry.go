package party

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/collabd/collabd/docstore"
)

// Errors of a Registry.
var (
	// ErrUnknownParty: no party of that name is registered.
	ErrUnknownParty = errors.New("party: unknown party")
	// ErrShuttingDown: the registry is shutting down.
	ErrShuttingDown = errors.New("party: shutting down")
	// ErrTooManyRooms: Options.MaxRooms rooms are live; try again later.
	ErrTooManyRooms = errors.New("party: too many rooms in memory")
	// ErrRoomFailed: the room's instance failed (a panic, an OnStart
	// error) while the request waited.
	ErrRoomFailed = errors.New("party: room failed")
)

// Defaults of Options.
const (
	DefaultIdleTimeout = 10 * time.Second
	DefaultInbox       = 256
	// DefaultStorageTimeout bounds one storage call.
	DefaultStorageTimeout = 10 * time.Second
	// MainParty is the party y-partykit connects to by default: the Yjs
	// document.
	MainParty = "main"
)

// Options configure a Registry. The zero value of each field is its
// default.
type Options struct {
	// Storage holds every room's storage and the alarms. Required.
	Storage docstore.KV
	// Logger receives the rooms' logs (with "party" and "room"); nil
	// discards them.
	Logger *slog.Logger
	// IdleTimeout: a room with nothing to do hibernates after this.
	IdleTimeout time.Duration
	// Inbox bounds the events queued for a room; a connection whose
	// message does not fit waits (its reader stops reading).
	Inbox int
	// StorageTimeout bounds each storage call of a party.
	StorageTimeout time.Duration
	// MaxRooms bounds the live rooms of all parties; a new room over it
	// is refused (ErrTooManyRooms) until one hibernates. 0 is no bound.
	MaxRooms int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Inbox <= 0 {
		o.Inbox = DefaultInbox
	}
	if o.StorageTimeout <= 0 {
		o.StorageTimeout = DefaultStorageTimeout
	}
	return o
}

// Kind says what serves a party name.
type Kind int

const (
	// KindNone: nothing; the transport answers 404.
	KindNone Kind = iota
	// KindYjs: the Yjs document of the room (package rooms), as
	// y-partykit expects of "main".
	KindYjs
	// KindParty: a registered party of this package.
	KindParty
)

// Registry holds the registered parties and their live rooms. Register
// parties, then Start; Connect, Request and Lookup are safe for concurrent
// use.
type Registry struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	parties map[string]Factory // guarded by mu
	yjs     map[string]bool    // guarded by mu; "main" unless registered
	rooms   map[roomKey]*Room  // guarded by mu
	alarms  map[roomKey]*alarm // guarded by mu
	closing bool               // guarded by mu
	started bool               // guarded by mu

	running sync.WaitGroup // the rooms' goroutines
}

type roomKey struct{ party, room string }

func (k roomKey) String() string { return k.party + "/" + k.room }

// NewRegistry returns a registry with the Yjs party "main" and no other.
func NewRegistry(opts Options) *Registry {
	opts = opts.withDefaults()
	return &Registry{
		opts:    opts,
		log:     opts.Logger,
		parties: make(map[string]Factory),
		yjs:     map[string]bool{MainParty: true},
		rooms:   make(map[roomKey]*Room),
		alarms:  make(map[roomKey]*alarm),
	}
}

// CheckName reports whether name can name a party: 1 to 64 lower-case
// ASCII letters, digits, '-' and '_'.
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("party: name %q: want 1 to 64 characters", name)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("party: name %q: want lower-case letters, digits, - and _", name)
		}
	}
	return nil
}

// Register registers a party. Registering "main" replaces the Yjs
// document party; registering a name twice is an error.
func (r *Registry) Register(name string, f Factory) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if f == nil {
		return fmt.Errorf("party: %s: nil factory", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.parties[name]; ok || (r.yjs[name] && name != MainParty) {
		return fmt.Errorf("party: %s registered twice", name)
	}
	delete(r.yjs, name)
	r.parties[name] = f
	return nil
}

// RegisterYjs declares name a Yjs party: /parties/{name}/{room} serves the
// room's Yjs document, the same one /ws/{room} and /parties/main/{room}
// reach (y-partykit clients configured with that party name connect
// unchanged).
func (r *Registry) RegisterYjs(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.parties[name]; ok || r.yjs[name] && name != MainParty {
		return fmt.Errorf("party: %s registered twice", name)
	}
	r.yjs[name] = true
	return nil
}

// Lookup says what serves the party name.
func (r *Registry) Lookup(name string) Kind {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.yjs[name]:
		return KindYjs
	case r.parties[name] != nil:
		return KindParty
	}
	return KindNone
}

// Parties lists the registered parties of this package (not the Yjs
// ones), for logs.
func (r *Registry) Parties() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for n := range r.parties {
		names = append(names, n)
	}
	return names
}

// Start schedules the stored alarms (those set before a restart fire now
// if due). Call it once, after registering the parties.
func (r *Registry) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("party: Start called twice")
	}
	r.started = true
	r.mu.Unlock()
	after := ""
	for {
		ps, err := r.opts.Storage.List(ctx, alarmNamespace, "", after, 0)
		if err != nil {
			return fmt.Errorf("party: loading alarms: %w", err)
		}
		if len(ps) == 0 {
			return nil
		}
		for _, p := range ps {
			key, at, err := decodeAlarm(p)
			if err != nil {
				r.log.Warn("ignoring a stored alarm", "key", p.Key, "err", err)
				continue
			}
			if r.Lookup(key.party) != KindParty {
				r.log.Warn("ignoring the alarm of a party that is not registered", "party", key.party, "room", key.room)
				continue
			}
			r.mu.Lock()
			r.scheduleLocked(key, at)
			r.mu.Unlock()
		}
		after = ps[len(ps)-1].Key
	}
}

// Peer is a connection as a room sees it. Neither method may block.
type Peer interface {
	// Send queues a message; false means the connection's queue is full
	// (the room then closes it with 1013).
	Send(m Message) bool
	// Close closes the connection with a WebSocket close code and reason
	// after what is queued.
	Close(code int, reason string)
}

// Session is a connection's handle for the transport. Receive, Error and
// Leave are for the connection's reader, one at a time.
type Session struct {
	room *Room
	conn *Conn
	left bool
}

// ID is the connection's ID.
func (s *Session) ID() string { return s.conn.id }

// Receive hands a message to the room. It blocks while the room's inbox
// is full.
func (s *Session) Receive(m Message) {
	s.room.post(func() { s.room.receive(s.conn, m) })
}

// Error reports an error the transport closes the connection for.
func (s *Session) Error(err error) {
	s.room.post(func() { s.room.connError(s.conn, err) })
}

// Leave removes the connection from its room (OnClose runs). Call it once,
// when the connection has ended.
func (s *Session) Leave() {
	if s.left {
		return
	}
	s.left = true
	s.room.post(func() {
		s.room.leave(s.conn)
		s.room.reg.release(s.room)
	})
}

// Connect joins a connection to a room of a registered party: the room
// starts if it is not live, and OnConnect runs on its goroutine. It
// returns ErrUnknownParty for a name not registered with Register.
func (r *Registry) Connect(party, room string, p Peer, info ConnInfo) (*Session, error) {
	rm, err := r.acquire(roomKey{party, room})
	if err != nil {
		return nil, err
	}
	c := &Conn{id: info.ID, peer: p, info: info, room: rm}
	rm.post(func() { rm.join(c) })
	return &Session{room: rm, conn: c}, nil
}

// Request hands a plain HTTP request to a room of a registered party and
// waits for OnRequest's answer (a nil answer is 404) or ctx.
func (r *Registry) Request(ctx context.Context, party, room string, req *Request) (*Response, error) {
	rm, err := r.acquire(roomKey{party, room})
	if err != nil {
		return nil, err
	}
	type answer struct {
		resp *Response
		ok   bool
	}
	answers := make(chan answer, 1)
	rm.post(func() {
		defer r.release(rm)
		resp, ok := rm.request(req)
		answers <- answer{resp, ok}
	})
	select {
	case a := <-answers:
		if !a.ok {
			return nil, ErrRoomFailed
		}
		resp := a.resp
		if resp == nil {
			resp = &Response{Status: 404, Body: []byte(`{"error":"not found"}` + "\n"),
				Header: map[string][]string{"Content-Type": {"application/json"}}}
		}
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// acquire returns the live room of key, starting it if needed, with one
// more reference: it stays live until release.
func (r *Registry) acquire(key roomKey) (*Room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, ErrShuttingDown
	}
	f := r.parties[key.party]
	if f == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownParty, key.party)
	}
	rm := r.rooms[key]
	if rm == nil {
		if r.opts.MaxRooms > 0 && len(r.rooms) >= r.opts.MaxRooms {
			return nil, ErrTooManyRooms
		}
		rm = newRoom(r, key, f)
		r.rooms[key] = rm
		r.running.Add(1)
		go rm.run()
	}
	rm.refs++
	return rm, nil
}

// addRef takes one more reference to a room that is still registered;
// false if it is not (it failed or hibernated).
func (r *Registry) addRef(rm *Room) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms[rm.key] != rm {
		return false
	}
	rm.refs++
	return true
}

// release drops a reference. The last reference of a room that is no
// longer registered (it failed) ends its goroutine.
func (r *Registry) release(rm *Room) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm.refs--
	if rm.refs == 0 && r.rooms[rm.key] != rm {
		rm.stop()
	}
}

// idle reports whether the room has no references.
func (r *Registry) idle(rm *Room) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rm.refs == 0
}

// retire removes an idle room (hibernation); false if it has gained a
// reference since it found itself idle.
func (r *Registry) retire(rm *Room) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm.refs > 0 || r.rooms[rm.key] != rm {
		return false
	}
	delete(r.rooms, rm.key)
	rm.stop()
	return true
}

// drop removes a failed room; its goroutine ends with its last reference.
func (r *Registry) drop(rm *Room) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms[rm.key] == rm {
		delete(r.rooms, rm.key)
	}
	if rm.refs == 0 {
		rm.stop()
	}
}

// Shutdown closes every connection with 1001 (going away), stops the
// alarms' timers (the alarms stay stored) and waits for the rooms'
// goroutines, or ctx.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	live := make([]*Room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		live = append(live, rm)
	}
	for _, a := range r.alarms {
		a.timer.Stop()
	}
	r.mu.Unlock()
	for _, rm := range live {
		rm.goingAway()
	}
	done := make(chan struct{})
	go func() { r.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("party: shutdown: %w", ctx.Err())
	}
}

// storageNamespace is the docstore namespace of a room's storage.
func storageNamespace(k roomKey) string { return "party/" + k.party + "/" + k.room }

// alarmNamespace holds every room's alarm: party/room -> Unix nanoseconds.
const alarmNamespace = "party-alarms"

func decodeAlarm(p docstore.KVPair) (roomKey, time.Time, error) {
	party, room, ok := strings.Cut(p.Key, "/")
	if !ok || CheckName(party) != nil || room == "" {
		return roomKey{}, time.Time{}, errors.New("bad key")
	}
	at, err := decodeTime(p.Value)
	return roomKey{party, room}, at, err
}
