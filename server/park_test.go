package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/collabd/collabd/yprotocol"
)

// newKeepaliveServer runs a server with short keepalive intervals.
func newKeepaliveServer(t *testing.T, interval, timeout time.Duration) (*httptest.Server, *Server) {
	t.Helper()
	hs, _, srv := newServerWith(t, Options{PingInterval: interval, PingTimeout: timeout})
	return hs, srv
}

// rawClient is a WebSocket client written by hand, so that a test decides
// exactly what goes on the wire (and when nothing does).
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, base, room string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /ws/%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", room)
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		t.Fatalf("handshake: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	return &rawClient{c: c, br: br}
}

// send writes a masked frame (clients must mask; the key is arbitrary).
func (r *rawClient) send(t *testing.T, opcode byte, payload []byte) {
	t.Helper()
	if len(payload) > 125 {
		t.Fatal("rawClient sends short frames only")
	}
	key := [4]byte{1, 2, 3, 4}
	b := []byte{0x80 | opcode, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	if _, err := r.c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// next reads one frame from the server.
func (r *rawClient) next(deadline time.Time) (opcode byte, payload []byte, err error) {
	_ = r.c.SetReadDeadline(deadline)
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(l[0])<<8 | int(l[1])
	case 127:
		return 0, nil, fmt.Errorf("unexpected 64-bit length")
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r.br, payload)
	return h[0] & 0x0f, payload, err
}

// sync sends SyncStep1 and reads until the server's SyncStep2, answering
// pings on the way.
func (r *rawClient) sync(t *testing.T) {
	t.Helper()
	r.send(t, 0x2, yprotocol.AppendSyncStep1(nil, []byte{0}))
	for {
		op, payload, err := r.next(time.Now().Add(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if op == 0x2 && len(payload) > 1 && payload[0] == 0 && payload[1] == 1 { // SyncStep2
			return
		}
		if op == 0x9 {
			r.send(t, 0xA, nil)
		}
	}
}

// TestSilentPeerClosed: a client that never answers pings is closed after
// PingInterval + PingTimeout, parked or not.
func TestSilentPeerClosed(t *testing.T) {
	hs, _ := newKeepaliveServer(t, 100*time.Millisecond, 150*time.Millisecond)
	rc := dialRaw(t, hs.URL, "silent")
	rc.send(t, 0x2, yprotocol.AppendSyncStep1(nil, []byte{0}))
	start := time.Now()
	pings := 0
	for {
		op, payload, err := rc.next(start.Add(5 * time.Second))
		if err != nil {
			t.Fatalf("after %v: %v, want a close frame", time.Since(start), err)
		}
		if op == 0x9 {
			pings++
		}
		if op == 0x8 {
			if code := int(payload[0])<<8 | int(payload[1]); code != 1008 {
				t.Fatalf("close code %d, want 1008 (policy violation: keepalive timeout)", code)
			}
			break
		}
	}
	if d := time.Since(start); d < 200*time.Millisecond || pings != 1 {
		t.Fatalf("closed after %v and %d pings, want one ping and >= 250ms", d, pings)
	}
}

// TestAnsweringPeerStaysParked: a client that answers every ping stays
// connected over many keepalive rounds, and its pongs are taken off the
// socket by the poller without waking a read goroutine.
func TestAnsweringPeerStaysParked(t *testing.T) {
	hs, srv := newKeepaliveServer(t, 50*time.Millisecond, 40*time.Millisecond)
	rc := dialRaw(t, hs.URL, "answering")
	rc.send(t, 0x2, yprotocol.AppendSyncStep1(nil, []byte{0}))
	end := time.Now().Add(time.Second)
	pings := 0
	for time.Now().Before(end) {
		op, _, err := rc.next(end)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				break
			}
			t.Fatal(err)
		}
		switch op {
		case 0x9:
			pings++
			rc.send(t, 0xA, nil)
		case 0x8:
			t.Fatal("closed by the server although every ping was answered")
		}
	}
	if pings < 8 {
		t.Fatalf("%d pings in a second at a 50ms interval", pings)
	}
	if canTryWrite && srv.poller().pongsTaken() == 0 {
		t.Fatal("no pong was taken by the poller: the connection was not parked")
	}
	rc.sync(t) // the connection still works
}

// TestIdleConnectionsHaveNoGoroutine: once connected and synced, idle
// connections are parked and cost no goroutine.
func TestIdleConnectionsHaveNoGoroutine(t *testing.T) {
	if !canTryWrite {
		t.Skip("connections are parked on Linux only")
	}
	hs, _ := newKeepaliveServer(t, time.Minute, time.Minute)
	before := runtime.NumGoroutine()
	const n = 60
	for i := range n {
		dialRaw(t, hs.URL, fmt.Sprintf("idle-%d", i%3)).sync(t)
	}
	var extra int
	for range 100 { // writer goroutines end once their queues are empty
		if extra = runtime.NumGoroutine() - before; extra < n/2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// 3 rooms, the poller, net/http's: far fewer than one per connection.
	if extra >= n/2 {
		t.Fatalf("%d more goroutines with %d idle connections", extra, n)
	}
}

// FuzzPongPrefix: pongPrefix reads bytes a client sent; whatever they are
// it must return a run of whole masked pongs, and all of it.
func FuzzPongPrefix(f *testing.F) {
	f.Add([]byte{0x8A, 0x80, 1, 2, 3, 4})
	f.Add([]byte{0x8A, 0x82, 1, 2, 3, 4, 5, 6, 0x82, 0x81, 0, 0, 0, 0, 7})
	f.Add([]byte{0x8A, 0xFD})
	f.Add([]byte{0x8A, 0xFE, 0, 200})
	f.Add([]byte{0x89, 0x80, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := pongPrefix(b)
		if n < 0 || n > len(b) {
			t.Fatalf("pongPrefix = %d for %d bytes", n, len(b))
		}
		if !canTryWrite {
			return
		}
		off := 0
		for off < n {
			l := int(b[off+1] & 0x7f)
			if b[off] != 0x8A || b[off+1]&0x80 == 0 || l > 125 || off+6+l > n {
				t.Fatalf("bytes %d..%d (%x) are not a whole masked pong", off, n, b[off:n])
			}
			off += 6 + l
		}
		if rest := b[n:]; len(rest) >= 6 && rest[0] == 0x8A && rest[1]&0x80 != 0 {
			if l := int(rest[1] & 0x7f); l <= 125 && len(rest) >= 6+l {
				t.Fatalf("a whole pong at %d was left out", n)
			}
		}
	})
}

// TestBusyConnectionParksWhenQuiet: a client sending a message every 20 ms
// keeps its read goroutine between messages (no park and wake for each),
// and is parked soon after it stops.
func TestBusyConnectionParksWhenQuiet(t *testing.T) {
	if !canTryWrite {
		t.Skip("connections are parked on Linux only")
	}
	hs, srv := newKeepaliveServer(t, time.Minute, time.Minute)
	pl := srv.poller()
	rc := dialRaw(t, hs.URL, "busy")
	waitParks := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); pl.parkCount() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d parks, want %d", pl.parkCount(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	rc.sync(t)
	waitParks(1) // quiet after connecting
	start := pl.parkCount()
	const messages = 20
	for range messages {
		rc.sync(t)
		time.Sleep(20 * time.Millisecond)
	}
	// The first message found the connection parked and, coming after a
	// pause, parked it again; the others came 20 ms apart.
	busy := pl.parkCount() - start
	if busy >= messages/2 {
		t.Fatalf("parked %d times in %d messages 20 ms apart, want the connection to stay awake", busy, messages)
	}
	waitParks(start + busy + 1)
}
