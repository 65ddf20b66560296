package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/party"
)

// Parties (package party) at /parties/{party}/{room}: a WebSocket upgrade
// joins the room of a registered party, any other request is the party's
// OnRequest. The Yjs parties ("main", and those declared with
// party.Registry.RegisterYjs) are served as the room's document (ws.go).
//
// The same checks as /ws apply before anything reaches a party: the room
// name, the token (read access to connect or GET, write access for other
// methods; a read-only connection is the party's to restrict, see
// party.ConnInfo.ReadOnly), connections per room (counted per party room)
// and per address, and each connection's message and byte rate (4429).
//
// A party connection is simpler than a Yjs one: one goroutine reads, one
// writes what the room queues (bounded by Options.SendQueue; a full queue
// closes the connection with 1013), and one pings. Party traffic is chat
// and votes, not keystrokes, so it does without the parking and the
// non-blocking fast path of the Yjs connections.

// maxConnID bounds partysocket's _pk (a UUID by default).
const maxConnID = 128

// serveParty returns false for a Yjs party (the caller serves its
// document) and serves the others: a registered party, or 404 for a name
// that nothing serves.
func (s *Server) serveParty(w http.ResponseWriter, r *http.Request) bool {
	name := r.PathValue("party")
	kind := party.KindNone
	if s.opts.Parties != nil {
		kind = s.opts.Parties.Lookup(name)
	} else if name == party.MainParty {
		kind = party.KindYjs
	}
	switch kind {
	case party.KindYjs:
		return false
	case party.KindNone:
		writeError(w, http.StatusNotFound, "unknown party "+name)
		return true
	}
	room := r.PathValue("room")
	if err := validRoom(room); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return true
	}
	if r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.acceptParty(w, r, name, room)
	} else {
		s.partyRequest(w, r, name, room)
	}
	return true
}

// handlePartyRequest serves the methods other than GET.
func (s *Server) handlePartyRequest(w http.ResponseWriter, r *http.Request) {
	if !s.serveParty(w, r) {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "the Yjs party takes WebSocket connections only")
	}
}

func (s *Server) partyRequest(w http.ResponseWriter, r *http.Request, name, room string) {
	need := auth.AccessWrite
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		need = auth.AccessRead
	}
	grant, ok := s.authorize(w, r, room, need)
	if !ok {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	resp, err := s.opts.Parties.Request(ctx, name, room, &party.Request{
		Method: r.Method, URL: r.URL, Header: textproto.MIMEHeader(r.Header.Clone()), Body: body,
		User: grant.User, ReadOnly: grant.Access < auth.AccessWrite,
	})
	switch {
	case errors.Is(err, party.ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	case errors.Is(err, party.ErrTooManyRooms):
		retryAfter(w, 10*time.Second)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		s.log.Warn("party request failed", "party", name, "room", room, "err", err)
		writeError(w, http.StatusInternalServerError, "the party could not answer")
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

func (s *Server) acceptParty(w http.ResponseWriter, r *http.Request, name, room string) {
	grant, ok := s.authorize(w, r, room, auth.AccessRead)
	if !ok {
		return
	}
	countKey := "/parties/" + name + "/" + room
	ip := clientIP(r)
	if !s.countConn(w, countKey, ip, "party", name, "room", room) {
		return
	}
	if !s.conns.add() {
		s.count.remove(countKey, ip)
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: len(s.opts.OriginPatterns) == 0,
		OriginPatterns:     s.opts.OriginPatterns,
	})
	if err != nil {
		s.count.remove(countKey, ip)
		s.conns.done()
		s.log.Info("websocket upgrade failed", "party", name, "room", room, "err", err)
		return
	}
	ws.SetReadLimit(s.opts.MaxFrameSize)
	id := r.URL.Query().Get("_pk")
	if id == "" || len(id) > maxConnID || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		id = newConnID()
	}
	ro := r.URL.Query().Get("readonly")
	info := party.ConnInfo{
		ID: id, URL: r.URL, Header: textproto.MIMEHeader(r.Header.Clone()), User: grant.User,
		ReadOnly:   ro == "1" || ro == "true" || grant.Access < auth.AccessWrite,
		RemoteAddr: r.RemoteAddr,
	}
	pc := &partyConn{s: s, ws: ws, wake: make(chan struct{}, 1), limits: s.newRateLimits(),
		log: s.log.With("party", name, "room", room, "conn", id)}
	sess, err := s.opts.Parties.Connect(name, room, pc, info)
	if err != nil {
		code := websocket.StatusInternalError
		switch {
		case errors.Is(err, party.ErrShuttingDown):
			code = websocket.StatusGoingAway
		case errors.Is(err, party.ErrTooManyRooms):
			s.opts.Metrics.Rejected(metrics.ReasonRoomLimit)
			code = websocket.StatusTryAgainLater
		}
		go func() { _ = ws.Close(code, truncateReason(err.Error())) }()
		s.count.remove(countKey, ip)
		s.conns.done()
		return
	}
	pc.sess = sess
	pc.start(grant.Expires)
	go func() {
		pc.read()
		pc.wg.Wait()
		s.count.remove(countKey, ip)
		s.conns.done()
	}()
}

func newConnID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// partyConn is a party connection: party.Peer for its room, and the reader
// that feeds the room.
type partyConn struct {
	s      *Server
	ws     *websocket.Conn
	sess   *party.Session
	log    interface{ Info(string, ...any) }
	limits rateLimits // the reader's

	mu      sync.Mutex
	queue   []party.Message // guarded by mu
	closing bool            // guarded by mu
	code    websocket.StatusCode
	reason  string
	wake    chan struct{} // the writer's: something is queued, or closing

	stop chan struct{} // closed when the reader ends: the writer and pinger stop
	wg   sync.WaitGroup
}

// Send implements party.Peer; it never blocks.
func (c *partyConn) Send(m party.Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return true
	}
	if len(c.queue) >= c.s.opts.SendQueue {
		return false
	}
	c.queue = append(c.queue, m)
	c.signal()
	return true
}

// Close implements party.Peer.
func (c *partyConn) Close(code int, reason string) {
	c.closeWith(websocket.StatusCode(code), reason)
}

func (c *partyConn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing, c.code, c.reason = true, code, truncateReason(reason)
	c.signal()
}

func (c *partyConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *partyConn) start(expires time.Time) {
	c.stop = make(chan struct{})
	c.wg.Add(2)
	go c.write()
	go c.keepalive(expires)
}

// write is the connection's writer: it writes what is queued, and closes
// the connection once closing and drained.
func (c *partyConn) write() {
	defer c.wg.Done()
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		for {
			c.mu.Lock()
			batch := c.queue
			c.queue = nil
			closing, code, reason := c.closing, c.code, c.reason
			c.mu.Unlock()
			if len(batch) == 0 {
				if closing {
					_ = c.ws.Close(code, reason) // ends the reader's Read
					return
				}
				break
			}
			for _, m := range batch {
				typ := websocket.MessageText
				if m.Binary {
					typ = websocket.MessageBinary
				}
				ctx, cancel := context.WithTimeout(context.Background(), c.s.opts.WriteTimeout)
				err := c.ws.Write(ctx, typ, m.Data)
				cancel()
				if err != nil {
					c.ws.CloseNow()
					return
				}
			}
		}
	}
}

// keepalive pings every PingInterval, closes a peer that does not answer
// within PingTimeout, and closes the connection when its token expires.
func (c *partyConn) keepalive(expires time.Time) {
	defer c.wg.Done()
	tick := time.NewTicker(c.s.opts.PingInterval)
	defer tick.Stop()
	var expiry <-chan time.Time
	if !expires.IsZero() {
		t := time.NewTimer(time.Until(expires))
		defer t.Stop()
		expiry = t.C
	}
	for {
		select {
		case <-c.stop:
			return
		case <-expiry:
			c.s.opts.Metrics.Rejected(metrics.ReasonExpired)
			c.closeWith(CloseTokenExpired, "token expired")
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.s.opts.PingTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.closeWith(websocket.StatusPolicyViolation, "keepalive timeout")
			}
		}
	}
}

// read feeds the room until the connection ends, then leaves it.
func (c *partyConn) read() {
	defer func() {
		close(c.stop)
		c.sess.Leave()
		c.ws.CloseNow()
	}()
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			if strings.Contains(err.Error(), "read limited") {
				// The library has closed it with 1009.
				c.sess.Error(err)
			}
			return
		}
		if !c.limits.allow(time.Now(), len(data)) {
			c.log.Info("closing connection over its rate limit")
			c.s.opts.Metrics.Rejected(metrics.ReasonRate)
			c.sess.Error(errors.New("rate limit exceeded"))
			c.closeWith(CloseRateLimited, "rate limit exceeded")
			c.drain()
			return
		}
		c.sess.Receive(party.Message{Data: data, Binary: typ == websocket.MessageBinary})
	}
}

// drain waits, bounded, for the writer to send the close frame, reading
// (and dropping) what the client still sends, as the close handshake
// needs.
func (c *partyConn) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.ws.Read(ctx); err != nil {
			return
		}
	}
}

// countConn counts a connection of ip to the room counted as key, or
// answers 429 when a limit is reached (logging args).
func (s *Server) countConn(w http.ResponseWriter, key, ip string, args ...any) bool {
	err := s.count.add(key, ip, s.opts.Limits)
	if err == nil {
		return true
	}
	s.log.Info("connection refused", append(args, "ip", ip, "err", err)...)
	if errors.Is(err, errRoomFull) {
		s.opts.Metrics.Rejected(metrics.ReasonRoomFull)
	} else {
		s.opts.Metrics.Rejected(metrics.ReasonIPLimit)
	}
	retryAfter(w, 10*time.Second)
	writeError(w, http.StatusTooManyRequests, err.Error())
	return false
}

// readBody reads a REST request body within BodyTimeout and MaxBodySize,
// or answers 413 or 400.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	// A client that trickles its body must not hold a goroutine forever.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.opts.Metrics.Rejected(metrics.ReasonSize)
			writeError(w, http.StatusRequestEntityTooLarge, "body larger than the body size limit ("+strconv.FormatInt(s.opts.MaxBodySize, 10)+" bytes)")
		} else {
			writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// isYPSMessage reports whether a text frame on a Yjs party is a custom
// message of y-partyserver's YProvider (provider.sendMessage sends
// "__YPS:" and the message). Its server class hands those to
// onCustomMessage, which does nothing unless the app overrides it;
// collabd's Yjs parties have no such hook, so they are dropped, and the
// connection carries on with its document.
func isYPSMessage(frame []byte) bool { return bytes.HasPrefix(frame, []byte("__YPS:")) }
