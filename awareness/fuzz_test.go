package awareness

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/collabd/collabd/yprotocol"
)

// FuzzApply applies arbitrary awareness updates to a small State that
// already tracks a few clients, then lets time pass and a connection close,
// checking after each step that a rejected update changed nothing, that
// Changes agree with the State and its Frame, and the State's bookkeeping.
func FuzzApply(f *testing.F) {
	for _, st := range loadSession(f).Steps {
		if st.Hex == "" {
			continue
		}
		frame, err := hex.DecodeString(st.Hex)
		if err != nil {
			f.Fatal(err)
		}
		if err := yprotocol.Decode(frame, func(m yprotocol.Message) error {
			f.Add(m.Payload, uint8(1), uint16(1000))
			return nil
		}); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(update(entry(1, 5, ""), entry(9, 1, `{"x":[1,2]}`), entry(2, 9, " null ")), uint8(2), uint16(31000))
	f.Add(update(entry(3, 1, `{}`), entry(4, 1, `{}`), entry(5, 1, `{}`), entry(6, 1, `{}`)), uint8(3), uint16(0))
	f.Fuzz(func(t *testing.T, payload []byte, conn uint8, later uint16) {
		s := New(Options{MaxClients: 5, MaxStateSize: 64, Timeout: 30 * time.Second})
		mustApply(t, s, 1, t0, entry(1, 5, `{"a":1}`), entry(2, 9, `{"b":2}`))
		mustApply(t, s, 2, t0, entry(3, 2, ""))

		for i, now := range []time.Time{t0.Add(time.Second), t0.Add(time.Duration(later) * time.Millisecond)} {
			before := maps.Clone(s.clients)
			ch, err := s.Apply(ConnID(conn), payload, now)
			checkInvariants(t, s)
			if err != nil {
				if !ch.Empty() || ch.Frame != nil {
					t.Fatalf("Apply %d: changes with an error", i)
				}
				if !maps.EqualFunc(before, s.clients, sameClient) {
					t.Fatalf("Apply %d: a rejected update changed the state", i)
				}
				return
			}
			checkChanges(t, s, ch)
			for _, id := range append(slices.Clone(ch.Added), ch.Updated...) {
				if c, _ := s.Get(id); c.Conn != ConnID(conn) {
					t.Fatalf("client %d owned by %d, want %d", id, c.Conn, conn)
				}
			}
		}
		checkChanges(t, s, s.Expire(t0.Add(time.Duration(later)*time.Millisecond+30*time.Second)))
		checkInvariants(t, s)
		checkChanges(t, s, s.RemoveConn(ConnID(conn), t0.Add(time.Hour)))
		checkInvariants(t, s)
		full := frameEntriesOf(t, s.AppendFull(nil))
		if len(full) != s.Len() {
			t.Fatalf("AppendFull lists %d clients, Len %d", len(full), s.Len())
		}
	})
}

func sameClient(a, b client) bool {
	return a.clock == b.clock && bytes.Equal(a.state, b.state) && (a.state == nil) == (b.state == nil) &&
		a.conn == b.conn && a.updated.Equal(b.updated)
}

// checkChanges checks that ch's lists and Frame describe the State.
func checkChanges(t *testing.T, s *State, ch Changes) {
	t.Helper()
	if ch.Empty() != (ch.Frame == nil) {
		t.Fatalf("Empty %v with Frame %x", ch.Empty(), ch.Frame)
	}
	var want []string
	for _, id := range append(append(slices.Clone(ch.Added), ch.Updated...), ch.Removed...) {
		c, ok := s.Get(id)
		if !ok {
			t.Fatalf("changed client %d not tracked", id)
		}
		state := "null"
		if c.State != nil {
			if !json.Valid(c.State) {
				t.Fatalf("client %d has a state that is not JSON: %q", id, c.State)
			}
			state = string(c.State)
		}
		if (c.State == nil) != slices.Contains(ch.Removed, id) {
			t.Fatalf("client %d: state %q but listed as removed: %v", id, c.State, slices.Contains(ch.Removed, id))
		}
		want = append(want, u(id)+":"+u(c.Clock)+":"+state)
	}
	if got := frameEntriesOf(t, ch.Frame); !slices.Equal(got, want) {
		t.Fatalf("Frame entries %q, want %q", got, want)
	}
}
