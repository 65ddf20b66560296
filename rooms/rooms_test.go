package rooms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/ydoc"
	"github.com/collabd/collabd/yprotocol"
)

// fakePeer records what a room sends it.
type fakePeer struct {
	frames chan []byte
	mu     sync.Mutex
	full   bool
	reason CloseReason
	closed chan struct{}
	once   sync.Once
}

func newPeer() *fakePeer {
	return &fakePeer{frames: make(chan []byte, 4096), closed: make(chan struct{})}
}

func (p *fakePeer) Send(frame []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.full {
		return false
	}
	p.frames <- frame
	return true
}

func (p *fakePeer) Close(reason CloseReason) {
	p.once.Do(func() {
		p.mu.Lock()
		p.reason = reason
		p.mu.Unlock()
		close(p.closed)
	})
}

func (p *fakePeer) setFull() {
	p.mu.Lock()
	p.full = true
	p.mu.Unlock()
}

// next returns the next frame's first message, failing after a while.
func (p *fakePeer) next(t *testing.T) yprotocol.Message {
	t.Helper()
	select {
	case f := <-p.frames:
		var first yprotocol.Message
		if err := yprotocol.Decode(f, func(m yprotocol.Message) error {
			if first.Kind == 0 {
				first = m
			}
			return nil
		}); err != nil {
			t.Fatalf("room sent an undecodable frame: %v", err)
		}
		return first
	case <-time.After(5 * time.Second):
		t.Fatal("no frame from the room")
	}
	panic("unreachable")
}

// nextKind skips frames until one of kind k.
func (p *fakePeer) nextKind(t *testing.T, k yprotocol.Kind) yprotocol.Message {
	t.Helper()
	for {
		if m := p.next(t); m.Kind == k {
			return m
		}
	}
}

func (p *fakePeer) waitClosed(t *testing.T) CloseReason {
	t.Helper()
	select {
	case <-p.closed:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.reason
	case <-time.After(5 * time.Second):
		t.Fatal("peer not closed")
	}
	return 0
}

// memStore is an in-memory Store with hooks for failures.
type memStore struct {
	mu       sync.Mutex
	docs     map[string]*docstore.Stored
	appends  int
	compacts int
	triggers []docstore.Trigger
	failLoad error
	failApp  error
	gate     chan struct{} // when set, Append waits for a token
}

func newMemStore() *memStore { return &memStore{docs: make(map[string]*docstore.Stored)} }

func (s *memStore) Load(_ context.Context, doc string) (*docstore.Stored, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLoad != nil {
		return nil, s.failLoad
	}
	d := s.docs[doc]
	if d == nil {
		return nil, docstore.ErrNotFound
	}
	cp := *d
	cp.Entries = append([]docstore.Entry(nil), d.Entries...)
	return &cp, nil
}

func (s *memStore) Append(ctx context.Context, doc string, updates ...[]byte) (int64, error) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failApp != nil {
		return 0, s.failApp
	}
	d := s.docs[doc]
	if d == nil {
		d = &docstore.Stored{}
		s.docs[doc] = d
	}
	for _, u := range updates {
		d.LastSeq++
		d.Entries = append(d.Entries, docstore.Entry{Seq: d.LastSeq, Update: bytes.Clone(u)})
	}
	s.appends++
	return d.LastSeq, nil
}

func (s *memStore) Compact(_ context.Context, doc string, snap []byte, through int64, trigger docstore.Trigger) (docstore.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[doc]
	if d == nil || through > d.LastSeq {
		return docstore.Version{}, fmt.Errorf("bad compaction of %q through %d", doc, through)
	}
	var rest []docstore.Entry
	for _, e := range d.Entries {
		if e.Seq > through {
			rest = append(rest, e)
		}
	}
	d.Snapshot, d.Through, d.Entries = bytes.Clone(snap), through, rest
	s.compacts++
	s.triggers = append(s.triggers, trigger)
	return docstore.Version{ID: int64(s.compacts), Trigger: trigger}, nil
}

func (s *memStore) setGate(g chan struct{}) {
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
}

func (s *memStore) content(t *testing.T, doc string) string {
	t.Helper()
	st, err := s.Load(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	d := ydoc.New(ydoc.Options{})
	if st.Snapshot != nil {
		if err := d.ApplyUpdate(st.Snapshot); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range st.Entries {
		if err := d.ApplyUpdate(e.Update); err != nil {
			t.Fatal(err)
		}
	}
	return d.RootAs("t", ydoc.KindText).String()
}

// editor makes text updates as a client would.
type editor struct{ d *ydoc.Doc }

func newEditor(id uint64) *editor { return &editor{ydoc.New(ydoc.Options{ClientID: id})} }

func (e *editor) insert(t *testing.T, s string) []byte {
	t.Helper()
	u, err := e.d.Transact(func(tx *ydoc.Txn) error {
		txt := e.d.Root("t")
		return tx.InsertText(txt, txt.Len(), s)
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func updateFrame(u []byte) []byte { return yprotocol.AppendUpdate(nil, u) }

func join(t *testing.T, reg *Registry, room string, readOnly bool) (*Conn, *fakePeer) {
	t.Helper()
	p := newPeer()
	c, err := reg.Join(context.Background(), room, p, JoinOptions{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	if m := p.next(t); m.Kind != yprotocol.KindSyncStep1 {
		t.Fatalf("first message %v, want sync step 1", m.Kind)
	}
	return c, p
}

func textOf(t *testing.T, update []byte) string {
	t.Helper()
	d := ydoc.New(ydoc.Options{})
	if err := d.ApplyUpdate(update); err != nil {
		t.Fatal(err)
	}
	return d.RootAs("t", ydoc.KindText).String()
}

// asyncMemStore is a memStore that also takes appends the way the
// embedded store does (docstore.AsyncAppender), which rooms then use: the
// answer comes from the store's goroutine, not the room's.
type asyncMemStore struct{ *memStore }

func (s asyncMemStore) AppendAsync(doc string, updates [][]byte, done func(int64, error)) {
	own := make([][]byte, len(updates))
	for i, u := range updates {
		own[i] = bytes.Clone(u)
	}
	go func() { done(s.Append(context.Background(), doc, own...)) }()
}

// bothAppendStyles runs test with a store whose Append the room calls on
// a goroutine of its own, and with one that answers AppendAsync.
func bothAppendStyles(t *testing.T, test func(t *testing.T, st *memStore, store Store)) {
	t.Run("Append", func(t *testing.T) {
		st := newMemStore()
		test(t, st, st)
	})
	t.Run("AppendAsync", func(t *testing.T) {
		st := newMemStore()
		test(t, st, asyncMemStore{st})
	})
}

func TestRelayToEveryConnectionAfterStoring(t *testing.T) {
	bothAppendStyles(t, testRelayToEveryConnectionAfterStoring)
}

func testRelayToEveryConnectionAfterStoring(t *testing.T, st *memStore, store Store) {
	reg := NewRegistry(Options{Store: store})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	_, pb := join(t, reg, "r", false)

	gate := make(chan struct{})
	st.setGate(gate)
	u := newEditor(1).insert(t, "hello")
	if err := a.Receive(context.Background(), updateFrame(u)); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-pb.frames:
		t.Fatalf("relayed before the update was stored: %x", f)
	case <-time.After(50 * time.Millisecond):
	}
	gate <- struct{}{}
	for _, p := range []*fakePeer{pa, pb} { // the sender gets its echo too
		m := p.nextKind(t, yprotocol.KindUpdate)
		if !bytes.Equal(m.Payload, u) {
			t.Fatal("relayed update differs")
		}
	}
	st.setGate(nil)
	if got := st.content(t, "r"); got != "hello" {
		t.Fatalf("stored %q", got)
	}
}

func TestLateJoinerSyncs(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore()})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	e := newEditor(1)
	for _, s := range []string{"one ", "two ", "three"} {
		if err := a.Receive(context.Background(), updateFrame(e.insert(t, s))); err != nil {
			t.Fatal(err)
		}
		pa.nextKind(t, yprotocol.KindUpdate)
	}
	b, pb := join(t, reg, "r", false)
	if err := b.Receive(context.Background(), yprotocol.AppendSyncStep1(nil, []byte{0})); err != nil {
		t.Fatal(err)
	}
	m := pb.nextKind(t, yprotocol.KindSyncStep2)
	if got := textOf(t, m.Payload); got != "one two three" {
		t.Fatalf("late joiner got %q", got)
	}
}

func TestBadUpdateClosesOnlyItsConnection(t *testing.T) {
	st := newMemStore()
	reg := NewRegistry(Options{Store: st})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	b, pb := join(t, reg, "r", false)
	e := newEditor(1)
	if err := a.Receive(context.Background(), updateFrame(e.insert(t, "ok"))); err != nil {
		t.Fatal(err)
	}
	pa.nextKind(t, yprotocol.KindUpdate)
	pb.nextKind(t, yprotocol.KindUpdate)
	for _, bad := range [][]byte{
		{0, 2, 5, 1, 2},          // update whose bytes do not decode
		{9, 9, 9},                // unknown message type
		{0, 2, 200, 200, 200, 1}, // length beyond the frame
	} {
		if err := b.Receive(context.Background(), bad); err != nil {
			t.Fatal(err)
		}
		if r := pb.waitClosed(t); r != CloseBadMessage {
			t.Fatalf("closed with %v", r)
		}
		b, pb = join(t, reg, "r", false)
	}
	if err := a.Receive(context.Background(), updateFrame(e.insert(t, "!"))); err != nil {
		t.Fatal(err)
	}
	pa.nextKind(t, yprotocol.KindUpdate)
	if got := st.content(t, "r"); got != "ok!" {
		t.Fatalf("stored %q", got)
	}
	_ = b
}

func TestReadOnlyConnectionCannotWrite(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore()})
	defer reg.Shutdown(context.Background())
	c, p := join(t, reg, "r", true)
	if err := c.Receive(context.Background(), updateFrame(newEditor(1).insert(t, "x"))); err != nil {
		t.Fatal(err)
	}
	if m := p.next(t); m.Kind != yprotocol.KindPermissionDenied {
		t.Fatalf("got %v, want permission denied", m.Kind)
	}
	// Nothing was ever written: the document does not exist.
	err := reg.View(context.Background(), "r", func(d *ydoc.Doc) error { return nil })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("view after a refused update: %v, want ErrNotFound", err)
	}
}

func TestEmptyUpdatesAreNotStoredOrRelayed(t *testing.T) {
	st := newMemStore()
	reg := NewRegistry(Options{Store: st})
	defer reg.Shutdown(context.Background())
	a, _ := join(t, reg, "r", false)
	_, pb := join(t, reg, "r", false)
	// What a stock client sends on connect when it has nothing new.
	if err := a.Receive(context.Background(), yprotocol.AppendSyncStep2(nil, []byte{0, 0})); err != nil {
		t.Fatal(err)
	}
	if err := reg.ApplyUpdate(context.Background(), "r", []byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-pb.frames:
		t.Fatalf("relayed an empty update: %x", f)
	case <-time.After(50 * time.Millisecond):
	}
	if st.appends != 0 {
		t.Fatalf("%d appends of empty updates", st.appends)
	}
}

func TestSlowConsumerIsClosedNotSkipped(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore()})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	_, pb := join(t, reg, "r", false)
	pb.setFull()
	if err := a.Receive(context.Background(), updateFrame(newEditor(1).insert(t, "x"))); err != nil {
		t.Fatal(err)
	}
	if r := pb.waitClosed(t); r != CloseSlowConsumer {
		t.Fatalf("closed with %v", r)
	}
	pa.nextKind(t, yprotocol.KindUpdate)
}

func TestAwarenessRemovedWhenConnectionLeaves(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore()})
	defer reg.Shutdown(context.Background())
	a, _ := join(t, reg, "r", false)
	_, pb := join(t, reg, "r", false)
	state := []byte(`{"user":{"name":"ada"}}`)
	payload := []byte{1, 42, 1, byte(len(state))}
	payload = append(payload, state...)
	if err := a.Receive(context.Background(), yprotocol.AppendAwarenessPayload(nil, payload)); err != nil {
		t.Fatal(err)
	}
	m := pb.nextKind(t, yprotocol.KindAwareness)
	if !bytes.Contains(m.Payload, state) {
		t.Fatalf("awareness relay %q", m.Payload)
	}
	a.Leave()
	m = pb.nextKind(t, yprotocol.KindAwareness)
	if !bytes.Contains(m.Payload, []byte("null")) {
		t.Fatalf("removal %q", m.Payload)
	}
}

func TestFailedLoadRefusesInsteadOfStartingEmpty(t *testing.T) {
	st := newMemStore()
	st.failLoad = errors.New("disk on fire")
	reg := NewRegistry(Options{Store: st, IdleTimeout: time.Millisecond})
	defer reg.Shutdown(context.Background())
	if _, err := reg.Join(context.Background(), "r", newPeer(), JoinOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("join: %v, want ErrUnavailable", err)
	}
	if st.appends != 0 || st.compacts != 0 {
		t.Fatal("a room that failed to load wrote to the store")
	}
	// Once the store works again, a new join loads the room.
	st.mu.Lock()
	st.failLoad = nil
	st.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := reg.Join(context.Background(), "r", newPeer(), JoinOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room still unavailable: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStoreFailureHoldsRelaysUntilStored(t *testing.T) {
	bothAppendStyles(t, testStoreFailureHoldsRelaysUntilStored)
}

func testStoreFailureHoldsRelaysUntilStored(t *testing.T, st *memStore, store Store) {
	reg := NewRegistry(Options{Store: store})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	st.mu.Lock()
	st.failApp = errors.New("database down")
	st.mu.Unlock()
	if err := a.Receive(context.Background(), updateFrame(newEditor(1).insert(t, "x"))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for reg.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("registry stays ready while appends fail")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case f := <-pa.frames:
		t.Fatalf("relayed an update that is not stored: %x", f)
	default:
	}
	st.mu.Lock()
	st.failApp = nil
	st.mu.Unlock()
	pa.nextKind(t, yprotocol.KindUpdate) // after the retry
	if err := reg.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := st.content(t, "r"); got != "x" {
		t.Fatalf("stored %q", got)
	}
}

func TestRESTApplyAndView(t *testing.T) {
	st := newMemStore()
	reg := NewRegistry(Options{Store: st})
	defer reg.Shutdown(context.Background())
	_, p := join(t, reg, "r", false)
	if err := reg.ApplyUpdate(context.Background(), "r", newEditor(5).insert(t, "rest")); err != nil {
		t.Fatal(err)
	}
	p.nextKind(t, yprotocol.KindUpdate)
	if err := reg.ApplyUpdate(context.Background(), "r", []byte{1, 2, 3}); !errors.Is(err, ydoc.ErrInvalidUpdate) {
		t.Fatalf("bad update: %v", err)
	}
	var got string
	if err := reg.View(context.Background(), "r", func(d *ydoc.Doc) error {
		got = d.RootAs("t", ydoc.KindText).String()
		return nil
	}); err != nil || got != "rest" {
		t.Fatalf("view: %q %v", got, err)
	}
	if err := reg.View(context.Background(), "nope", func(*ydoc.Doc) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown room: %v", err)
	}
}

func TestHibernateCompactsAndReloads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		reg := NewRegistry(Options{Store: st, IdleTimeout: time.Minute})
		a, pa := join(t, reg, "r", false)
		if err := a.Receive(context.Background(), updateFrame(newEditor(1).insert(t, "kept"))); err != nil {
			t.Fatal(err)
		}
		pa.nextKind(t, yprotocol.KindUpdate)
		a.Leave()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if reg.Len() != 1 {
			t.Fatal("room left before the idle timeout")
		}
		time.Sleep(31 * time.Second)
		synctest.Wait()
		if reg.Len() != 0 {
			t.Fatal("idle room still in memory")
		}
		if st.compacts != 1 || len(st.docs["r"].Entries) != 0 {
			t.Fatalf("compactions %d, log entries left %d", st.compacts, len(st.docs["r"].Entries))
		}
		b, pb := join(t, reg, "r", false)
		if err := b.Receive(context.Background(), yprotocol.AppendSyncStep1(nil, []byte{0})); err != nil {
			t.Fatal(err)
		}
		if got := textOf(t, pb.nextKind(t, yprotocol.KindSyncStep2).Payload); got != "kept" {
			t.Fatalf("after hibernation: %q", got)
		}
		if err := reg.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := pb.waitClosed(t); r != CloseGoingAway {
			t.Fatalf("closed with %v", r)
		}
	})
}

func TestJoinsRacingHibernationAreNeverLost(t *testing.T) {
	st := newMemStore()
	reg := NewRegistry(Options{Store: st, IdleTimeout: time.Microsecond})
	defer reg.Shutdown(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			e := newEditor(uint64(w + 1))
			for i := range 30 {
				p := newPeer()
				c, err := reg.Join(context.Background(), "r", p, JoinOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				u := e.insert(t, fmt.Sprint(i%10))
				if err := c.Receive(context.Background(), updateFrame(u)); err != nil {
					t.Error(err)
					return
				}
				for {
					if m := p.next(t); m.Kind == yprotocol.KindUpdate && bytes.Equal(m.Payload, u) {
						break
					}
				}
				c.Leave()
			}
		})
	}
	wg.Wait()
	if err := reg.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(st.content(t, "r")); got != 8*30 {
		t.Fatalf("stored %d characters, want %d", got, 8*30)
	}
}

// TestAwarenessStormIsCoalesced: many clients changing presence fast get
// every client's final state without a frame per change (which would
// overflow their queues).
func TestAwarenessStormIsCoalesced(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore()})
	defer reg.Shutdown(context.Background())
	const n, changes = 20, 50
	conns := make([]*Conn, n)
	peers := make([]*fakePeer, n)
	for i := range n {
		conns[i], peers[i] = join(t, reg, "r", false)
	}
	for k := 1; k <= changes; k++ {
		for i, c := range conns {
			state := fmt.Sprintf(`{"cursor":%d}`, k)
			payload := []byte{1, byte(100 + i), byte(k), byte(len(state))}
			if err := c.Receive(context.Background(), yprotocol.AppendAwarenessPayload(nil, append(payload, state...))); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := fmt.Sprintf(`{"cursor":%d}`, changes)
	for i, p := range peers {
		final := map[uint64]string{}
		frames := 0
		for len(final) < n || !allEqual(final, want) {
			m := p.nextKind(t, yprotocol.KindAwareness)
			frames++
			_ = yprotocol.DecodeAwareness(m.Payload, func(e yprotocol.AwarenessEntry) error {
				final[e.ClientID] = string(e.State)
				return nil
			})
		}
		if frames >= n*changes/2 {
			t.Errorf("peer %d: %d awareness frames for %d changes: not coalesced", i, frames, n*changes)
		}
	}
}

func allEqual(m map[uint64]string, want string) bool {
	for _, v := range m {
		if v != want {
			return false
		}
	}
	return true
}

func (s *memStore) Delete(_ context.Context, doc string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs[doc] == nil {
		return docstore.ErrNotFound
	}
	delete(s.docs, doc)
	return nil
}

// awarenessFrame is an awareness message setting client id's state.
func awarenessFrame(id, clock uint64, state string) []byte {
	return yprotocol.AppendAwareness(nil, []yprotocol.AwarenessEntry{{ClientID: id, Clock: clock, State: []byte(state)}})
}

func TestSpoofedAwarenessIsDropped(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore(), AwarenessBatch: -1})
	defer reg.Shutdown(context.Background())
	a, _ := join(t, reg, "r", false)
	mallory, _ := join(t, reg, "r", false)
	_, pc := join(t, reg, "r", false)
	if err := a.Receive(context.Background(), awarenessFrame(42, 1, `{"name":"ada"}`)); err != nil {
		t.Fatal(err)
	}
	if m := pc.nextKind(t, yprotocol.KindAwareness); !bytes.Contains(m.Payload, []byte("ada")) {
		t.Fatalf("relay %q", m.Payload)
	}
	// Mallory forges Ada's cursor, then her removal, then says who she is.
	for _, f := range [][]byte{awarenessFrame(42, 2, `{"name":"forged"}`), awarenessFrame(42, 3, "null"), awarenessFrame(7, 1, `{"name":"mallory"}`)} {
		if err := mallory.Receive(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	// The first awareness message the others see after Ada's is Mallory's own.
	m := pc.nextKind(t, yprotocol.KindAwareness)
	if !bytes.Contains(m.Payload, []byte("mallory")) || bytes.Contains(m.Payload, []byte("forged")) {
		t.Fatalf("after forgeries the room relayed %q", m.Payload)
	}
	if got := reg.Stats().Spoofed; got != 2 {
		t.Errorf("spoofed = %d, want 2", got)
	}
}

func TestSameUserTakesOverItsClientID(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore(), AwarenessBatch: -1})
	defer reg.Shutdown(context.Background())
	joinAs := func(user string) (*Conn, *fakePeer) {
		p := newPeer()
		c, err := reg.Join(context.Background(), "r", p, JoinOptions{User: user})
		if err != nil {
			t.Fatal(err)
		}
		return c, p
	}
	old, _ := joinAs("ada")
	_, watcher := joinAs("bob")
	if err := old.Receive(context.Background(), awarenessFrame(42, 1, `{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	watcher.nextKind(t, yprotocol.KindAwareness)
	// Ada's new connection, before the old one's end is noticed.
	fresh, _ := joinAs("ada")
	if err := fresh.Receive(context.Background(), awarenessFrame(42, 2, `{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	if m := watcher.nextKind(t, yprotocol.KindAwareness); !bytes.Contains(m.Payload, []byte(`{"v":2}`)) {
		t.Fatalf("take-over relay %q", m.Payload)
	}
	// The old connection's close no longer removes Ada.
	old.Leave()
	bob2, _ := joinAs("bob")
	if err := bob2.Receive(context.Background(), awarenessFrame(42, 3, `{"v":"bob"}`)); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Receive(context.Background(), awarenessFrame(42, 4, `{"v":4}`)); err != nil {
		t.Fatal(err)
	}
	m := watcher.nextKind(t, yprotocol.KindAwareness)
	if !bytes.Contains(m.Payload, []byte(`{"v":4}`)) {
		t.Fatalf("after the old connection left: %q (another user's take-over must be refused)", m.Payload)
	}
}

func TestMaxRoomsEvictsTheLongestIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		reg := NewRegistry(Options{Store: st, IdleTimeout: time.Hour, MaxRooms: 2})
		defer reg.Shutdown(context.Background())
		a, pa := join(t, reg, "a", false)
		if err := a.Receive(context.Background(), updateFrame(newEditor(1).insert(t, "in a"))); err != nil {
			t.Fatal(err)
		}
		pa.nextKind(t, yprotocol.KindUpdate)
		a.Leave()
		time.Sleep(time.Second)
		b, _ := join(t, reg, "b", false)
		b.Leave()
		time.Sleep(time.Second)
		synctest.Wait()
		// Both rooms are idle; "a" the longest: a third room evicts it.
		_, _ = join(t, reg, "c", false)
		synctest.Wait()
		if reg.Len() != 2 || reg.has("a") || !reg.has("b") {
			t.Fatalf("rooms after the third: %d, a %v, b %v", reg.Len(), reg.has("a"), reg.has("b"))
		}
		if got := st.content(t, "a"); got != "in a" {
			t.Fatalf("evicted room stored %q", got)
		}
		// "b" goes next; then every room has a connection and a fourth is refused.
		_, _ = join(t, reg, "d", false)
		synctest.Wait()
		if reg.has("b") {
			t.Fatal("b not evicted")
		}
		_, err := reg.Join(context.Background(), "e", newPeer(), JoinOptions{})
		if !errors.Is(err, ErrTooManyRooms) {
			t.Fatalf("fifth room: %v, want ErrTooManyRooms", err)
		}
		// An evicted room comes back with its content.
		if err := reg.View(context.Background(), "a", func(d *ydoc.Doc) error {
			if got := d.RootAs("t", ydoc.KindText).String(); got != "in a" {
				t.Errorf("a after eviction: %q", got)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeleteClosesConnectionsAndStartsEmpty(t *testing.T) {
	st := newMemStore()
	reg := NewRegistry(Options{Store: st})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	if err := a.Receive(context.Background(), updateFrame(newEditor(1).insert(t, "secret"))); err != nil {
		t.Fatal(err)
	}
	pa.nextKind(t, yprotocol.KindUpdate)
	if err := reg.Delete(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	if r := pa.waitClosed(t); r != CloseDeleted {
		t.Fatalf("closed with %v, want CloseDeleted", r)
	}
	if _, err := st.Load(context.Background(), "r"); !errors.Is(err, docstore.ErrNotFound) {
		t.Fatalf("store after delete: %v", err)
	}
	if err := reg.View(context.Background(), "r", func(*ydoc.Doc) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("View after delete: %v", err)
	}
	if err := reg.Delete(context.Background(), "r"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	b, pb := join(t, reg, "r", false)
	if err := b.Receive(context.Background(), yprotocol.AppendSyncStep1(nil, []byte{0})); err != nil {
		t.Fatal(err)
	}
	if got := textOf(t, pb.nextKind(t, yprotocol.KindSyncStep2).Payload); got != "" {
		t.Fatalf("after delete a new connection sees %q", got)
	}
}

func TestLiveRoomTakesIntervalVersions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		reg := NewRegistry(Options{Store: st, VersionInterval: 5 * time.Minute, IdleTimeout: time.Hour})
		defer reg.Shutdown(context.Background())
		a, pa := join(t, reg, "r", false)
		ed := newEditor(1)
		edit := func(s string) {
			t.Helper()
			if err := a.Receive(context.Background(), updateFrame(ed.insert(t, s))); err != nil {
				t.Fatal(err)
			}
			pa.nextKind(t, yprotocol.KindUpdate)
		}
		edit("first")
		time.Sleep(4 * time.Minute)
		edit(" second")
		synctest.Wait()
		if st.versions() != 0 {
			t.Fatalf("%d versions 4 minutes after the first change", st.versions())
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if st.versions() != 1 || st.trigger(0) != docstore.TriggerInterval {
			t.Fatalf("after 5 minutes: %d versions, want one interval version", st.versions())
		}
		if got := textOf(t, st.snapshotOf("r")); got != "first second" {
			t.Fatalf("interval version holds %q", got)
		}
		// No change, no version.
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		if st.versions() != 1 {
			t.Fatalf("%d versions after 20 quiet minutes", st.versions())
		}
		edit(" third")
		time.Sleep(5*time.Minute + time.Second)
		synctest.Wait()
		if st.versions() != 2 {
			t.Fatalf("%d versions 5 minutes after a new change, want 2", st.versions())
		}
	})
}

func (s *memStore) versions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compacts
}

func (s *memStore) trigger(i int) docstore.Trigger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.triggers[i]
}

func (s *memStore) snapshotOf(doc string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.docs[doc].Snapshot)
}

// TestJoinersShareOneFullState: clients that hold nothing get the same
// encoded full state until the document changes (a join storm costs one
// encoding per version), and a change gives the next one the new state.
func TestJoinersShareOneFullState(t *testing.T) {
	reg := NewRegistry(Options{Store: newMemStore()})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	e := newEditor(1)
	if err := a.Receive(context.Background(), updateFrame(e.insert(t, "hello"))); err != nil {
		t.Fatal(err)
	}
	pa.nextKind(t, yprotocol.KindUpdate)
	fullState := func() []byte {
		t.Helper()
		c, p := join(t, reg, "r", false)
		if err := c.Receive(context.Background(), yprotocol.AppendSyncStep1(nil, []byte{0})); err != nil {
			t.Fatal(err)
		}
		return p.nextKind(t, yprotocol.KindSyncStep2).Payload
	}
	s1, s2 := fullState(), fullState()
	if textOf(t, s1) != "hello" || &s1[0] != &s2[0] {
		t.Fatalf("joiners got %q and a state of its own (%p, %p); want one shared encoding", textOf(t, s1), &s1[0], &s2[0])
	}
	if err := a.Receive(context.Background(), updateFrame(e.insert(t, " world"))); err != nil {
		t.Fatal(err)
	}
	pa.nextKind(t, yprotocol.KindUpdate)
	if s3 := fullState(); textOf(t, s3) != "hello world" {
		t.Fatalf("after a change a joiner got %q", textOf(t, s3))
	}
}

// TestFormattingCleanupIsStoredAndRelayed: updates after which the room's
// document deletes redundant format items (Yjs's clean-up after a remote
// transaction; session s1-217 of ydoc's differential corpus, whose update
// 41 makes one) make the room store and relay that clean-up, to
// the sender as well: a client that applies what it received, and a
// document rebuilt from the store, both end where the room's document is.
func TestFormattingCleanupIsStoredAndRelayed(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "ydoc", "testdata", "diff", "s1-217.json"))
	if err != nil {
		t.Fatal(err)
	}
	var session struct{ Updates []string }
	if err := json.Unmarshal(raw, &session); err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	reg := NewRegistry(Options{Store: st})
	defer reg.Shutdown(context.Background())
	a, pa := join(t, reg, "r", false)
	_, pb := join(t, reg, "r", false)

	want := ydoc.New(ydoc.Options{}) // the room's document, as ydoc makes it
	var cleanups [][]byte
	for i, b64 := range session.Updates {
		u, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		_, cleanup, err := want.ApplyWithCleanup(u)
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if cleanup != nil {
			cleanups = append(cleanups, cleanup)
		}
		if err := a.Receive(context.Background(), updateFrame(u)); err != nil {
			t.Fatal(err)
		}
	}
	if len(cleanups) == 0 {
		t.Fatal("the session makes no clean-up: the test would prove nothing")
	}
	cleaned, err := ydoc.MergeUpdates(cleanups...)
	if err != nil {
		t.Fatal(err)
	}
	_, cleanDel, _ := ydoc.UpdateRanges(cleaned)

	// Everything is relayed once it is stored; the room may merge updates
	// that queued up behind a commit. Read until the room has been quiet
	// for a while.
	for name, p := range map[string]*fakePeer{"sender": pa, "other": pb} {
		var got [][]byte
	read:
		for {
			select {
			case f := <-p.frames:
				_ = yprotocol.Decode(f, func(m yprotocol.Message) error {
					if m.Kind == yprotocol.KindUpdate {
						got = append(got, m.Payload)
					}
					return nil
				})
			case <-time.After(300 * time.Millisecond):
				break read
			}
		}
		if !coversDeletes(t, got, cleanDel) {
			t.Errorf("%s did not receive the room's clean-up (deletes %v)", name, cleanDel)
		}
	}
	s, err := st.Load(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	var log [][]byte
	stored := ydoc.New(ydoc.Options{})
	for _, e := range s.Entries {
		log = append(log, e.Update)
		if err := stored.ApplyUpdate(e.Update); err != nil {
			t.Fatal(err)
		}
	}
	if !coversDeletes(t, log, cleanDel) {
		t.Errorf("the log lacks the room's clean-up (deletes %v)", cleanDel)
	}
	if g, w := deletedText(t, stored), deletedText(t, want); g != w {
		t.Errorf("rebuilt from the store: %s, want %s", g, w)
	}
}

// coversDeletes reports whether the updates together delete every range of
// want.
func coversDeletes(t *testing.T, updates [][]byte, want []ydoc.IDRange) bool {
	t.Helper()
	if len(updates) == 0 {
		return false
	}
	merged, err := ydoc.MergeUpdates(updates...)
	if err != nil {
		t.Fatal(err)
	}
	_, del, err := ydoc.UpdateRanges(merged)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !slices.ContainsFunc(del, func(r ydoc.IDRange) bool {
			return r.Client == w.Client && r.Clock <= w.Clock && w.Clock+w.Len <= r.Clock+r.Len
		}) {
			return false
		}
	}
	return true
}

// deletedText describes what a document deletes and how its text and XML
// read: two documents with the same updates and clean-ups agree on it.
func deletedText(t *testing.T, d *ydoc.Doc) string {
	t.Helper()
	_, del, err := ydoc.UpdateRanges(d.EncodeStateAsUpdate(nil))
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("deleted %v", del)
	for _, name := range d.RootNames() {
		out += fmt.Sprintf("; %s %q %v", name, d.Root(name).String(), d.Root(name).Delta())
	}
	return out
}
