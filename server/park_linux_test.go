package server

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestAwaitBytesSeesBytesThatCameEarly: bytes that arrived together with
// the last ones read bring no new readiness event (Go's netpoller is
// edge-triggered, and every read on the socket starts by forgetting an
// earlier event), so a busy connection's wait must find them by looking,
// at once, not when its deadline passes. (A frame longer than the
// library's buffer, followed in the same segment by a short one, leaves
// the short one on the socket like this.)
func TestAwaitBytesSeesBytesThatCameEarly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	sc := newSharedConn(server)
	if _, err := client.Write(make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	// Once the bytes are there, read half of them.
	fd := sysFD(t, sc)
	for deadline := time.Now().Add(5 * time.Second); ; {
		var b [20]byte
		if n, _, _ := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT); n == len(b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client's bytes did not arrive")
		}
		time.Sleep(time.Millisecond)
	}
	if n, err := syscall.Read(fd, make([]byte, 10)); n != 10 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	// Let the scheduler's netpoll take the socket's readiness event, so
	// that none is left for awaitBytes to wake on.
	time.Sleep(20 * time.Millisecond)
	empty := func(fd int, _ bool) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err == syscall.EAGAIN
	}
	start := time.Now()
	if !awaitBytes(sc, 2*time.Second, func() bool { return false }, empty) {
		t.Fatal("awaitBytes timed out with 10 bytes on the socket")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("awaitBytes took %v with bytes on the socket", d)
	}
	// With nothing there, it waits for the deadline.
	if _, err := syscall.Read(fd, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if awaitBytes(sc, 50*time.Millisecond, func() bool { return false }, empty) {
		t.Fatal("awaitBytes reported bytes on an empty socket")
	}
}

// sysFD returns the descriptor of sc's socket (valid while sc is open).
func sysFD(t *testing.T, sc *sharedConn) int {
	t.Helper()
	var fd int
	if err := sc.raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}
