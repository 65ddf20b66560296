package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
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

// serveWS upgrades the request and hands the connection to its own
// goroutine, owned by the Server (counted in conns, waited for by Wait).
// Returning from the handler lets net/http drop its per-request state
// (buffers, headers, contexts): an idle connection then costs its read
// loop and the WebSocket library's state only.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, room string, partykit bool) {
	if err := validRoom(room); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !s.conns.add() {
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	ws, err := websocket.Accept(smallBuffers(w), r, &websocket.AcceptOptions{
		InsecureSkipVerify: len(s.opts.OriginPatterns) == 0,
		OriginPatterns:     s.opts.OriginPatterns,
	})
	if err != nil {
		// Accept has written the HTTP error.
		s.conns.done()
		s.log.Info("websocket upgrade failed", "room", room, "err", err)
		return
	}
	// ?readonly=1 asks for a viewer connection: it syncs and shows
	// presence, and its document updates are refused with the protocol's
	// permission-denied message. (A client's own choice, not access
	// control: collabd has no authentication.)
	ro := r.URL.Query().Get("readonly")
	go s.runConn(ws, room, partykit, ro == "1" || ro == "true")
}

// runConn is a connection's read loop: it joins the room, feeds it the
// frames the client sends, and cleans up when the connection ends.
func (s *Server) runConn(ws *websocket.Conn, room string, partykit, readOnly bool) {
	defer s.conns.done()
	ws.SetReadLimit(s.opts.MaxFrameSize)
	// The connection's lifetime context, cancelled when the read loop ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newPeer(ctx, ws, s.opts)
	// The read loop owns the connection: when it ends, the writer and the
	// pinger are told to stop and waited for.
	defer p.wait()
	defer p.Close(0)

	log := s.log.With("room", room)
	conn, err := s.reg.Join(ctx, room, p, readOnly)
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
			p.readDone()
			log.Debug("connection ended", "err", err)
			return
		}
		if partykit {
			msg, ok, err := batch.Feed(typ == websocket.MessageText, frame)
			if err != nil {
				log.Info("closing connection after bad batch", "err", err)
				if errors.Is(err, yprotocol.ErrTooLarge) {
					p.closeWith(websocket.StatusMessageTooBig, "batch too large")
				} else {
					p.closeWith(websocket.StatusInvalidFramePayloadData, "invalid y-pk-batch")
				}
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
//
// An idle connection costs little: no goroutine but the read loop. A
// writer goroutine runs only while frames are queued (it is the only
// writer; it exits when the queue is empty), and keepalive pings run from
// a timer, each on a short-lived goroutine (Ping waits for the pong).
type peer struct {
	ctx  context.Context // the connection's lifetime
	ws   *websocket.Conn
	opts Options

	mu      sync.Mutex
	queue   [][]byte // guarded by mu
	writing bool     // a writer goroutine is running; guarded by mu
	closing bool     // Close was called; guarded by mu
	gone    bool     // the connection is dead: write nothing; guarded by mu
	code    websocket.StatusCode
	reason  string
	ping    *time.Timer // guarded by mu; nil once closing

	tasks sync.WaitGroup // the writer and pinger goroutines
}

func newPeer(ctx context.Context, ws *websocket.Conn, opts Options) *peer {
	p := &peer{ctx: ctx, ws: ws, opts: opts}
	p.ping = time.AfterFunc(opts.PingInterval, p.sendPing)
	return p
}

// Send queues a frame; it never blocks. After Close it reports true and
// drops the frame: the room is already done with the connection.
func (p *peer) Send(frame []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return true
	}
	if len(p.queue) >= p.opts.SendQueue {
		return false
	}
	p.queue = append(p.queue, frame)
	p.startWriterLocked()
	return true
}

// Close asks the writer to close the connection with the code for reason
// (0: a normal closure) once it has written what is queued.
func (p *peer) Close(reason rooms.CloseReason) {
	code := websocket.StatusNormalClosure
	msg := ""
	if reason != 0 {
		code, msg = closeCode(reason), reason.String()
	}
	p.closeWith(code, msg)
}

func (p *peer) closeWith(code websocket.StatusCode, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	p.closing = true
	p.code, p.reason = code, reason
	if p.ping != nil {
		p.ping.Stop()
		p.ping = nil
	}
	p.startWriterLocked()
}

// readDone records that the read loop ended because the connection died:
// nothing more is written, and closing it needs no handshake.
func (p *peer) readDone() {
	p.mu.Lock()
	p.gone = true
	p.mu.Unlock()
	p.closeWith(websocket.StatusNormalClosure, "")
}

func (p *peer) startWriterLocked() {
	if !p.writing {
		p.writing = true
		p.tasks.Go(p.writeLoop)
	}
}

// wait waits for the writer and pinger goroutines to end.
func (p *peer) wait() { p.tasks.Wait() }

// writeLoop writes queued frames until the queue is empty; when the peer
// is closing and everything is written, it closes the connection.
func (p *peer) writeLoop() {
	for {
		p.mu.Lock()
		batch := p.queue
		p.queue = nil
		if len(batch) == 0 {
			if !p.closing {
				p.writing = false
				p.mu.Unlock()
				return
			}
			gone, code, reason := p.gone, p.code, p.reason
			p.mu.Unlock()
			if gone {
				p.ws.CloseNow()
			} else {
				// Close performs the closing handshake (bounded by the
				// library's timeout) and ends the read loop's Read.
				_ = p.ws.Close(code, reason)
			}
			return // writing stays true: nobody writes after the close
		}
		gone := p.gone
		p.mu.Unlock()
		for i, frame := range batch {
			batch[i] = nil
			if gone {
				continue
			}
			ctx, cancel := context.WithTimeout(p.ctx, p.opts.WriteTimeout)
			err := p.ws.Write(ctx, websocket.MessageBinary, frame)
			cancel()
			if err != nil {
				p.mu.Lock()
				p.gone = true
				p.mu.Unlock()
				gone = true
				p.closeWith(websocket.StatusNormalClosure, "")
			}
		}
	}
}

// sendPing runs on the ping timer: it pings on its own goroutine and
// re-arms the timer, or closes a peer that did not answer.
func (p *peer) sendPing() {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	p.tasks.Add(1)
	p.mu.Unlock()
	defer p.tasks.Done()
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.PingTimeout)
	defer cancel()
	if err := p.ws.Ping(ctx); err != nil {
		if p.ctx.Err() == nil {
			p.closeWith(websocket.StatusPolicyViolation, "keepalive timeout")
		}
		return
	}
	p.mu.Lock()
	if p.ping != nil {
		p.ping.Reset(p.opts.PingInterval)
	}
	p.mu.Unlock()
}

// smallBuffers wraps a ResponseWriter so that the hijacked connection
// gets small read and write buffers instead of net/http's 4 KiB each: an
// idle WebSocket connection then holds about 1 KiB of buffers. Large frames
// bypass bufio buffers anyway.
func smallBuffers(w http.ResponseWriter) http.ResponseWriter {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return w
	}
	return &smallHijacker{ResponseWriter: w, hj: hj}
}

const hijackBufferSize = 512

type smallHijacker struct {
	http.ResponseWriter
	hj http.Hijacker
}

func (s *smallHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := s.hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	// Bytes the client sent right after its request (its first frames)
	// must stay buffered in the new reader: the WebSocket library takes
	// what the reader has buffered and then reads the connection itself.
	n := brw.Reader.Buffered()
	b, _ := brw.Reader.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), c), max(hijackBufferSize, n))
	if n > 0 {
		if _, err := br.Peek(n); err != nil { // fills from the copy alone
			c.Close()
			return nil, nil, err
		}
	}
	return c, bufio.NewReadWriter(br, bufio.NewWriterSize(c, hijackBufferSize)), nil
}

// Flush forwards to the wrapped writer, if it can.
func (s *smallHijacker) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
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
