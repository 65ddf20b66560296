package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// newPeer makes a peer with no read side (serveWS makes the real ones).
func newPeer(ws *websocket.Conn, conn *sharedConn, opts *Options) *peer {
	p := &peer{opts: opts, writes: newWritePool()}
	p.start(ws, conn, time.Time{})
	return p
}

func TestAppendFrameHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 24} {
		h := appendFrameHeader(nil, n)
		if len(h) != frameHeaderLen(n) || len(h) > maxHeaderLen {
			t.Fatalf("n=%d: header of %d bytes, frameHeaderLen %d", n, len(h), frameHeaderLen(n))
		}
		got, hl, ok := parseServerFrame(append(h, make([]byte, n)...))
		if !ok || got != n || hl != len(h) || h[0] != 0x82 {
			t.Fatalf("n=%d: header %x parses as %d (ok %v)", n, h, got, ok)
		}
	}
}

// parseServerFrame reads an unmasked frame header and reports the payload
// length, the header length and whether b holds exactly that frame.
func parseServerFrame(b []byte) (n, hl int, ok bool) {
	if len(b) < 2 || b[1]&0x80 != 0 {
		return 0, 0, false
	}
	switch l := int(b[1] & 0x7f); l {
	case 126:
		if len(b) < 4 {
			return 0, 0, false
		}
		n, hl = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, 0, false
		}
		n, hl = int(binary.BigEndian.Uint64(b[2:])), 10
	default:
		n, hl = l, 2
	}
	return n, hl, len(b) == hl+n
}

// recordingConn records each Write call made to it.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(b))
	c.mu.Unlock()
	return c.Conn.Write(b)
}

type recordingListener struct {
	net.Listener
	conns chan *recordingConn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: c}
	l.conns <- rc
	return rc, nil
}

// TestLibraryWritesWholeFrames checks the assumption sharedConn rests on:
// coder/websocket writes each control frame it sends, up to the largest
// (a close frame with a 123-byte reason), with one Write call, so that the
// peer's data frames cannot land inside one.
func TestLibraryWritesWholeFrames(t *testing.T) {
	done := make(chan struct{})
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &hijacker{ResponseWriter: w, hj: w.(http.Hijacker)}
		ws, err := websocket.Accept(hw, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		go func() { // the read loop: answers the client's pings
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		opts := Options{}.withDefaults()
		p := newPeer(ws, hw.conn, &opts)
		for i := range 20 {
			p.Send(bytes.Repeat([]byte{byte(i)}, 1+i*100))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ws.Ping(ctx); err != nil {
			t.Error(err)
		}
		p.Close(0)
		_ = ws.Close(websocket.StatusNormalClosure, strings.Repeat("r", 123))
		p.wait()
		close(done)
	}))
	rl := &recordingListener{Listener: hs.Listener, conns: make(chan *recordingConn, 1)}
	hs.Listener = rl
	hs.Start()
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.Ping(ctx) // the server answers with a pong from its read loop
	}()
	for i := 0; ; i++ {
		_, b, err := c.Read(ctx)
		if err != nil {
			break
		}
		if want := bytes.Repeat([]byte{byte(i)}, 1+i*100); !bytes.Equal(b, want) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(b), len(want))
		}
	}
	<-done
	rc := <-rl.conns
	rc.mu.Lock()
	defer rc.mu.Unlock()
	// Walk the stream; every control frame must lie within one write.
	// (Data frames need not: the writer goroutine writes header and
	// payload separately where the connection has no writev, as this
	// recording one has not, holding the lock throughout.)
	var stream []byte
	var starts []int // offset of each write in stream
	for _, w := range rc.writes {
		if bytes.HasPrefix(w, []byte("HTTP/1.1 ")) {
			continue
		}
		starts = append(starts, len(stream))
		stream = append(stream, w...)
	}
	writeOf := func(off int) int {
		i := len(starts) - 1
		for starts[i] > off {
			i--
		}
		return i
	}
	controls := 0
	for off := 0; off < len(stream); {
		n, hl, _ := parseServerFrame(stream[off:min(len(stream), off+maxHeaderLen)])
		if hl == 0 || off+hl+n > len(stream) {
			t.Fatalf("stream offset %d: not a frame (%x)", off, stream[off:min(len(stream), off+16)])
		}
		if stream[off]&0x08 != 0 {
			controls++
			if writeOf(off) != writeOf(off+hl+n-1) {
				t.Fatalf("control frame %x at offset %d spans writes", stream[off], off)
			}
		}
		off += hl + n
	}
	if controls < 2 {
		t.Fatalf("saw %d control frames, want the ping and the close at least", controls)
	}
}

// TestSendFastPathPartialWrites sends frames much larger than the socket
// takes at once, interleaved with small ones, to a client that reads
// slowly: the fast path writes what fits, the writer goroutine the rest,
// and the client must get every frame whole and in order.
func TestSendFastPathPartialWrites(t *testing.T) {
	frames := make([][]byte, 0, 60)
	for i := range cap(frames) {
		n := 10 + i
		if i%7 == 3 {
			n = 3<<20 + i // far more than a socket buffer
		}
		frames = append(frames, bytes.Repeat([]byte(fmt.Sprint(i%10)), n))
	}
	sent := make(chan error, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &hijacker{ResponseWriter: w, hj: w.(http.Hijacker)}
		ws, err := websocket.Accept(hw, r, nil)
		if err != nil {
			sent <- err
			return
		}
		if hw.conn.raw == nil && canTryWrite {
			sent <- fmt.Errorf("no raw connection: the fast path is not tested")
			return
		}
		go func() {
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		opts := Options{SendQueue: len(frames)}.withDefaults()
		p := newPeer(ws, hw.conn, &opts)
		for _, f := range frames {
			if !p.Send(f) {
				sent <- fmt.Errorf("queue full")
				return
			}
		}
		p.Close(0)
		p.wait()
		sent <- nil
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	for i, want := range frames {
		if i%5 == 0 {
			time.Sleep(5 * time.Millisecond) // let the socket fill
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(b), len(want))
		}
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the frames: %v, want a normal closure", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}
