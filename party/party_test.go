package party_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/collabd/collabd/docstore/embedded"
	"github.com/collabd/collabd/party"
)

// peer records what a room sends to a connection. Safe for concurrent use.
type peer struct {
	mu     sync.Mutex
	got    []string
	closed int
	full   bool
	ch     chan struct{}
	sess   *party.Session // set by connect: Close leaves, as the transport does
}

func connect(t *testing.T, reg *party.Registry, id string, p *peer) *party.Session {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	s, err := reg.Connect("count", "r", p, party.ConnInfo{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	p.sess = s
	return s
}

func newPeer() *peer { return &peer{ch: make(chan struct{}, 1000)} }

func (p *peer) Send(m party.Message) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.full {
		return false
	}
	p.got = append(p.got, m.String())
	p.ch <- struct{}{}
	return true
}

func (p *peer) Close(code int, _ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed == 0 {
		p.closed = code
		if s := p.sess; s != nil {
			go func() {
				p.mu.Lock() // wait for connect to finish
				p.mu.Unlock()
				s.Leave()
			}()
		}
	}
	p.ch <- struct{}{}
}

// wait waits until cond holds of what the peer received.
func (p *peer) wait(t *testing.T, what string, cond func(got []string, closed int) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		ok := cond(p.got, p.closed)
		got, closed := append([]string(nil), p.got...), p.closed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-p.ch:
		case <-deadline:
			t.Fatalf("waiting for %s: got %q, closed %d", what, got, closed)
		}
	}
}

func has(s string) func([]string, int) bool {
	return func(got []string, _ int) bool {
		for _, g := range got {
			if g == s {
				return true
			}
		}
		return false
	}
}

// counter counts its starts and messages; "panic" panics; it checks that
// no two callbacks of a room ever overlap.
type counter struct {
	party.Base
	room   *party.Room
	inside *sync.Mutex
	starts *int
	n      int
}

func (c *counter) enter(t string) func() {
	if !c.inside.TryLock() {
		panic("two callbacks at once in " + t)
	}
	return c.inside.Unlock
}

func (c *counter) OnStart() error { defer c.enter("OnStart")(); *c.starts++; return nil }

func (c *counter) OnConnect(conn *party.Conn, _ party.ConnInfo) {
	defer c.enter("OnConnect")()
	conn.Send(party.Text(fmt.Sprintf("start %d", *c.starts)))
}

func (c *counter) OnMessage(m party.Message, from *party.Conn) {
	defer c.enter("OnMessage")()
	switch m.String() {
	case "panic":
		panic("asked to")
	case "count":
		from.Send(party.Text(fmt.Sprintf("count %d", c.n)))
	case "store":
		if err := c.room.Storage().Put("n", []byte(fmt.Sprint(c.n))); err != nil {
			from.Send(party.Text("error " + err.Error()))
			return
		}
		from.Send(party.Text("stored"))
	case "load":
		v, _, _ := c.room.Storage().Get("n")
		from.Send(party.Text("loaded " + string(v)))
	default:
		c.n++
	}
}

func (c *counter) OnRequest(*party.Request) *party.Response {
	defer c.enter("OnRequest")()
	return &party.Response{Body: []byte(fmt.Sprint(c.n))}
}

func newRegistry(t *testing.T, idle time.Duration) (*party.Registry, *int) {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := party.NewRegistry(party.Options{Storage: st.KV(), IdleTimeout: idle})
	starts := new(int)
	var mu sync.Mutex // shared: rooms are tested one at a time here
	if err := reg.Register("count", func(r *party.Room) party.Server { return &counter{room: r, inside: &mu, starts: starts} }); err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := reg.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return reg, starts
}

func TestOneCallbackAtATime(t *testing.T) {
	reg, _ := newRegistry(t, time.Minute)
	const conns, each = 8, 200
	var wg sync.WaitGroup
	peers := make([]*peer, conns)
	sessions := make([]*party.Session, conns)
	for i := range conns {
		peers[i] = newPeer()
		sessions[i] = connect(t, reg, fmt.Sprint(i), peers[i])
	}
	for i := range conns {
		wg.Go(func() {
			for range each {
				sessions[i].Receive(party.Text("+"))
			}
		})
		wg.Go(func() {
			for range 20 {
				if _, err := reg.Request(t.Context(), "count", "r", &party.Request{Method: "GET"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	sessions[0].Receive(party.Text("count"))
	peers[0].wait(t, "the count", has(fmt.Sprintf("count %d", conns*each)))
}

func TestPanicRestartsTheRoom(t *testing.T) {
	reg, starts := newRegistry(t, time.Minute)
	p := newPeer()
	s := connect(t, reg, "a", p)
	p.wait(t, "start", has("start 1"))
	s.Receive(party.Text("panic"))
	p.wait(t, "close 1011", func(_ []string, c int) bool { return c == party.CloseInternal })
	// A request to the failed room while its connection lingers gets a
	// fresh instance, not an error.
	resp, err := reg.Request(t.Context(), "count", "r", &party.Request{Method: "GET"})
	if err != nil || string(resp.Body) != "0" || *starts != 2 {
		t.Fatalf("after the panic: %v %v, %d starts", resp, err, *starts)
	}
	q := newPeer()
	connect(t, reg, "a", q)
	q.wait(t, "start", has("start 2"))
}

func TestHibernationKeepsStorage(t *testing.T) {
	reg, starts := newRegistry(t, 20*time.Millisecond)
	p := newPeer()
	s := connect(t, reg, "a", p)
	s.Receive(party.Text("+"))
	s.Receive(party.Text("store"))
	p.wait(t, "stored", has("stored"))
	s.Leave()
	deadline := time.Now().Add(5 * time.Second)
	for *startsAfter(reg, t) == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the room did not hibernate")
		}
		time.Sleep(30 * time.Millisecond)
	}
	q := newPeer()
	s2 := connect(t, reg, "b", q)
	s2.Receive(party.Text("count"))
	s2.Receive(party.Text("load"))
	q.wait(t, "a fresh instance with the stored value", func(got []string, _ int) bool {
		return has("count 0")(got, 0) && has("loaded 1")(got, 0)
	})
	if *starts < 2 {
		t.Fatalf("%d starts", *starts)
	}
}

// startsAfter asks the room for a start (a request starts it) and
// returns the counter; a hibernated room starts again.
func startsAfter(reg *party.Registry, t *testing.T) *int {
	var n int
	resp, err := reg.Request(t.Context(), "count", "r", &party.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp
	// The body is the in-memory count: 0 in a fresh instance.
	if string(resp.Body) == "0" {
		n = 2
	} else {
		n = 1
	}
	return &n
}

func TestSlowConnectionIsClosed(t *testing.T) {
	reg, _ := newRegistry(t, time.Minute)
	p := newPeer()
	p.full = true
	connect(t, reg, "slow", p)
	p.wait(t, "close 1013", func(_ []string, c int) bool { return c == party.CloseTryAgain })
}

func TestUnknownParty(t *testing.T) {
	reg, _ := newRegistry(t, time.Minute)
	if _, err := reg.Connect("nope", "r", newPeer(), party.ConnInfo{ID: "a"}); !errors.Is(err, party.ErrUnknownParty) {
		t.Fatalf("Connect to an unknown party: %v", err)
	}
	if reg.Lookup("main") != party.KindYjs || reg.Lookup("count") != party.KindParty || reg.Lookup("x") != party.KindNone {
		t.Fatal("Lookup")
	}
	if err := reg.Register("count", nil); err == nil {
		t.Fatal("a nil factory was registered")
	}
	if err := reg.Register("Bad Name", func(*party.Room) party.Server { return party.Base{} }); err == nil {
		t.Fatal("a bad name was registered")
	}
}

func TestMaxRooms(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := party.NewRegistry(party.Options{Storage: st.KV(), MaxRooms: 2, IdleTimeout: 20 * time.Millisecond})
	if err := reg.Register("b", func(*party.Room) party.Server { return party.Base{} }); err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"r1", "r2"} {
		if _, err := reg.Request(t.Context(), "b", room, &party.Request{Method: "GET"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Request(t.Context(), "b", "r3", &party.Request{Method: "GET"}); !errors.Is(err, party.ErrTooManyRooms) {
		t.Fatalf("a third room: %v, want ErrTooManyRooms", err)
	}
	// Once the others hibernate there is room again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := reg.Request(t.Context(), "b", "r3", &party.Request{Method: "GET"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the others hibernated: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := reg.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
