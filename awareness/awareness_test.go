package awareness

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/collabd/collabd/yprotocol"
)

var t0 = time.Date(2025, 11, 26, 12, 0, 0, 0, time.UTC)

// entry builds an awareness entry; state "" means null.
func entry(id, clock uint64, state string) yprotocol.AwarenessEntry {
	if state == "" {
		return yprotocol.AwarenessEntry{ClientID: id, Clock: clock}
	}
	return yprotocol.AwarenessEntry{ClientID: id, Clock: clock, State: []byte(state)}
}

func update(entries ...yprotocol.AwarenessEntry) []byte {
	return yprotocol.AppendAwarenessUpdate(nil, entries)
}

func mustApply(t *testing.T, s *State, conn ConnID, now time.Time, entries ...yprotocol.AwarenessEntry) Changes {
	t.Helper()
	ch, err := s.Apply(conn, update(entries...), now)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	checkInvariants(t, s)
	return ch
}

// checkInvariants checks the State's bookkeeping.
func checkInvariants(t *testing.T, s *State) {
	t.Helper()
	live := 0
	for id, c := range s.clients {
		if c.state != nil {
			live++
		} else if c.conn != 0 {
			t.Fatalf("tombstone %d has connection %d", id, c.conn)
		}
	}
	if live != s.live {
		t.Fatalf("live = %d, counted %d", s.live, live)
	}
	if len(s.clients) > s.opts.MaxClients {
		t.Fatalf("%d clients tracked, MaxClients %d", len(s.clients), s.opts.MaxClients)
	}
	valid := 0
	for _, tb := range s.tombs[s.head:] {
		if s.isTomb(tb) {
			valid++
		}
	}
	if tombstones := len(s.clients) - s.live; valid < tombstones {
		t.Fatalf("%d tombstones but %d records", tombstones, valid)
	}
}

// frameEntriesOf decodes Changes.Frame into "id:clock:state" strings.
func frameEntriesOf(t *testing.T, frame []byte) []string {
	t.Helper()
	if frame == nil {
		return nil
	}
	var out []string
	n := 0
	err := yprotocol.Decode(frame, func(m yprotocol.Message) error {
		n++
		if m.Kind != yprotocol.KindAwareness {
			t.Fatalf("Frame holds a %v message", m.Kind)
		}
		return yprotocol.DecodeAwareness(m.Payload, func(e yprotocol.AwarenessEntry) error {
			out = append(out, strings.Join([]string{u(e.ClientID), u(e.Clock), string(e.State)}, ":"))
			return nil
		})
	})
	if err != nil || n != 1 {
		t.Fatalf("Frame %x: %d messages, %v", frame, n, err)
	}
	return out
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

func TestClockRule(t *testing.T) {
	const s1, s2 = `{"n":1}`, `{"n":2}`
	tests := []struct {
		name   string
		before []yprotocol.AwarenessEntry // applied first
		in     yprotocol.AwarenessEntry
		want   string // "added", "updated", "removed" or "" (nothing reported)
		clock  uint64 // known clock afterwards
		state  string // state afterwards, "" for none
	}{
		{"new client", nil, entry(1, 1, s1), "added", 1, s1},
		{"new client at clock 0 loses to the implicit 0", nil, entry(1, 0, s1), "", 0, ""},
		{"newer clock", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 6, s2), "updated", 6, s2},
		{"renewal with the same state", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 6, s1), "updated", 6, s1},
		{"much newer clock", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 1<<40, s2), "updated", 1 << 40, s2},
		{"same clock (echo)", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 5, s2), "", 5, s1},
		{"older clock", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 4, s2), "", 5, s1},
		{"null at the same clock removes", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 5, ""), "removed", 5, ""},
		{"null at a newer clock removes", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 7, ""), "removed", 7, ""},
		{"null at an older clock is ignored", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 4, ""), "", 5, s1},
		{"null with whitespace", []yprotocol.AwarenessEntry{entry(1, 5, s1)}, entry(1, 5, " null\n"), "removed", 5, ""},
		{"removed client stays removed at its clock", []yprotocol.AwarenessEntry{entry(1, 5, s1), entry(1, 5, "")}, entry(1, 5, s2), "", 5, ""},
		{"removed client, older clock", []yprotocol.AwarenessEntry{entry(1, 5, s1), entry(1, 5, "")}, entry(1, 3, s2), "", 5, ""},
		{"removed client, null again", []yprotocol.AwarenessEntry{entry(1, 5, s1), entry(1, 5, "")}, entry(1, 5, ""), "", 5, ""},
		{"removed client, newer clock comes back", []yprotocol.AwarenessEntry{entry(1, 5, s1), entry(1, 5, "")}, entry(1, 6, s2), "added", 6, s2},
		{"removed client, newer null", []yprotocol.AwarenessEntry{entry(1, 5, s1), entry(1, 5, "")}, entry(1, 6, ""), "", 6, ""},
		{"unknown client's removal is remembered", []yprotocol.AwarenessEntry{entry(1, 3, "")}, entry(1, 3, s1), "", 3, ""},
		{"after an unknown client's removal, newer clock", []yprotocol.AwarenessEntry{entry(1, 3, "")}, entry(1, 4, s1), "added", 4, s1},
		{"JSON scalars are states", nil, entry(1, 1, `false`), "added", 1, "false"},
		{"a JSON string null is a state", nil, entry(1, 1, `"null"`), "added", 1, `"null"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			for _, e := range tt.before {
				mustApply(t, s, 1, t0, e)
			}
			ch := mustApply(t, s, 1, t0.Add(time.Second), tt.in)
			var got string
			switch {
			case len(ch.Added) == 1:
				got = "added"
			case len(ch.Updated) == 1:
				got = "updated"
			case len(ch.Removed) == 1:
				got = "removed"
			}
			if got != tt.want || len(ch.Added)+len(ch.Updated)+len(ch.Removed) > 1 {
				t.Errorf("changes %+v, want %s", ch, tt.want)
			}
			if (tt.want == "") != (ch.Frame == nil) || ch.Empty() != (tt.want == "") {
				t.Errorf("Frame %x for change %q", ch.Frame, tt.want)
			}
			if tt.want != "" {
				state := tt.state
				if state == "" {
					state = "null"
				}
				want := []string{u(tt.in.ClientID) + ":" + u(tt.clock) + ":" + state}
				if got := frameEntriesOf(t, ch.Frame); !slices.Equal(got, want) {
					t.Errorf("Frame entries %q, want %q", got, want)
				}
			}
			c, ok := s.Get(tt.in.ClientID)
			if tt.clock > 0 && !ok {
				t.Fatal("client not tracked")
			}
			if c.Clock != tt.clock || string(c.State) != tt.state || (tt.state == "") != (c.State == nil) {
				t.Errorf("Get = clock %d, state %q; want %d, %q", c.Clock, c.State, tt.clock, tt.state)
			}
			wantLen := 0
			if tt.state != "" {
				wantLen = 1
			}
			if s.Len() != wantLen {
				t.Errorf("Len = %d, want %d", s.Len(), wantLen)
			}
		})
	}
}

func TestApplySeveralEntries(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, 1, t0, entry(1, 1, `{"a":1}`), entry(2, 1, `{"b":1}`))
	ch := mustApply(t, s, 1, t0,
		entry(2, 1, ""),            // removed
		entry(3, 1, `{ "c" : 3 }`), // added, whitespace kept
		entry(1, 2, `{"a":2}`),     // updated
		entry(4, 0, `{"d":4}`),     // ignored
		entry(1, 1, `{"a":0}`),     // ignored
	)
	if !slices.Equal(ch.Added, []uint64{3}) || !slices.Equal(ch.Updated, []uint64{1}) || !slices.Equal(ch.Removed, []uint64{2}) {
		t.Errorf("changes %+v", ch)
	}
	// Added, then updated, then removed, as y-protocols broadcasts them.
	want := []string{`3:1:{ "c" : 3 }`, `1:2:{"a":2}`, `2:1:null`}
	if got := frameEntriesOf(t, ch.Frame); !slices.Equal(got, want) {
		t.Errorf("Frame entries %q, want %q", got, want)
	}
}

func TestApplySameClientTwice(t *testing.T) {
	s := New(Options{})
	ch := mustApply(t, s, 1, t0, entry(1, 1, `{"v":1}`), entry(1, 2, `{"v":2}`))
	if !slices.Equal(ch.Added, []uint64{1}) || len(ch.Updated) != 0 {
		t.Errorf("changes %+v, want client 1 added once", ch)
	}
	if got, want := frameEntriesOf(t, ch.Frame), []string{`1:2:{"v":2}`}; !slices.Equal(got, want) {
		t.Errorf("Frame entries %q, want %q", got, want)
	}
	// Present before, removed and back within one update: updated.
	ch = mustApply(t, s, 1, t0, entry(1, 3, ""), entry(1, 4, `{"v":4}`))
	if !slices.Equal(ch.Updated, []uint64{1}) || len(ch.Added)+len(ch.Removed) != 0 {
		t.Errorf("changes %+v, want client 1 updated", ch)
	}
	// Added and removed within one update: nothing to tell.
	ch = mustApply(t, s, 1, t0, entry(9, 1, `{}`), entry(9, 1, ""))
	if !ch.Empty() || ch.Frame != nil {
		t.Errorf("changes %+v, want none", ch)
	}
	if c, ok := s.Get(9); !ok || c.Clock != 1 || c.State != nil {
		t.Errorf("Get(9) = %+v, %v; want a tombstone at clock 1", c, ok)
	}
}

func TestApplyErrors(t *testing.T) {
	big := `"` + strings.Repeat("x", 98) + `"` // 100 bytes
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"not an awareness update", []byte{5, 1}, yprotocol.ErrMalformed},
		{"empty", nil, yprotocol.ErrMalformed},
		{"trailing bytes", append(update(entry(1, 1, `{}`)), 0), yprotocol.ErrMalformed},
		{"state not JSON", update(entry(1, 1, `{"a":}`)), ErrInvalidState},
		{"empty state", []byte{1, 1, 1, 0}, ErrInvalidState},
		{"two JSON values", update(entry(1, 1, `{} {}`)), ErrInvalidState},
		{"state not UTF-8", []byte{1, 1, 1, 3, '"', 0xff, '"'}, yprotocol.ErrMalformed},
		{"bad state after good entries", update(entry(1, 9, `{"ok":1}`), entry(7, 1, `{"ok":2}`), entry(2, 1, `nope`)), ErrInvalidState},
		{"state too large", update(entry(1, 9, `{}`), entry(2, 1, big+" ")), ErrStateTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{MaxStateSize: 100})
			mustApply(t, s, 1, t0, entry(1, 1, `{"v":1}`))
			before, _ := s.Get(1)
			ch, err := s.Apply(1, tt.payload, t0.Add(time.Second))
			if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "awareness: apply update: ") {
				t.Fatalf("Apply error = %v, want %v", err, tt.want)
			}
			if !ch.Empty() || ch.Frame != nil {
				t.Errorf("changes %+v on error", ch)
			}
			after, _ := s.Get(1)
			if after.Clock != before.Clock || !bytes.Equal(after.State, before.State) || s.Len() != 1 || len(s.clients) != 1 {
				t.Errorf("a rejected update changed the state: %+v -> %+v, %d clients", before, after, len(s.clients))
			}
		})
	}
	s := New(Options{MaxStateSize: 100})
	if _, err := s.Apply(1, update(entry(1, 1, big)), t0); err != nil {
		t.Errorf("state of exactly MaxStateSize: %v", err)
	}
}

func TestApplyCopiesStates(t *testing.T) {
	s := New(Options{})
	p := update(entry(1, 1, `{"name":"a"}`))
	if _, err := s.Apply(1, p, t0); err != nil {
		t.Fatal(err)
	}
	for i := range p {
		p[i] = 0
	}
	if c, _ := s.Get(1); string(c.State) != `{"name":"a"}` {
		t.Errorf("state changed with the caller's buffer: %q", c.State)
	}
	for _, e := range s.entries[:cap(s.entries)] {
		if e.State != nil {
			t.Fatal("scratch space keeps a reference to the update")
		}
	}
}

func TestRemoveConn(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, 1, t0, entry(7, 3, `{"a":1}`), entry(5, 1, `{"b":1}`))
	mustApply(t, s, 2, t0, entry(6, 1, `{"c":1}`))
	mustApply(t, s, 1, t0, entry(8, 2, "")) // tombstone, not owned
	if ch := s.RemoveConn(0, t0); !ch.Empty() || ch.Frame != nil {
		t.Errorf("RemoveConn(0) = %+v", ch)
	}
	if ch := s.RemoveConn(9, t0); !ch.Empty() || ch.Frame != nil {
		t.Errorf("RemoveConn of an unknown connection = %+v", ch)
	}
	ch := s.RemoveConn(1, t0.Add(time.Second))
	checkInvariants(t, s)
	if !slices.Equal(ch.Removed, []uint64{5, 7}) || len(ch.Added)+len(ch.Updated) != 0 {
		t.Fatalf("RemoveConn(1) = %+v, want clients 5 and 7 removed", ch)
	}
	// Same clocks, null states: every peer drops them by the equal-clock rule.
	if got, want := frameEntriesOf(t, ch.Frame), []string{"5:1:null", "7:3:null"}; !slices.Equal(got, want) {
		t.Errorf("Frame entries %q, want %q", got, want)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
	if ch := s.RemoveConn(1, t0.Add(time.Second)); !ch.Empty() {
		t.Errorf("second RemoveConn(1) = %+v", ch)
	}
	// A late echo of a removed client's last state does not revive it...
	if ch := mustApply(t, s, 2, t0, entry(7, 3, `{"a":1}`)); !ch.Empty() {
		t.Errorf("echo revived a removed client: %+v", ch)
	}
	// ...its next renewal does, now owned by the new connection.
	if ch := mustApply(t, s, 3, t0, entry(7, 4, `{"a":1}`)); !slices.Equal(ch.Added, []uint64{7}) {
		t.Errorf("renewal after removal: %+v", ch)
	}
	if c, _ := s.Get(7); c.Conn != 3 {
		t.Errorf("client 7 owned by %d, want 3", c.Conn)
	}
}

func TestOwnership(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, 1, t0, entry(1, 1, `{"me":1}`))
	// Another connection can neither replace nor remove client 1's state,
	// whatever the clock.
	for _, e := range []yprotocol.AwarenessEntry{entry(1, 2, `{"forged":1}`), entry(1, 1, ""), entry(1, 9, "")} {
		if ch := mustApply(t, s, 2, t0, e); !ch.Empty() || ch.Spoofed != 1 {
			t.Errorf("conn 2 sent %+v: changes %+v, want 1 spoofed", e, ch)
		}
	}
	if c, _ := s.Get(1); string(c.State) != `{"me":1}` || c.Clock != 1 {
		t.Fatalf("client 1 = %+v after forgeries", c)
	}
	// An echo of the current state is not a forgery: it loses to the clock.
	if ch := mustApply(t, s, 2, t0, entry(1, 1, `{"me":1}`)); ch.Spoofed != 0 || !ch.Empty() {
		t.Errorf("echo: %+v", ch)
	}
	// The owner removes and renews its own state; it keeps the ID while
	// connected, even once the tombstone is forgotten.
	mustApply(t, s, 1, t0, entry(1, 2, ""))
	s.Expire(t0.Add(time.Hour))
	if _, ok := s.Get(1); ok {
		t.Fatal("tombstone not forgotten")
	}
	if ch := mustApply(t, s, 2, t0.Add(time.Hour), entry(1, 3, `{}`)); ch.Spoofed != 1 {
		t.Errorf("conn 2 claimed a forgotten tombstone of a live owner: %+v", ch)
	}
	if ch := mustApply(t, s, 1, t0.Add(time.Hour), entry(1, 3, `{}`)); !slices.Equal(ch.Added, []uint64{1}) {
		t.Errorf("owner renewing: %+v", ch)
	}
	// Closing the owner releases the ID: the next connection may claim it.
	s.RemoveConn(1, t0.Add(time.Hour))
	if s.Owner(1) != 0 {
		t.Fatalf("owner %d after RemoveConn", s.Owner(1))
	}
	if ch := mustApply(t, s, 2, t0.Add(time.Hour), entry(1, 4, `{}`)); !slices.Equal(ch.Added, []uint64{1}) || s.Owner(1) != 2 {
		t.Errorf("claim after release: %+v, owner %d", ch, s.Owner(1))
	}
	// Connection 0 belongs to nobody: it cannot change an owned ID.
	if ch := mustApply(t, s, 0, t0.Add(time.Hour), entry(1, 5, "")); ch.Spoofed != 1 {
		t.Errorf("conn 0: %+v", ch)
	}
}

func TestTakeOver(t *testing.T) {
	sameUser := map[ConnID]string{1: "ada", 2: "ada", 3: "bob"}
	s := New(Options{MayTakeOver: func(owner, conn ConnID) bool { return sameUser[owner] == sameUser[conn] }})
	mustApply(t, s, 1, t0, entry(1, 1, `{}`))
	if ch := mustApply(t, s, 3, t0, entry(1, 2, `{}`)); ch.Spoofed != 1 {
		t.Fatalf("another user took the ID over: %+v", ch)
	}
	// Ada reconnected on 2 before 1's close was noticed.
	if ch := mustApply(t, s, 2, t0, entry(1, 2, `{}`)); !slices.Equal(ch.Updated, []uint64{1}) || s.Owner(1) != 2 {
		t.Fatalf("take-over: %+v, owner %d", ch, s.Owner(1))
	}
	if ch := s.RemoveConn(1, t0); !ch.Empty() {
		t.Errorf("closing the old connection removed the client: %+v", ch)
	}
	if ch := s.RemoveConn(2, t0); !slices.Equal(ch.Removed, []uint64{1}) || s.Owner(1) != 0 {
		t.Errorf("closing the current connection: %+v, owner %d", ch, s.Owner(1))
	}
}

func TestMaxClientsPerConn(t *testing.T) {
	s := New(Options{MaxClientsPerConn: 2})
	ch := mustApply(t, s, 1, t0, entry(1, 1, `{}`), entry(2, 1, `{}`), entry(3, 1, `{}`))
	if !slices.Equal(ch.Added, []uint64{1, 2}) || ch.Dropped != 1 {
		t.Fatalf("changes %+v, want 2 added and 1 dropped", ch)
	}
	if ch := mustApply(t, s, 2, t0, entry(3, 1, `{}`)); !slices.Equal(ch.Added, []uint64{3}) {
		t.Errorf("another connection's first ID: %+v", ch)
	}
	s.RemoveConn(1, t0)
	if ch := mustApply(t, s, 1, t0, entry(4, 1, `{}`)); !slices.Equal(ch.Added, []uint64{4}) {
		t.Errorf("after release: %+v", ch)
	}
}

func TestExpire(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, 1, t0, entry(1, 1, `{"a":1}`))
	mustApply(t, s, 1, t0.Add(10*time.Second), entry(2, 1, `{"b":1}`))
	mustApply(t, s, 1, t0.Add(5*time.Second), entry(3, 1, ""))
	if ch := s.Expire(t0.Add(30*time.Second - time.Millisecond)); !ch.Empty() || ch.Frame != nil {
		t.Fatalf("Expire before 30 s: %+v", ch)
	}
	ch := s.Expire(t0.Add(30 * time.Second))
	checkInvariants(t, s)
	if !slices.Equal(ch.Removed, []uint64{1}) {
		t.Fatalf("Expire at 30 s = %+v, want client 1 removed", ch)
	}
	if got, want := frameEntriesOf(t, ch.Frame), []string{"1:1:null"}; !slices.Equal(got, want) {
		t.Errorf("Frame entries %q, want %q", got, want)
	}
	// A renewed client does not expire.
	mustApply(t, s, 1, t0.Add(35*time.Second), entry(2, 2, `{"b":2}`))
	if ch := s.Expire(t0.Add(50 * time.Second)); !ch.Empty() {
		t.Errorf("renewed client expired: %+v", ch)
	}
	// Client 3's tombstone (made at 5 s) is forgotten 30 s later, client 1's
	// (made when it expired at 30 s) at 60 s.
	if _, ok := s.Get(3); ok {
		t.Error("tombstone of client 3 kept past its timeout")
	}
	if c, ok := s.Get(1); !ok || c.State != nil || c.Clock != 1 {
		t.Errorf("Get(1) = %+v, %v; want the tombstone", c, ok)
	}
	s.Expire(t0.Add(60 * time.Second))
	checkInvariants(t, s)
	if _, ok := s.Get(1); ok {
		t.Error("tombstone of client 1 kept past its timeout")
	}
	if ch := s.Expire(t0.Add(65 * time.Second)); !slices.Equal(ch.Removed, []uint64{2}) {
		t.Errorf("Expire at 65 s = %+v, want client 2 removed", ch)
	}
}

func TestExpireCustomTimeout(t *testing.T) {
	s := New(Options{Timeout: time.Second})
	mustApply(t, s, 1, t0, entry(1, 1, `{}`))
	if ch := s.Expire(t0.Add(time.Second)); !slices.Equal(ch.Removed, []uint64{1}) {
		t.Errorf("Expire = %+v", ch)
	}
}

func TestMaxClients(t *testing.T) {
	s := New(Options{MaxClients: 3})
	mustApply(t, s, 1, t0, entry(1, 1, `{}`), entry(2, 1, `{}`), entry(3, 1, `{}`))
	ch := mustApply(t, s, 1, t0, entry(4, 1, `{}`), entry(5, 1, ""))
	if ch.Dropped != 1 || !ch.Empty() || s.Len() != 3 {
		t.Fatalf("full State: changes %+v, Len %d; want 1 dropped", ch, s.Len())
	}
	if _, ok := s.Get(5); ok {
		t.Error("a removal of an unknown client was recorded in a full State")
	}
	// Removing a client in the same update does not make room: its
	// tombstone is needed to report the removal.
	ch = mustApply(t, s, 1, t0, entry(1, 1, ""), entry(4, 1, `{}`))
	if !slices.Equal(ch.Removed, []uint64{1}) || ch.Dropped != 1 {
		t.Fatalf("changes %+v, want 1 removed and 1 dropped", ch)
	}
	if got, want := frameEntriesOf(t, ch.Frame), []string{"1:1:null"}; !slices.Equal(got, want) {
		t.Errorf("Frame entries %q, want %q", got, want)
	}
	// The next update evicts the oldest tombstone.
	ch = mustApply(t, s, 1, t0.Add(time.Second), entry(4, 1, `{}`))
	if !slices.Equal(ch.Added, []uint64{4}) || ch.Dropped != 0 {
		t.Fatalf("changes %+v, want 4 added", ch)
	}
	if _, ok := s.Get(1); ok {
		t.Error("tombstone of client 1 not evicted")
	}
	// Updates of tracked clients still work when full.
	if ch := mustApply(t, s, 1, t0, entry(2, 2, `{"x":1}`)); !slices.Equal(ch.Updated, []uint64{2}) {
		t.Errorf("update in a full State: %+v", ch)
	}
}

func TestTombRecordsStayBounded(t *testing.T) {
	s := New(Options{MaxClients: 8})
	now := t0
	for i := range uint64(5000) {
		now = now.Add(time.Millisecond)
		mustApply(t, s, 1, now, entry(1+i%3, 2*i+1, `{}`), entry(1+i%3, 2*i+1, ""), entry(100+i, 1, ""))
	}
	if n := len(s.tombs); n > 64 {
		t.Errorf("%d tombstone records for %d tracked clients", n, len(s.clients))
	}
}

func TestAppendFull(t *testing.T) {
	s := New(Options{})
	if got, want := s.AppendFull([]byte{9}), []byte{9, 1, 1, 0}; !bytes.Equal(got, want) {
		t.Errorf("AppendFull of an empty State = %x, want %x", got, want)
	}
	mustApply(t, s, 1, t0, entry(30, 2, `{"c":3}`), entry(10, 5, `{"a":1}`), entry(20, 1, `{"b":2}`), entry(40, 1, ""))
	mustApply(t, s, 1, t0, entry(20, 1, ""))
	want := []string{`10:5:{"a":1}`, `30:2:{"c":3}`}
	if got := frameEntriesOf(t, s.AppendFull(nil)); !slices.Equal(got, want) {
		t.Errorf("AppendFull entries %q, want %q", got, want)
	}
}

func TestOptionsDefaults(t *testing.T) {
	s := New(Options{MaxClients: -1})
	if s.opts.MaxClients != DefaultMaxClients || s.opts.MaxStateSize != DefaultMaxStateSize || s.opts.Timeout != DefaultTimeout {
		t.Errorf("defaults %+v", s.opts)
	}
}

// Awareness client IDs are JavaScript numbers in y-protocols: up to
// 2^53-1 they are accepted and echoed unchanged; 2^53 is refused.
func TestClientIDRange(t *testing.T) {
	s := New(Options{})
	for _, id := range []uint64{1 << 32, 1<<53 - 1} {
		ch := mustApply(t, s, 1, t0, entry(id, 1, `{"n":1}`))
		if !slices.Equal(ch.Added, []uint64{id}) {
			t.Fatalf("client %d: added %v", id, ch.Added)
		}
		if c, ok := s.Get(id); !ok || string(c.State) != `{"n":1}` {
			t.Fatalf("client %d: %+v, %v", id, c, ok)
		}
	}
	want := yprotocol.AppendAwareness(nil, []yprotocol.AwarenessEntry{entry(1<<32, 1, `{"n":1}`), entry(1<<53-1, 1, `{"n":1}`)})
	if got := s.AppendFull(nil); !bytes.Equal(got, want) {
		t.Fatalf("full state %x, want %x", got, want)
	}
	before := s.AppendFull(nil)
	if _, err := s.Apply(1, update(entry(1<<53, 1, `{}`)), t0); err == nil {
		t.Fatal("client 2^53 accepted")
	}
	if !bytes.Equal(before, s.AppendFull(nil)) {
		t.Fatal("a refused update changed the state")
	}
}
