package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/yprotocol"
)

// closeCode maps a room's close reason to a WebSocket close code.
func closeCode(r rooms.CloseReason) websocket.StatusCode {
	switch r {
	case rooms.CloseGoingAway:
		return websocket.StatusGoingAway
	case rooms.CloseSlowConsumer:
		return websocket.StatusTryAgainLater
	case rooms.CloseBadMessage:
		return websocket.StatusInvalidFramePayloadData
	case rooms.CloseTooLarge:
		return websocket.StatusMessageTooBig
	case rooms.CloseUnavailable:
		return websocket.StatusInternalError
	case rooms.CloseDeleted:
		return CloseDocumentDeleted
	case rooms.CloseMoved:
		// Reconnect now: another node serves the room.
		return websocket.StatusServiceRestart
	}
	return websocket.StatusNormalClosure
}

func (s *Server) handleYWebsocket(w http.ResponseWriter, r *http.Request) {
	s.serveWS(w, r, r.PathValue("room"), false)
}

// handlePartykit serves YPartyKitProvider, which connects to
// /parties/{party}/{room} (party "main" unless configured otherwise).
// Query parameters such as _pk are accepted and ignored.
// Other parties: see party.go.
func (s *Server) handlePartykit(w http.ResponseWriter, r *http.Request) {
	if s.serveParty(w, r) {
		return
	}
	s.serveWS(w, r, r.PathValue("room"), true)
}

// serveWS upgrades the request and hands the connection to a wsConn,
// counted in conns (Server.Wait waits for it). Returning from the handler
// lets net/http drop its per-request state (buffers, headers, contexts).
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, room string, partykit bool) {
	if err := validRoom(room); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	grant, ok := s.authorize(w, r, room, auth.AccessRead)
	if !ok {
		return
	}
	ip := clientIP(r)
	if !s.countConn(w, room, ip, "room", room) {
		return
	}
	if !s.conns.add() {
		s.count.remove(room, ip)
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.count.remove(room, ip)
		s.conns.done()
		writeError(w, http.StatusInternalServerError, "connection cannot be upgraded")
		return
	}
	// A token with read access, or ?readonly=1 (a client's own choice),
	// makes a viewer connection: it syncs and shows presence, and its
	// document updates are refused with the protocol's permission-denied
	// message.
	ro := r.URL.Query().Get("readonly")
	c := &wsConn{s: s, room: room, ip: ip, user: grant.User, partykit: partykit,
		readOnly: ro == "1" || ro == "true" || grant.Access < auth.AccessWrite,
		limits:   s.newRateLimits()}
	c.p = &peer{c: c, opts: &s.opts, writes: s.writes}
	hw := &hijacker{ResponseWriter: w, hj: hj}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: len(s.opts.OriginPatterns) == 0,
		OriginPatterns:     s.opts.OriginPatterns,
		OnPongReceived:     c.p.onPong,
	})
	if err != nil {
		// Accept has written the HTTP error.
		s.conns.done()
		s.log.Info("websocket upgrade failed", "room", room, "err", err)
		return
	}
	c.ws, c.sc = ws, hw.conn
	s.opts.Metrics.ConnOpened(c.route())
	c.p.start(ws, hw.conn, grant.Expires)
	go c.join()
}

// wsConn is the read side of one WebSocket connection: it joins the room,
// feeds it the frames the client sends, and cleans up when the connection
// ends. Between messages it may be parked (see park_linux.go): then no
// goroutine runs for it until the client sends something.
type wsConn struct {
	s        *Server
	ws       *websocket.Conn
	sc       *sharedConn
	p        *peer
	conn     RoomConn // set by join
	room     string
	ip       string // the client's address, for Limits.ConnsPerIP
	user     string // the token's subject, "" without one
	partykit bool
	readOnly bool
	batch    *yprotocol.Reassembler // y-partykit batches in progress
	limits   rateLimits             // the reader's

	// The reader's: the time of the last message read, and the gap
	// before it (see awaitMore).
	lastMsg time.Time
	gap     time.Duration

	// Guarded by the poller's mutex.
	park       parkState
	parkID     uint64
	registered bool // the socket is in the poller's epoll set
	closed     bool // the connection is closed: park no more
}

func (c *wsConn) join() {
	c.ws.SetReadLimit(c.s.opts.MaxFrameSize)
	conn, err := c.s.join(context.Background(), c.room, c.p, rooms.JoinOptions{ReadOnly: c.readOnly, User: c.user})
	if err != nil {
		c.s.log.Warn("join refused", "room", c.room, "err", err)
		code := closeCode(rooms.CloseUnavailable)
		switch {
		case errors.Is(err, rooms.ErrShuttingDown):
			code = closeCode(rooms.CloseGoingAway)
		case errors.Is(err, rooms.ErrTooManyRooms), errors.Is(err, rooms.ErrTryAgain):
			// Not this room's fault: the client may come back later.
			code = websocket.StatusTryAgainLater
		}
		c.p.closeWith(code, truncateReason(err.Error()))
		c.finish()
		return
	}
	c.conn = conn
	c.serve(false)
}

// serve reads and handles messages until the client has nothing more to
// say for now (the connection is parked, and the goroutine ends) or the
// connection ends. mayPark is false when there is something to read: the
// first time (the bytes the client sent with its handshake are in the
// library's reader, not the socket, where the poller would not see them),
// and when the poller found bytes on the socket.
func (c *wsConn) serve(mayPark bool) {
	for {
		if mayPark && !c.s.poller().awaitMore(c) && c.s.poller().park(c) {
			return
		}
		mayPark = true
		// No cancellable context: Read ties its context to the
		// connection for the call (context.AfterFunc), which would cost
		// every waiting read an entry in that context. Closing the
		// connection ends Read.
		typ, frame, err := c.ws.Read(context.Background())
		if err != nil {
			c.p.readDone()
			c.s.log.Debug("connection ended", "room", c.room, "conn", c.conn.ID(), "err", err)
			c.finish()
			return
		}
		now := time.Now()
		c.gap, c.lastMsg = now.Sub(c.lastMsg), now
		if !c.limits.allow(now, len(frame)) {
			c.s.log.Info("closing connection over its rate limit", "room", c.room, "conn", c.conn.ID(), "ip", c.ip)
			c.s.opts.Metrics.Rejected(metrics.ReasonRate)
			c.p.closeWith(CloseRateLimited, "rate limit exceeded")
			c.finish()
			return
		}
		if c.partykit {
			if typ == websocket.MessageText && isYPSMessage(frame) {
				continue // y-partyserver's custom message: see party.go
			}
			if c.batch == nil {
				c.batch = &yprotocol.Reassembler{MaxSize: int(c.s.opts.MaxFrameSize)}
			}
			msg, ok, err := c.batch.Feed(typ == websocket.MessageText, frame)
			if err != nil {
				c.s.log.Info("closing connection after bad batch", "room", c.room, "conn", c.conn.ID(), "err", err)
				if errors.Is(err, yprotocol.ErrTooLarge) {
					c.p.closeWith(websocket.StatusMessageTooBig, "batch too large")
				} else {
					c.p.closeWith(websocket.StatusInvalidFramePayloadData, "invalid y-pk-batch")
				}
				c.finish()
				return
			}
			if !ok {
				continue
			}
			frame = msg
		} else if typ != websocket.MessageBinary {
			c.s.log.Info("closing connection after a text frame", "room", c.room, "conn", c.conn.ID())
			c.p.closeWith(websocket.StatusUnsupportedData, "binary frames only")
			c.finish()
			return
		}
		if err := c.conn.Receive(context.Background(), frame); err != nil {
			c.finish()
			return
		}
	}
}

// finish ends the connection: it leaves the room, lets the writer close
// the WebSocket after what is queued, and waits for it.
func (c *wsConn) finish() {
	if c.conn != nil {
		c.conn.Leave()
	}
	c.p.Close(0)
	c.p.wait()
	c.s.count.remove(c.room, c.ip)
	c.s.opts.Metrics.ConnClosed(c.route())
	c.s.conns.done()
}

func (c *wsConn) route() metrics.Route {
	if c.partykit {
		return metrics.RoutePartykit
	}
	return metrics.RouteWS
}

// connSet counts the live WebSocket connections, so that shutdown can wait
// for them (http.Server.Shutdown does not).
type connSet struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{}
}

func (c *connSet) init() { c.zero = make(chan struct{}) }

func (c *connSet) add() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.n++
	return true
}

func (c *connSet) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.n == 0 && c.closing {
		close(c.zero)
		c.zero = nil
	}
}

func (c *connSet) wait(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	if c.n == 0 {
		c.mu.Unlock()
		return nil
	}
	zero := c.zero
	c.mu.Unlock()
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// truncateReason shortens a close reason to what a close frame holds (123
// bytes), on a UTF-8 boundary.
func truncateReason(s string) string {
	const max = 123
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
