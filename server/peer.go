package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/rooms"
)

// How frames reach a client
//
// A room fans an update out to every connection from its own goroutine. The
// cheap way to send one small frame to a socket whose kernel buffer has room
// is one non-blocking write syscall, right there: no goroutine to wake, no
// queue, no copy. That is the fast path of (*peer).Send. Only when it
// cannot finish (the socket buffer is full, the frame is large, or another
// write holds the connection) does the rest go to the connection's queue
// and a writer goroutine, which blocks in write with a deadline so that the
// room never does. Before, every frame woke a writer goroutine, and those
// wakeups were a large share of the server's CPU per relayed frame
// (bench/load/README.md).
//
// Two writers share the socket: the peer writes data frames, which it
// frames itself (a server's frames are unmasked: a header and the payload),
// and coder/websocket writes control frames (pong answers from the read
// loop, our pings, the close frame). sharedConn serializes them per frame.

// sharedConn is the hijacked connection under a WebSocket. Every write
// holds mu, so frames never interleave: the library writes each of its
// control frames (at most 125 bytes of payload, buffered in a bufio.Writer
// of writeBufferSize) with one Write call, and the peer holds mu for whole
// frames.
type sharedConn struct {
	net.Conn
	mu  sync.Mutex
	raw syscall.RawConn // for the non-blocking fast path; nil if none
	br  *bufio.Reader   // the library's reader: a connection parks only when it is empty
}

func newSharedConn(c net.Conn) *sharedConn {
	sc := &sharedConn{Conn: c}
	if canTryWrite {
		if s, ok := c.(syscall.Conn); ok {
			if raw, err := s.SyscallConn(); err == nil {
				sc.raw = raw
			}
		}
	}
	return sc
}

// Write is the library's way to the socket.
func (c *sharedConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(b)
}

// writeFrames writes the unsent rest of a frame and a control frame (head
// and ctrl, framed already) and then frames as binary messages, blocking
// for at most timeout. It holds mu throughout, so the library's control
// frames wait for it.
func (c *sharedConn) writeFrames(head, ctrl []byte, frames [][]byte, timeout time.Duration) error {
	bufs := make(net.Buffers, 0, 2+2*len(frames))
	if len(head) > 0 {
		bufs = append(bufs, head)
	}
	if len(ctrl) > 0 {
		bufs = append(bufs, ctrl)
	}
	headers := make([]byte, 0, maxHeaderLen*len(frames))
	for _, f := range frames {
		headers = appendFrameHeader(headers, len(f))
		bufs = append(bufs, headers[len(headers)-frameHeaderLen(len(f)):], f)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := bufs.WriteTo(c.Conn) // writev, as many frames per call as fit
	// The fast path fails at once on an expired deadline: clear it.
	if derr := c.Conn.SetWriteDeadline(time.Time{}); err == nil {
		err = derr
	}
	return err
}

// maxHeaderLen is the longest frame header a server writes: two bytes and
// a 64-bit length (no mask).
const maxHeaderLen = 10

func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// appendFrameHeader appends the header of an unfragmented, unmasked binary
// frame with an n-byte payload (RFC 6455 §5.2).
func appendFrameHeader(b []byte, n int) []byte {
	const finBinary = 0x80 | 0x2
	switch {
	case n < 126:
		return append(b, finBinary, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, finBinary, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, finBinary, 127), uint64(n))
}

// peer is a WebSocket connection as a room sees it (rooms.Peer).
//
// Concurrency: Send and Close are called by the room's goroutine, readDone
// by the read side, keepalive by the ping timer; all of them take mu. A
// writer goroutine runs only while frames are queued (it exits when the
// queue is empty), so an idle connection costs no goroutine of its own.
type peer struct {
	c      *wsConn // the read side, to wake when the connection closes; nil in tests
	ws     *websocket.Conn
	conn   *sharedConn
	opts   *Options   // the server's, shared: an idle connection should be small
	writes *writePool // the server's

	mu      sync.Mutex
	head    []byte   // the unsent rest of a frame the fast path began; guarded by mu
	ctrl    []byte   // a framed ping to write at the next frame boundary; guarded by mu
	queue   [][]byte // frames after head; guarded by mu
	writing bool     // a writer goroutine is running; guarded by mu
	closing bool     // Close was called; guarded by mu
	gone    bool     // the connection is dead: write nothing; guarded by mu
	code    websocket.StatusCode
	reason  string
	ping    *time.Timer // keepalive; guarded by mu; nil once closing
	expiry  *time.Timer // closes the connection when its token expires; guarded by mu
	// pinged: a ping is out and its check is due; pongsAtPing is pongs
	// when it went out (both guarded by mu). pongs counts the pongs that
	// came in. Counting, not clock times: a clock step must not close
	// anyone.
	pinged      bool
	pongsAtPing uint64
	pongs       atomic.Uint64

	tasks sync.WaitGroup // the writer goroutine
}

// pingFrame returns the ping collabd sends: no payload (browsers and ws
// answer any ping with a pong carrying its payload).
func pingFrame() []byte { return []byte{0x89, 0x00} }

// start begins the peer's life on an accepted connection whose token
// expires at expires (zero: never).
func (p *peer) start(ws *websocket.Conn, conn *sharedConn, expires time.Time) {
	p.ws, p.conn = ws, conn
	p.mu.Lock()
	p.ping = time.AfterFunc(p.opts.PingInterval, p.keepalive)
	if !expires.IsZero() {
		p.expiry = time.AfterFunc(time.Until(expires), func() {
			p.opts.Metrics.Rejected(metrics.ReasonExpired)
			p.closeWith(CloseTokenExpired, "token expired")
		})
	}
	p.mu.Unlock()
}

// Send writes a frame at once if the socket takes it without waiting, and
// queues it (or the unwritten rest of it) otherwise; it never blocks. It
// reports false when the queue is full. After Close it reports true and
// drops the frame: the room is already done with the connection.
func (p *peer) Send(frame []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return true
	}
	var hb [maxHeaderLen]byte
	if p.tryWriteLocked(appendFrameHeader(hb[:0], len(frame)), frame) {
		return true
	}
	if len(p.queue) >= p.opts.SendQueue {
		return false
	}
	p.queue = append(p.queue, frame)
	p.startWriterLocked()
	return true
}

// tryWriteLocked is the fast path: when no writer goroutine is running
// and nobody holds the socket, it writes header and payload with one
// non-blocking writev. It reports whether the frame is taken care of
// (written, or its rest handed to the writer goroutine, or the connection
// found dead); false means the caller must queue it.
func (p *peer) tryWriteLocked(hdr, payload []byte) bool {
	if p.writing || p.conn.raw == nil || !p.conn.mu.TryLock() {
		return false
	}
	n, err := p.writes.tryWriteFrame(p.conn.raw, hdr, payload)
	p.conn.mu.Unlock()
	switch {
	case err != nil:
		p.gone = true
		p.closeLocked(websocket.StatusNormalClosure, "")
		return true
	case n == len(hdr)+len(payload):
		return true
	}
	// Part of the frame went out: the rest must follow before anything
	// else.
	if n < len(hdr) {
		p.head = append(bytes.Clone(hdr[n:]), payload...)
	} else {
		p.head = payload[n-len(hdr):]
	}
	p.startWriterLocked()
	return true
}

// keepalive runs on the ping timer. It sends a ping and checks PingTimeout
// later that a pong came since; a peer that stays silent is closed.
func (p *peer) keepalive() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	if p.pinged {
		if p.pongs.Load() == p.pongsAtPing {
			p.closeLocked(websocket.StatusPolicyViolation, "keepalive timeout")
			return
		}
		p.pinged = false
		p.ping.Reset(max(p.opts.PingInterval-p.opts.PingTimeout, p.opts.PingInterval/4))
		return
	}
	p.pinged, p.pongsAtPing = true, p.pongs.Load()
	if ping := pingFrame(); !p.tryWriteLocked(ping, nil) {
		p.ctrl = ping
		p.startWriterLocked()
	}
	p.ping.Reset(p.opts.PingTimeout)
}

// pong records a pong from the client: the poller's (parked connections)
// or the library's (onPong).
func (p *peer) pong() { p.pongs.Add(1) }

func (p *peer) onPong(context.Context, []byte) { p.pong() }

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
	p.closeLocked(code, reason)
}

func (p *peer) closeLocked(code websocket.StatusCode, reason string) {
	if p.closing {
		return
	}
	p.closing = true
	p.code, p.reason = code, reason
	if p.ping != nil {
		p.ping.Stop()
		p.ping = nil
	}
	if p.expiry != nil {
		p.expiry.Stop()
		p.expiry = nil
	}
	p.startWriterLocked()
}

// readDone records that the read side ended because the connection died:
// nothing more is written, and closing it needs no handshake.
func (p *peer) readDone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	p.closeLocked(websocket.StatusNormalClosure, "")
}

func (p *peer) startWriterLocked() {
	if !p.writing {
		p.writing = true
		p.tasks.Go(p.writeLoop)
	}
}

// quiet reports whether the read side may park: the connection is not
// closing (the close handshake reads the connection from the writer
// goroutine) and the library's reader holds no bytes. Holding mu keeps the
// handshake from starting during the check.
func (p *peer) quiet() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closing && p.conn.br.Buffered() == 0
}

// awaitingPong reports whether a ping is unanswered and the connection
// open.
func (p *peer) awaitingPong() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closing && p.pinged && p.pongs.Load() == p.pongsAtPing
}

// wait waits for the writer goroutine to end.
func (p *peer) wait() { p.tasks.Wait() }

// writeLoop writes what is queued until the queue is empty; when the peer
// is closing and everything is written, it closes the connection.
func (p *peer) writeLoop() {
	for {
		p.mu.Lock()
		head, ctrl, batch := p.head, p.ctrl, p.queue
		p.head, p.ctrl, p.queue = nil, nil, nil
		if head == nil && ctrl == nil && len(batch) == 0 {
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
				// library's timeout) and ends the read side's Read.
				_ = p.ws.Close(code, reason)
			}
			if p.c != nil {
				p.c.s.poller().unpark(p.c)
			}
			return // writing stays true: nobody writes after the close
		}
		gone := p.gone
		p.mu.Unlock()
		if gone {
			continue
		}
		if err := p.conn.writeFrames(head, ctrl, batch, p.opts.WriteTimeout); err != nil {
			p.mu.Lock()
			p.gone = true
			p.closeLocked(websocket.StatusNormalClosure, "")
			p.mu.Unlock()
		}
	}
}

// hijacker wraps a ResponseWriter for websocket.Accept: the hijacked
// connection becomes a sharedConn (kept in conn, for the peer), with small
// read and write buffers instead of net/http's 4 KiB each (an idle
// connection keeps them for its whole life). Large frames bypass bufio
// buffers anyway.
type hijacker struct {
	http.ResponseWriter
	hj   http.Hijacker
	conn *sharedConn // set by Hijack
}

// The library's buffers. Reads: headers and small frames come through
// the buffer, payloads larger than it go straight to their destination.
// Writes: the library writes only control frames (peer frames its data
// itself), at most 2 + 125 bytes, and each must leave in one Write call (see
// sharedConn): the buffer holds a whole one.
const (
	readBufferSize  = 256
	writeBufferSize = 128
)

func (s *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
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
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), c), max(readBufferSize, n))
	if n > 0 {
		if _, err := br.Peek(n); err != nil { // fills from the copy alone
			c.Close()
			return nil, nil, err
		}
	}
	s.conn = newSharedConn(c)
	s.conn.br = br
	return s.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(s.conn, writeBufferSize)), nil
}

// Flush forwards to the wrapped writer, if it can.
func (s *hijacker) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
