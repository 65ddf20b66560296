package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

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
	}
	return websocket.StatusNormalClosure
}

func (s *Server) handleYWebsocket(w http.ResponseWriter, r *http.Request) {
	s.serveWS(w, r, r.PathValue("room"), false)
}

// handlePartykit serves YPartyKitProvider, which connects to
// /parties/{party}/{room} (party "main" unless configured otherwise).
// Query parameters such as _pk are accepted and ignored.
func (s *Server) handlePartykit(w http.ResponseWriter, r *http.Request) {
	if party := r.PathValue("party"); party != "main" {
		writeError(w, http.StatusNotFound, "unknown party "+party+" (collabd serves the Yjs party \"main\")")
		return
	}
	s.serveWS(w, r, r.PathValue("room"), true)
}

// serveWS upgrades the request and runs the connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, room string, partykit bool) {
	if err := validRoom(room); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !s.conns.add() {
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	defer s.conns.done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: len(s.opts.OriginPatterns) == 0,
		OriginPatterns:     s.opts.OriginPatterns,
	})
	if err != nil {
		// Accept has written the HTTP error.
		s.log.Info("websocket upgrade failed", "room", room, "err", err)
		return
	}
	ws.SetReadLimit(s.opts.MaxFrameSize)
	// r.Context() must not be used after the upgrade: the connection's
	// lifetime context is this one, cancelled when the read loop ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &peer{
		ws:     ws,
		queue:  make(chan []byte, s.opts.SendQueue),
		closed: make(chan struct{}),
	}
	var pumps sync.WaitGroup
	pumps.Go(func() { p.writePump(ctx, s.opts) })
	defer pumps.Wait()
	defer p.Close(0) // ends the write pump, which sends the close frame

	log := s.log.With("room", room)
	conn, err := s.reg.Join(ctx, room, p, false)
	if err != nil {
		log.Warn("join refused", "err", err)
		reason := rooms.CloseUnavailable
		if errors.Is(err, rooms.ErrShuttingDown) {
			reason = rooms.CloseGoingAway
		}
		p.closeWith(closeCode(reason), err.Error())
		return
	}
	defer conn.Leave()
	log = log.With("conn", conn.ID())

	var batch yprotocol.Reassembler
	batch.MaxSize = int(s.opts.MaxFrameSize)
	for {
		typ, frame, err := ws.Read(ctx)
		if err != nil {
			p.readDone(err)
			log.Debug("connection ended", "err", err)
			return
		}
		if partykit {
			msg, ok, err := batch.Feed(typ == websocket.MessageText, frame)
			if err != nil {
				log.Info("closing connection after bad batch", "err", err)
				p.closeWith(websocket.StatusInvalidFramePayloadData, "invalid y-pk-batch")
				return
			}
			if !ok {
				continue
			}
			frame = msg
		} else if typ != websocket.MessageBinary {
			log.Info("closing connection after a text frame")
			p.closeWith(websocket.StatusUnsupportedData, "binary frames only")
			return
		}
		if err := conn.Receive(ctx, frame); err != nil {
			return
		}
	}
}

// peer is a WebSocket connection as a room sees it (rooms.Peer).
type peer struct {
	ws    *websocket.Conn
	queue chan []byte

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: the write pump sends the close frame
	code      websocket.StatusCode
	reason    string
	gone      atomic.Bool // the connection is dead: nothing more to write
}

// Send queues a frame; it never blocks. After Close it reports true and
// drops the frame: the room is already done with the connection.
func (p *peer) Send(frame []byte) bool {
	select {
	case <-p.closed:
		return true
	default:
	}
	select {
	case p.queue <- frame:
		return true
	default:
		return false
	}
}

// Close asks the write pump to close the connection with the code for
// reason (0: a normal closure).
func (p *peer) Close(reason rooms.CloseReason) {
	code := websocket.StatusNormalClosure
	msg := ""
	if reason != 0 {
		code, msg = closeCode(reason), reason.String()
	}
	p.closeWith(code, msg)
}

func (p *peer) closeWith(code websocket.StatusCode, reason string) {
	p.closeOnce.Do(func() {
		p.code, p.reason = code, reason
		close(p.closed)
	})
}

// readDone records that the read loop ended because the connection died.
func (p *peer) readDone(error) {
	p.gone.Store(true)
	p.closeWith(websocket.StatusNormalClosure, "")
}

// writePump is the connection's only writer.
func (p *peer) writePump(ctx context.Context, opts Options) {
	ping := time.NewTicker(opts.PingInterval)
	defer ping.Stop()
	// Pings run on their own goroutine (Ping waits for the pong); it ends
	// with the pump.
	pingCtx, stopPing := context.WithCancel(ctx)
	var pinger sync.WaitGroup
	defer pinger.Wait()
	defer stopPing()
	pinging := atomic.Bool{}
	write := func(frame []byte) bool {
		wctx, cancel := context.WithTimeout(ctx, opts.WriteTimeout)
		defer cancel()
		if err := p.ws.Write(wctx, websocket.MessageBinary, frame); err != nil {
			p.gone.Store(true)
			p.closeWith(websocket.StatusNormalClosure, "")
			return false
		}
		return true
	}
	for {
		select {
		case frame := <-p.queue:
			if !write(frame) {
				p.ws.CloseNow()
				return
			}
		case <-ping.C:
			// Ping waits for the pong, which the read loop receives; run it
			// aside so that writes go on meanwhile.
			if pinging.Swap(true) {
				continue
			}
			pinger.Go(func() {
				defer pinging.Store(false)
				pctx, cancel := context.WithTimeout(pingCtx, opts.PingTimeout)
				defer cancel()
				if err := p.ws.Ping(pctx); err != nil && pingCtx.Err() == nil {
					p.closeWith(websocket.StatusPolicyViolation, "keepalive timeout")
				}
			})
		case <-p.closed:
			if p.gone.Load() {
				p.ws.CloseNow()
				return
			}
			// Drain what the room queued before it closed us, then say why.
			for {
				select {
				case frame := <-p.queue:
					if !write(frame) {
						p.ws.CloseNow()
						return
					}
					continue
				default:
				}
				break
			}
			// Close performs the closing handshake (bounded by the library's
			// own timeout) and ends the read loop's Read.
			_ = p.ws.Close(p.code, p.reason)
			return
		}
	}
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
