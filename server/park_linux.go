package server

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
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
	var buf [2 * maxPongFrame]byte
	only := false
	err := c.sc.raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN:
			only = true // a spurious wakeup: nothing to read
			return
		case err != nil || n <= 0:
			return // an error or the end of the stream: the reader sees it
		}
		pongs := pongPrefix(buf[:n])
		if pongs == 0 {
			return
		}
		// Consume exactly the pongs; what follows stays for the reader.
		m, _, err := syscall.Recvfrom(int(fd), buf[:pongs], syscall.MSG_DONTWAIT)
		if err != nil || m != pongs {
			return // cannot happen with the bytes peeked; let the reader look
		}
		c.p.pong()
		pl.pongs.Add(1)
		only = pongs == n && n < len(buf)
	})
	return err == nil && only
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
