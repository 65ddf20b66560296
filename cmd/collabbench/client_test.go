package main

import (
	"bytes"
	"context"
	"hash/maphash"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabd/collabd/lib0"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/server"
	"github.com/collabd/collabd/ydoc"
	"github.com/collabd/collabd/yprotocol"
)

// testRoom returns a room with two updates, a writer and a reader, both
// sending presence, and a measuring window that covers everything.
func testRoom(t *testing.T) (*bench, *room, *client, *client) {
	t.Helper()
	b := &bench{epoch: time.Now().Add(-time.Second), hashSeed: maphash.MakeSeed()}
	b.winStart.Store(0)
	b.winEnd.Store(math.MaxInt64)
	rm := &room{
		name:    "r",
		turn:    1,
		updates: [][]byte{{1, 2, 3}, {4, 5, 6}},
		index:   map[string]int32{"\x01\x02\x03": 0, "\x04\x05\x06": 1},
		sendNs:  make([]atomic.Int64, 2),
		byYID:   map[uint64]*client{},
	}
	w := b.newClient(0, rm, roleWriter)
	r := b.newClient(1, rm, roleReader)
	rm.writers = []*client{w}
	for i, c := range []*client{w, r} {
		c.yid = uint64(100 + i)
		c.got = make([]uint64, 1)
		c.awSendNs = make([]atomic.Int64, 8)
		rm.byYID[c.yid] = c
	}
	return b, rm, w, r
}

func awarenessFrame(id, clock uint64, state string) []byte {
	e := yprotocol.AwarenessEntry{ClientID: id, Clock: clock}
	if state != "" {
		e.State = []byte(state)
	}
	return yprotocol.AppendAwareness(nil, []yprotocol.AwarenessEntry{e})
}

func TestClientHandle(t *testing.T) {
	b, rm, w, r := testRoom(t)
	now := b.now()

	// The server's SyncStep1 is answered with an empty SyncStep2.
	reply := r.handle(yprotocol.AppendSyncStep1(nil, []byte{0}), now, nil)
	if want := yprotocol.AppendSyncStep2(nil, emptyUpdate); !bytes.Equal(reply, want) {
		t.Errorf("reply to sync step 1 = %x, want %x", reply, want)
	}
	// Its SyncStep2 completes the handshake.
	r.handle(yprotocol.AppendSyncStep2(nil, emptyUpdate), now, nil)
	select {
	case <-r.synced:
	default:
		t.Error("not synced after sync step 2")
	}

	rm.sendNs[0].Store(now - int64(2*time.Millisecond))
	rm.sendNs[1].Store(now - int64(time.Millisecond))
	// Several messages in one frame are all read.
	frame := yprotocol.AppendUpdate(nil, rm.updates[0])
	frame = yprotocol.AppendUpdate(frame, emptyUpdate)
	frame = yprotocol.AppendUpdate(frame, []byte{9, 9})
	r.handle(frame, now, nil)
	r.handle(yprotocol.AppendUpdate(nil, rm.updates[0]), now, nil)
	w.handle(yprotocol.AppendUpdate(nil, rm.updates[0]), now, nil)

	if r.gotN != 1 || r.dups != 1 || r.noop != 1 || r.unknown != 1 {
		t.Errorf("reader: got %d, dups %d, noop %d, unknown %d; want 1 each", r.gotN, r.dups, r.noop, r.unknown)
	}
	if r.fanout.n != 1 || r.fanout.max != int64(2*time.Millisecond) || r.echo.n != 0 {
		t.Errorf("reader: fan-out %d samples (max %d), echo %d; want 1 (2ms), 0", r.fanout.n, r.fanout.max, r.echo.n)
	}
	if w.echo.n != 1 || w.fanout.n != 0 {
		t.Errorf("writer: echo %d samples, fan-out %d; want 1, 0", w.echo.n, w.fanout.n)
	}

	rm.expected = 2
	if r.complete() {
		t.Error("reader complete with one update of two")
	}
	r.handle(yprotocol.AppendUpdate(nil, rm.updates[1]), now, nil)

	// Presence: the writer's last state is clock 3.
	w.awClock, w.awState = 3, []byte(`{"c":3}`)
	w.awSendNs[3].Store(now - int64(time.Millisecond))
	r.handle(awarenessFrame(w.yid, 3, `{"c":3}`), now, nil)
	r.handle(awarenessFrame(w.yid, 2, `{"c":2}`), now, nil)  // stale: ignored
	r.handle(awarenessFrame(r.yid, 9, `{"me":1}`), now, nil) // its own: ignored
	r.handle(awarenessFrame(777, 1, `{}`), now, nil)         // not ours: ignored
	if v := r.view[w.yid]; v.clock != 3 || v.null {
		t.Errorf("view of the writer = %+v, want clock 3", v)
	}
	if r.awEntries != 2 || r.awLat.n != 1 {
		t.Errorf("presence entries %d, latency samples %d; want 2, 1", r.awEntries, r.awLat.n)
	}
	if !r.complete() {
		t.Error("reader not complete with every update and the writer's final state")
	}
	// An equal clock with null removes the writer: the view is stale.
	r.handle(awarenessFrame(w.yid, 3, ""), now, nil)
	if r.complete() {
		t.Error("reader complete although the writer was removed")
	}
	if r.closeErr != nil {
		t.Errorf("closeErr = %v", r.closeErr)
	}
	r.handle([]byte{0x7f}, now, nil)
	if r.closeErr == nil {
		t.Error("a frame that does not decode left no error")
	}
}

// inProcessServer starts a collabd (memory only) for the test and returns
// its WebSocket base URL.
func inProcessServer(t *testing.T) string {
	t.Helper()
	reg := rooms.NewRegistry(rooms.Options{})
	srv := server.New(server.Options{Registry: reg})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reg.Shutdown(ctx)
		srv.Wait(ctx)
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// TestRunInProcess runs the tool against an in-process collabd (memory
// only) with writers, presence and idle connections, and checks that
// everything is delivered and that the report says so.
func TestRunInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a small load for a second")
	}
	wsURL := inProcessServer(t)

	tracePath := filepath.Join(t.TempDir(), "trace.json")
	if err := os.WriteFile(tracePath, []byte(smallTrace), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	args := []string{
		"-url", wsURL,
		"-trace", tracePath,
		"-clients", "6", "-rooms", "2", "-writers", "2", "-turn", "3",
		"-rate", "100", "-awareness-rate", "20",
		"-idle", "4", "-idle-rooms", "3",
		"-warmup", "200ms", "-duration", "600ms", "-drain", "5s", "-settle", "0s",
		"-label", "in-process", "-json", jsonPath,
	}
	var out, errs strings.Builder
	err := run(t.Context(), args, &out, &errs)
	t.Logf("table:\n%s\nlog:\n%s", out.String(), errs.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PASS  every update delivered", "PASS  every client has every other client's final presence", "fan-out latency"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	js, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"passed": true`, `"undelivered": 0`, `"final_mismatches": 0`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	var sum strings.Builder
	if err := run(t.Context(), []string{"summarize", jsonPath}, &sum, &errs); err != nil {
		t.Fatal(err)
	}
	if row := sum.String(); !strings.Contains(row, "| in-process | 6 clients + 4 idle, 2 rooms, 100 upd/s/room, 20 Hz presence/client |") || !strings.Contains(row, "| all pass |") {
		t.Errorf("summary:\n%s", row)
	}
}

// TestMergedRelay: a relay that merges several of the room's updates
// delivers each of them, and a merge missing part of an update credits
// only the updates it holds whole.
func TestMergedRelay(t *testing.T) {
	b, rm, _, r := testRoom(t)
	d := ydoc.New(ydoc.Options{ClientID: 42})
	text := d.Root("t")
	var ups [][]byte
	for _, fn := range []func(tx *ydoc.Txn) error{
		func(tx *ydoc.Txn) error { return tx.InsertText(text, 0, "abc") },
		func(tx *ydoc.Txn) error { return tx.Delete(text, 1, 1) },
		func(tx *ydoc.Txn) error { return tx.InsertText(text, 0, "xy") },
		func(tx *ydoc.Txn) error { return tx.InsertText(text, 0, "z") },
	} {
		u, err := d.Transact(fn)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	rm.updates = ups
	rm.index = map[string]int32{}
	for i, u := range ups {
		rm.index[string(u)] = int32(i)
	}
	rm.sendNs = make([]atomic.Int64, len(ups))
	r.got = make([]uint64, 1)
	now := b.now()
	for i := range ups {
		rm.sendNs[i].Store(now - int64(time.Millisecond))
	}
	merged, err := ydoc.MergeUpdates(ups[0], ups[1], ups[2])
	if err != nil {
		t.Fatal(err)
	}
	r.handle(yprotocol.AppendUpdate(nil, merged), now, nil)
	if r.gotN != 3 || r.mergedRelays != 1 || r.unknown != 0 || r.fanout.n != 3 {
		t.Fatalf("merged relay of 3: got %d, merged %d, unknown %d, fan-out samples %d", r.gotN, r.mergedRelays, r.unknown, r.fanout.n)
	}
	// Update 3 alone is new; then all four merged again are duplicates.
	r.handle(yprotocol.AppendUpdate(nil, ups[3]), now, nil)
	all, err := ydoc.MergeUpdates(ups...)
	if err != nil {
		t.Fatal(err)
	}
	r.handle(yprotocol.AppendUpdate(nil, all), now, nil)
	if r.gotN != 4 || r.dups != 4 {
		t.Errorf("after the full merge: got %d, dups %d; want 4, 4", r.gotN, r.dups)
	}
	// A diff that holds only part of update 0's insert credits nothing of it.
	part, err := ydoc.DiffUpdate(ups[0], encodeSV(t, 42, 1))
	if err != nil {
		t.Fatal(err)
	}
	r2 := b.newClient(2, rm, roleReader)
	r2.got = make([]uint64, 1)
	r2.handle(yprotocol.AppendUpdate(nil, part), now, nil)
	if r2.gotN != 0 || r2.unknown != 1 {
		t.Errorf("partial update: got %d, unknown %d; want 0, 1", r2.gotN, r2.unknown)
	}
}

// encodeSV encodes a state vector of one client.
func encodeSV(t *testing.T, client, clock uint64) []byte {
	t.Helper()
	return lib0.AppendVarUint(lib0.AppendVarUint(lib0.AppendVarUint(nil, 1), client), clock)
}

// TestJoinStormInProcess: a small storm against an in-process collabd:
// every client gets the whole seeded document.
func TestJoinStormInProcess(t *testing.T) {
	wsURL := inProcessServer(t)
	var out, errs strings.Builder
	err := run(t.Context(), []string{"joinstorm", "-url", wsURL,
		"-clients", "12", "-rooms", "3", "-doc-size", "65536", "-within", "100ms", "-json", "-"}, &out, &errs)
	t.Logf("out:\n%s\nlog:\n%s", out.String(), errs.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"synced             12 (0 failed)", `"passed": true`, `"count": 12`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
