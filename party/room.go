package party

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Close codes the rooms use.
const (
	CloseNormal      = 1000
	CloseGoingAway   = 1001
	ClosePolicy      = 1008
	CloseInternal    = 1011
	CloseTryAgain    = 1013
	closeReasonPanic = "party error"
)

// Room is a live room of a party: its connections, its storage and its
// alarm. Its methods are for the instance's callbacks (see the package
// comment), except Name, Party and After.
type Room struct {
	reg     *Registry
	key     roomKey
	factory Factory
	log     *slog.Logger
	storage *Storage

	inbox chan func()
	quit  chan struct{} // closed by stop: the room's goroutine drains its inbox and ends
	once  sync.Once

	refs int // guarded by reg.mu: connections, requests, timers and alarms under way

	// The room's goroutine's.
	srv     Server
	conns   map[string]*Conn
	joined  uint64 // join order, for Connections
	broken  bool   // the instance failed: events are answered, callbacks not run
	started bool
}

func newRoom(reg *Registry, key roomKey, f Factory) *Room {
	rm := &Room{
		reg:     reg,
		key:     key,
		factory: f,
		log:     reg.log.With("party", key.party, "room", key.room),
		inbox:   make(chan func(), reg.opts.Inbox),
		quit:    make(chan struct{}),
		conns:   make(map[string]*Conn),
	}
	rm.storage = &Storage{kv: reg.opts.Storage, ns: storageNamespace(key), timeout: reg.opts.StorageTimeout}
	return rm
}

// Name is the room's name.
func (rm *Room) Name() string { return rm.key.room }

// Party is the party's name.
func (rm *Room) Party() string { return rm.key.party }

// Logger logs with the party and the room.
func (rm *Room) Logger() *slog.Logger { return rm.log }

// Storage is the room's storage.
func (rm *Room) Storage() *Storage { return rm.storage }

// post queues fn for the room's goroutine. The caller holds a reference,
// so the goroutine runs until fn has run.
func (rm *Room) post(fn func()) { rm.inbox <- fn }

func (rm *Room) stop() { rm.once.Do(func() { close(rm.quit) }) }

// run is the room's goroutine.
func (rm *Room) run() {
	defer rm.reg.running.Done()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	armed := false
	rm.call("OnStart", func() error {
		rm.srv = rm.factory(rm)
		if rm.srv == nil {
			return errors.New("the factory returned nil")
		}
		rm.started = true
		return rm.srv.OnStart()
	})
	for {
		select {
		case fn := <-rm.inbox:
			fn()
		case <-idle.C:
			armed = false
			if rm.reg.retire(rm) {
				rm.log.Debug("room hibernated")
			}
			continue
		case <-rm.quit:
			// Every holder of a reference has released it, so nothing
			// more is posted; run what is queued (answers to requests).
			for {
				select {
				case fn := <-rm.inbox:
					fn()
				default:
					return
				}
			}
		}
		// Hibernate once nothing holds the room (at once while shutting
		// down).
		switch free := rm.reg.idle(rm); {
		case free && rm.reg.shuttingDown():
			rm.reg.retire(rm)
		case free && !armed && !rm.broken:
			idle.Reset(rm.reg.opts.IdleTimeout)
			armed = true
		case !free && armed:
			idle.Stop()
			armed = false
		}
	}
}

func (r *Registry) shuttingDown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}

// call runs a callback, recovering a panic (and taking an OnStart error)
// as the failure of the instance. It reports whether the callback
// returned normally.
func (rm *Room) call(what string, fn func() error) (ok bool) {
	if rm.broken {
		return false
	}
	defer func() {
		if p := recover(); p != nil {
			rm.fail(fmt.Errorf("%s panicked: %v", what, p), debug.Stack())
			ok = false
		}
	}()
	if err := fn(); err != nil {
		rm.fail(fmt.Errorf("%s: %w", what, err), nil)
		return false
	}
	return true
}

// fail ends the instance: its connections are closed with 1011 and the
// room leaves the registry, so that the next connection starts a new one.
func (rm *Room) fail(err error, stack []byte) {
	rm.broken = true
	if stack != nil {
		rm.log.Error("party failed; closing the room", "err", err, "stack", string(stack))
	} else {
		rm.log.Error("party failed; closing the room", "err", err)
	}
	for _, c := range rm.conns {
		c.closeWith(CloseInternal, closeReasonPanic)
	}
	rm.reg.drop(rm)
}

// goingAway closes every connection with 1001 (shutdown). It runs on the
// room's goroutine; the caller holds no reference, so it posts only while
// the room is registered.
func (rm *Room) goingAway() {
	if !rm.reg.addRef(rm) {
		return
	}
	rm.post(func() {
		for _, c := range rm.conns {
			c.closeWith(CloseGoingAway, "server shutting down")
		}
		rm.reg.release(rm)
	})
}

func (rm *Room) join(c *Conn) {
	if rm.broken {
		c.peer.Close(CloseInternal, closeReasonPanic)
		c.closed = true
		return
	}
	if old := rm.conns[c.id]; old != nil {
		if old.info.User != c.info.User {
			// Someone else's ID: keep the connection that has it.
			c.peer.Close(ClosePolicy, "connection id in use")
			c.closed = true
			return
		}
		// partysocket reconnects with the same id, sometimes before the
		// server has noticed that the old connection is dead.
		old.closeWith(CloseNormal, "replaced by a new connection with the same id")
		rm.leave(old)
	}
	rm.joined++
	c.seq = rm.joined
	rm.conns[c.id] = c
	rm.call("OnConnect", func() error { rm.srv.OnConnect(c, c.info); return nil })
}

func (rm *Room) receive(c *Conn, m Message) {
	if c.closed || rm.conns[c.id] != c {
		return
	}
	rm.call("OnMessage", func() error { rm.srv.OnMessage(m, c); return nil })
}

func (rm *Room) connError(c *Conn, err error) {
	if c.left || rm.conns[c.id] != c {
		return
	}
	rm.call("OnError", func() error { rm.srv.OnError(c, err); return nil })
}

func (rm *Room) leave(c *Conn) {
	if c.left {
		return
	}
	c.left, c.closed = true, true
	if rm.conns[c.id] != c {
		return
	}
	delete(rm.conns, c.id)
	rm.call("OnClose", func() error { rm.srv.OnClose(c); return nil })
}

// request runs OnRequest; ok is false if the instance has failed (before
// or during the call).
func (rm *Room) request(req *Request) (resp *Response, ok bool) {
	ok = rm.call("OnRequest", func() error { resp = rm.srv.OnRequest(req); return nil })
	return resp, ok
}

// Broadcast sends m to every connection of the room except those whose
// IDs are in exclude.
func (rm *Room) Broadcast(m Message, exclude ...string) {
	for id, c := range rm.conns {
		if slices.Contains(exclude, id) {
			continue
		}
		c.Send(m)
	}
}

// Connections returns the room's open connections in the order they
// joined; with tags, only those that carry at least one of them.
func (rm *Room) Connections(tags ...string) []*Conn {
	out := make([]*Conn, 0, len(rm.conns))
	for _, c := range rm.conns {
		if c.closed {
			continue
		}
		if len(tags) > 0 && !slices.ContainsFunc(tags, c.HasTag) {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Conn) int { return int(a.seq) - int(b.seq) })
	return out
}

// Connection returns the open connection with that ID, or nil.
func (rm *Room) Connection(id string) *Conn {
	if c := rm.conns[id]; c != nil && !c.closed {
		return c
	}
	return nil
}

// After runs fn on the room's goroutine after d, unless the returned stop
// function is called first (stop reports whether it prevented the run). A
// pending timer keeps the room from hibernating; it does not survive a
// hibernation, a failure or a restart (SetAlarm does). Safe for
// concurrent use.
func (rm *Room) After(d time.Duration, fn func()) (stop func() bool) {
	if !rm.reg.addRef(rm) {
		return func() bool { return false }
	}
	t := time.AfterFunc(d, func() {
		rm.post(func() {
			defer rm.reg.release(rm)
			rm.call("an After function", func() error { fn(); return nil })
		})
	})
	return func() bool {
		if t.Stop() {
			rm.reg.release(rm)
			return true
		}
		return false
	}
}

// Conn is one connection of a room. Its methods are for the room's
// callbacks.
type Conn struct {
	id   string
	peer Peer
	info ConnInfo
	room *Room
	seq  uint64

	// The room's goroutine's.
	tags   []string
	state  any
	closed bool // closed by the party or the room: send nothing more
	left   bool // OnClose has run
}

// ID is the connection's ID (partysocket's _pk).
func (c *Conn) ID() string { return c.id }

// Info is what the connection's request carried.
func (c *Conn) Info() ConnInfo { return c.info }

// User is the verified token's subject, "" without a token.
func (c *Conn) User() string { return c.info.User }

// ReadOnly reports whether the connection may only read (see
// ConnInfo.ReadOnly).
func (c *Conn) ReadOnly() bool { return c.info.ReadOnly }

// State returns the connection's state (nil until SetState). It lives as
// long as the connection, in memory only.
func (c *Conn) State() any { return c.state }

// SetState replaces the connection's state.
func (c *Conn) SetState(v any) { c.state = v }

// Tag adds tags to the connection, for Room.Connections.
func (c *Conn) Tag(tags ...string) {
	for _, t := range tags {
		if !slices.Contains(c.tags, t) {
			c.tags = append(c.tags, t)
		}
	}
}

// Tags returns the connection's tags.
func (c *Conn) Tags() []string { return slices.Clone(c.tags) }

// HasTag reports whether the connection carries tag.
func (c *Conn) HasTag(tag string) bool { return slices.Contains(c.tags, tag) }

// Send sends m to the connection. A connection whose queue is full is
// closed with 1013 (try again later); its client reconnects.
func (c *Conn) Send(m Message) {
	if c.closed {
		return
	}
	if !c.peer.Send(m) {
		c.room.log.Info("closing a connection that does not read fast enough", "conn", c.id)
		c.closeWith(CloseTryAgain, "too slow")
	}
}

// SendJSON sends v as a JSON text message.
func (c *Conn) SendJSON(v any) { c.Send(JSON(v)) }

// Close closes the connection with a WebSocket close code (1000, or
// 3000–4999 for the application's own) and reason; OnClose follows.
func (c *Conn) Close(code int, reason string) { c.closeWith(code, reason) }

func (c *Conn) closeWith(code int, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	c.peer.Close(code, reason)
}
