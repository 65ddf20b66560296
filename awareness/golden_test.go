package awareness

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/collabd/collabd/yprotocol"
)

// goldenSession is awareness/testdata/golden.json, a session recorded from
// the y-partykit server by tools/golden/awareness.mjs.
type goldenSession struct {
	Steps []goldenStep `json:"steps"`
}

type goldenStep struct {
	Name       string `json:"name"`
	T          int64  `json:"t"` // milliseconds since the start
	Event      string `json:"event"`
	Conn       string `json:"conn"`
	Hex        string `json:"hex"`
	Divergence string `json:"divergence"`
	Sent       []struct {
		To      string        `json:"to"`
		Hex     string        `json:"hex"`
		Entries []goldenEntry `json:"entries"`
	} `json:"sent"`
}

type goldenEntry struct {
	ClientID uint64 `json:"clientID"`
	Clock    uint64 `json:"clock"`
	State    string `json:"state"`
}

func loadSession(tb testing.TB) *goldenSession {
	tb.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		tb.Fatalf("read golden session: %v (regenerate with: node tools/golden/awareness.mjs)", err)
	}
	var g goldenSession
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatalf("parse golden session: %v", err)
	}
	return &g
}

// broadcast is what one step sent: the same awareness frame to each of to.
type broadcast struct {
	to      []string
	entries []goldenEntry
}

func (b broadcast) String() string { return fmt.Sprintf("%v to %v", b.entries, b.to) }

func sameBroadcast(a, b broadcast) bool {
	sortEntries := func(es []goldenEntry) []goldenEntry {
		es = slices.Clone(es)
		slices.SortFunc(es, func(x, y goldenEntry) int { return cmp.Compare(x.ClientID, y.ClientID) })
		return es
	}
	return slices.Equal(a.to, b.to) && slices.Equal(sortEntries(a.entries), sortEntries(b.entries))
}

// frameEntries decodes an awareness frame.
func frameEntries(t *testing.T, frame []byte) []goldenEntry {
	t.Helper()
	var entries []goldenEntry
	err := yprotocol.Decode(frame, func(m yprotocol.Message) error {
		if m.Kind != yprotocol.KindAwareness {
			return fmt.Errorf("%v message, want awareness", m.Kind)
		}
		return yprotocol.DecodeAwareness(m.Payload, func(e yprotocol.AwarenessEntry) error {
			entries = append(entries, goldenEntry{e.ClientID, e.Clock, string(e.State)})
			return nil
		})
	})
	if err != nil {
		t.Fatalf("decode frame %x: %v", frame, err)
	}
	return entries
}

// collabdDiffers gives collabd's broadcast for the steps where it departs
// from y-partykit on purpose (see the steps' divergence notes).
var collabdDiffers = map[string]*broadcast{
	"c2 closes":           {to: []string{"c4"}, entries: []goldenEntry{{20, 2, "null"}}},
	"the ghost B expires": nil,
}

// TestGoldenSession replays a session recorded from the y-partykit server
// and checks that State broadcasts what the server broadcast, at the same
// moments and to the same connections.
func TestGoldenSession(t *testing.T) {
	g := loadSession(t)
	start := time.UnixMilli(1764000000000)
	s := New(Options{})
	ids := map[string]ConnID{}
	var open []string
	for _, st := range g.Steps {
		now := start.Add(time.Duration(st.T) * time.Millisecond)
		var got *broadcast
		switch st.Event {
		case "connect":
			ids[st.Conn] = ConnID(len(ids) + 1)
			open = append(open, st.Conn)
			if s.Len() > 0 {
				got = &broadcast{to: []string{st.Conn}, entries: frameEntries(t, s.AppendFull(nil))}
			}
		case "message":
			frame, err := hex.DecodeString(st.Hex)
			if err != nil {
				t.Fatal(err)
			}
			var ch Changes
			if err := yprotocol.Decode(frame, func(m yprotocol.Message) error {
				ch, err = s.Apply(ids[st.Conn], m.Payload, now)
				return err
			}); err != nil {
				t.Fatalf("%s: %v", st.Name, err)
			}
			if ch.Frame != nil {
				got = &broadcast{to: slices.Clone(open), entries: frameEntries(t, ch.Frame)}
			}
		case "close":
			open = slices.DeleteFunc(open, func(c string) bool { return c == st.Conn })
			if ch := s.RemoveConn(ids[st.Conn], now); ch.Frame != nil {
				got = &broadcast{to: slices.Clone(open), entries: frameEntries(t, ch.Frame)}
			}
		case "expire":
			if ch := s.Expire(now); ch.Frame != nil {
				got = &broadcast{to: slices.Clone(open), entries: frameEntries(t, ch.Frame)}
			}
		default:
			t.Fatalf("unknown event %q", st.Event)
		}

		var want *broadcast
		for _, sent := range st.Sent {
			if want == nil {
				want = &broadcast{entries: sent.Entries}
			} else if !slices.Equal(want.entries, sent.Entries) {
				t.Fatalf("%s: the reference sent different frames to different connections", st.Name)
			}
			want.to = append(want.to, sent.To)
		}
		if st.Divergence != "" {
			w, ok := collabdDiffers[st.Name]
			if !ok {
				t.Fatalf("%s: divergence %q has no expectation here", st.Name, st.Divergence)
			}
			want = w
		}
		switch {
		case want == nil && got != nil:
			t.Errorf("%s: sent %v, the reference sent nothing", st.Name, got)
		case want != nil && got == nil:
			t.Errorf("%s: sent nothing, want %v", st.Name, want)
		case want != nil && !sameBroadcast(*got, *want):
			t.Errorf("%s: sent %v, want %v", st.Name, got, want)
		}
	}
}

// TestGoldenFollower applies the awareness frames y-protocols encoded for
// each connection of the recorded session, in order, to a State of its own,
// as a client would. Every entry the server broadcast is news to a follower
// that saw all earlier ones, so every entry must be accepted.
func TestGoldenFollower(t *testing.T) {
	g := loadSession(t)
	start := time.UnixMilli(1764000000000)
	followers := map[string]*State{}
	for _, st := range g.Steps {
		for _, sent := range st.Sent {
			f := followers[sent.To]
			if f == nil {
				f = New(Options{})
				followers[sent.To] = f
			}
			frame, err := hex.DecodeString(sent.Hex)
			if err != nil {
				t.Fatal(err)
			}
			if err := yprotocol.Decode(frame, func(m yprotocol.Message) error {
				ch, err := f.Apply(1, m.Payload, start.Add(time.Duration(st.T)*time.Millisecond))
				if err != nil {
					return err
				}
				if n := len(ch.Added) + len(ch.Updated) + len(ch.Removed); n != len(sent.Entries) {
					t.Errorf("%s: %s accepted %d of %d entries: %+v", st.Name, sent.To, n, len(sent.Entries), ch)
				}
				return nil
			}); err != nil {
				t.Fatalf("%s: %s: %v", st.Name, sent.To, err)
			}
		}
	}
	if len(followers) < 3 {
		t.Fatalf("only %d connections received awareness frames", len(followers))
	}
}
