package server

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Parking idle connections
//
// A goroutine blocked in a read costs a 4 KiB stack (the WebSocket
// library's read path is too deep for the initial 2 KiB) and holds the
// library's per-read state; with thousands of connections that mostly sit
// idle, that is most of the server's memory. So a connection whose client
// has nothing more to say is parked: its read goroutine registers the
// socket with the poller's epoll instance (one-shot) and exits. When the
// socket becomes readable the poller starts a new read goroutine.
//
// Keepalive would defeat this if every pong woke a goroutine that then
// blocked inside the library's Read waiting for the next message. The
// poller therefore takes pongs off a parked socket itself: it peeks at what
// arrived, and if it is nothing but whole pong frames (clients mask them:
// 0x8A, a masked length up to 125, the key, the payload) it consumes them,
// records the pong and leaves the connection parked. Anything else goes to
// the library, whole.
//
// A parked connection's socket has nothing buffered in the library (the
// read goroutine parks only when its bufio.Reader is empty, between
// messages), so the library's view of the stream is intact.

// poller watches parked connections. Its fields are guarded by mu, and so
// are the park fields of every wsConn.
type poller struct {
	log       *slog.Logger
	epfd      int // -1: parking disabled
	stop      int // eventfd that ends run
	closeOnce sync.Once

	pongs atomic.Int64 // pongs taken off parked sockets, for tests
	parks atomic.Int64 // connections parked, for tests

	mu     sync.Mutex
	parked map[uint64]*wsConn // by parkID, while waiting in epoll
	nextID uint64
	broken bool // epoll_wait failed: park no more
	done   chan struct{}
}

// parkState is a connection's place in the poller (guarded by poller.mu).
type parkState uint8

const (
	running parkState = iota // a read goroutine owns the connection
	parked                   // in epoll; no goroutine
	polling                  // the poller is looking at its bytes
)

func newPoller(log *slog.Logger) *poller {
	pl := &poller{log: log, epfd: -1, parked: make(map[uint64]*wsConn), done: make(chan struct{})}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		log.Warn("idle connections will not be parked", "err", err)
		close(pl.done)
		return pl
	}
	r, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(epfd)
		log.Warn("idle connections will not be parked", "err", errno)
		close(pl.done)
		return pl
	}
	pl.epfd, pl.stop = epfd, int(r)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // parkID 0: stop
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pl.stop, &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pl.stop)
		pl.epfd = -1
		log.Warn("idle connections will not be parked", "err", err)
		close(pl.done)
		return pl
	}
	go pl.run()
	return pl
}

// close stops the poller once no connection is left (Server.Wait).
func (pl *poller) close() {
	if pl.epfd < 0 {
		return
	}
	pl.closeOnce.Do(func() {
		one := [8]byte{1}
		_, _ = syscall.Write(pl.stop, one[:])
		<-pl.done
	})
}

func (pl *poller) run() {
	defer close(pl.done)
	defer syscall.Close(pl.stop)
	defer syscall.Close(pl.epfd)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(pl.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			pl.log.Error("epoll_wait failed: parked connections are woken", "err", err)
			pl.wakeAll()
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				return
			}
			pl.wake(id)
		}
	}
}

// park hands c's socket to the poller; on true the caller's goroutine must
// end (the poller starts another when there is something to read). It
// reports false when c cannot be parked: its reader holds buffered bytes,
// or the connection is closing.
func (pl *poller) park(c *wsConn) bool {
	if pl.epfd < 0 || c.sc.raw == nil || !c.p.quiet() {
		return false
	}
	pl.mu.Lock()
	if c.closed || pl.broken {
		pl.mu.Unlock()
		return false
	}
	if c.parkID == 0 {
		pl.nextID++
		c.parkID = pl.nextID
	}
	c.park = parked
	pl.parked[c.parkID] = c
	op := syscall.EPOLL_CTL_MOD
	if !c.registered {
		op, c.registered = syscall.EPOLL_CTL_ADD, true
	}
	pl.mu.Unlock()
	if pl.arm(c, op) {
		pl.parks.Add(1)
		return true
	}
	// Take it back, unless the poller or a close already has.
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if op == syscall.EPOLL_CTL_ADD {
		c.registered = false
	}
	if c.park != parked {
		return true // someone else starts its goroutine
	}
	delete(pl.parked, c.parkID)
	c.park = running
	return false
}

// arm registers c's socket (op ADD) or re-enables it (MOD) for one
// readiness event.
func (pl *poller) arm(c *wsConn, op int) bool {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(c.parkID)),
		Pad:    int32(uint32(c.parkID >> 32)),
	}
	var err error
	cerr := c.sc.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(pl.epfd, op, int(fd), &ev)
	})
	return cerr == nil && err == nil
}

// wake handles a readiness event of a parked connection.
func (pl *poller) wake(id uint64) {
	pl.mu.Lock()
	c := pl.parked[id]
	if c == nil {
		pl.mu.Unlock()
		return
	}
	delete(pl.parked, id)
	c.park = polling
	pl.mu.Unlock()

	// Only a connection waiting for a pong may have one on its socket
	// (peeking costs a syscall per wakeup otherwise), and a closing
	// connection's handshake reads the socket: leave that alone.
	onlyPongs := c.p.awaitingPong() && pl.takePongs(c)

	pl.mu.Lock()
	if onlyPongs && !c.closed {
		c.park = parked
		pl.parked[id] = c
		pl.mu.Unlock()
		if pl.arm(c, syscall.EPOLL_CTL_MOD) {
			return
		}
		pl.mu.Lock()
		if c.park != parked {
			pl.mu.Unlock()
			return
		}
		delete(pl.parked, id)
	}
	c.park = running
	pl.mu.Unlock()
	go c.serve(false)
}

// unpark is called once c's connection is closed: a parked connection
// gets its goroutine back to clean up (a closed socket sends no more
// events).
func (pl *poller) unpark(c *wsConn) {
	pl.mu.Lock()
	c.closed = true
	if c.park != parked {
		pl.mu.Unlock()
		return // running: its Read fails; polling: wake sees closed
	}
	delete(pl.parked, c.parkID)
	c.park = running
	pl.mu.Unlock()
	go c.serve(false)
}

func (pl *poller) wakeAll() {
	pl.mu.Lock()
	cs := make([]*wsConn, 0, len(pl.parked))
	for id, c := range pl.parked {
		delete(pl.parked, id)
		c.park = running
		cs = append(cs, c)
	}
	pl.broken = true
	pl.mu.Unlock()
	for _, c := range cs {
		go c.serve(false)
	}
}

// maxPongFrame is the longest pong a client sends: 2 header bytes, the
// 4-byte mask and 125 bytes of payload.
const maxPongFrame = 2 + 4 + 125

// takePongs consumes the whole pong frames waiting on c's socket and
// reports whether that was all there was (the connection stays parked).
func (pl *poller) takePongs(c *wsConn) bool {
	only := false
	err := c.sc.raw.Control(func(fd uintptr) {
		only = pl.nothingToRead(c, int(fd), true)
	})
	return err == nil && only
}

// nothingToRead reports whether c's socket fd holds nothing for the reader:
// no bytes at all or, when pongs is true, only whole pong frames, which it
// consumes. An error or the end of the stream is for the reader to see.
func (pl *poller) nothingToRead(c *wsConn, fd int, pongs bool) bool {
	var buf [2 * maxPongFrame]byte
	n, _, err := syscall.Recvfrom(fd, buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == syscall.EAGAIN:
		return true
	case err != nil || n <= 0 || !pongs:
		return false
	}
	k := pongPrefix(buf[:n])
	if k == 0 {
		return false
	}
	// Consume exactly the pongs; what follows stays for the reader.
	m, _, err := syscall.Recvfrom(fd, buf[:k], syscall.MSG_DONTWAIT)
	if err != nil || m != k {
		return false // cannot happen with the bytes peeked; let the reader look
	}
	c.p.pong()
	pl.pongs.Add(1)
	return k == n && n < len(buf)
}

// Busy connections wait with their goroutine
//
// Parking a connection and waking it again costs an epoll_ctl, a wakeup of
// the poller's thread and a new goroutine: measured as 14% of the server's
// CPU with 100 rooms of 5 clients (one writer in each at 20 updates/s), and
// 0.05 ms of median fan-out latency, against never parking. Go's own
// netpoller wakes a goroutine blocked on a socket for less. So a
// connection whose last two messages came close together (under
// maxBusyWait/busyFactor) waits for the next one with the goroutine it
// has, for busyFactor times that gap, and parks only when the pause
// outlasts it. A client typing or drawing stays awake; one that went quiet
// parks within a second; the burst of messages every client sends on
// connect (gaps well under minBusyWait/busyFactor) does not count.
const (
	maxBusyWait = time.Second
	minBusyWait = time.Millisecond
	busyFactor  = 4 // wait this many times the last gap
)

// awaitMore waits for c's next bytes while c is busy (see above) and
// reports whether the reader should read rather than park: bytes came, or
// the connection broke. On false, c has been quiet for a while, or is not
// busy.
func (pl *poller) awaitMore(c *wsConn) bool {
	if pl.epfd < 0 || c.sc.raw == nil {
		return false
	}
	if c.gap > maxBusyWait/busyFactor || c.gap < minBusyWait/busyFactor || !c.p.quiet() {
		return false
	}
	wait := busyFactor * c.gap
	return awaitBytes(c.sc, wait, c.p.awaitingPong, func(fd int, pong bool) bool {
		return pl.nothingToRead(c, fd, pong)
	})
}

// awaitBytes waits up to wait for bytes to read on sc's socket and reports
// whether they came (or the connection broke). nothing(fd, pong) looks at
// the socket and reports that it holds nothing for the reader; pong (from
// pongDue) says whether to take pongs off it.
func awaitBytes(sc *sharedConn, wait time.Duration, pongDue func() bool, nothing func(fd int, pong bool) bool) bool {
	if sc.SetReadDeadline(time.Now().Add(wait)) != nil {
		return false
	}
	// raw.Read forgets any readiness event it may have had, calls the
	// function, and while that returns false waits for a new event (Go's
	// netpoller: edge-triggered) until the deadline. So the first call
	// looks at the socket: bytes that are already there (they came with
	// the ones last read) bring no new event. A later call follows an
	// event, so bytes have come since; it looks only to take off pongs,
	// while one is due.
	looked := false
	err := sc.raw.Read(func(fd uintptr) bool {
		pong := pongDue()
		if looked && !pong {
			return true
		}
		looked = true
		return !nothing(int(fd), pong)
	})
	// The library reads with no deadline.
	if derr := sc.SetReadDeadline(time.Time{}); derr != nil && err == nil {
		err = derr
	}
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// pongPrefix returns the length of the run of whole masked pong frames at
// the start of b (0 if b does not start with one).
func pongPrefix(b []byte) int {
	off := 0
	for len(b)-off >= 6 {
		if b[off] != 0x8A || b[off+1]&0x80 == 0 {
			break
		}
		l := int(b[off+1] & 0x7f)
		if l > 125 || len(b)-off < 6+l {
			break
		}
		off += 6 + l
	}
	return off
}

func (pl *poller) pongsTaken() int64 { return pl.pongs.Load() }
func (pl *poller) parkCount() int64  { return pl.parks.Load() }
