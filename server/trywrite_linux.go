package server

import (
	"sync"
	"syscall"
	"unsafe"
)

const canTryWrite = true

// tryWrite is one non-blocking write of a frame (header and payload,
// gathered by writev). RawConn.Write takes a callback; the callback and its
// arguments live in a pooled tryWrite so that a write allocates nothing
// and an idle connection carries none of it.
type tryWrite struct {
	hdr     [maxHeaderLen]byte
	iov     [2]syscall.Iovec
	niov    int
	n       int
	errno   syscall.Errno
	attempt func(fd uintptr) bool
}

// writePool holds the tryWrites of a Server's connections.
type writePool struct{ sync.Pool }

func newWritePool() *writePool {
	wp := &writePool{}
	wp.New = func() any {
		t := new(tryWrite)
		t.attempt = func(fd uintptr) bool {
			r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&t.iov[0])), uintptr(t.niov))
			t.n, t.errno = int(r), e
			return true // never wait for the socket: the writer goroutine does
		}
		return t
	}
	return wp
}

// tryWriteFrame sends what the socket takes of a frame (hdr, at most
// maxHeaderLen bytes, then payload) now and returns how many bytes went
// out. A full socket buffer is not an error (n is 0); an error means the
// connection is broken.
func (wp *writePool) tryWriteFrame(raw syscall.RawConn, hdr, payload []byte) (int, error) {
	t := wp.Get().(*tryWrite)
	defer wp.Put(t)
	h := t.hdr[:copy(t.hdr[:], hdr)] // a copy: hdr stays on the caller's stack
	t.iov[0] = syscall.Iovec{Base: &h[0]}
	t.iov[0].SetLen(len(h))
	t.niov = 1
	if len(payload) > 0 {
		t.iov[1] = syscall.Iovec{Base: &payload[0]}
		t.iov[1].SetLen(len(payload))
		t.niov = 2
	}
	err := raw.Write(t.attempt)
	n, errno := t.n, t.errno
	t.iov = [2]syscall.Iovec{} // the pool must not keep the frame alive
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return 0, nil
	case errno != 0:
		return 0, errno
	}
	return n, nil
}
