package rooms

import (
	"testing"
	"time"

	"github.com/collabd/collabd/yprotocol"
)

// TestRelinquish: a room told to leave closes its connections with
// CloseMoved, stores nothing more and does not compact; the next join
// loads it anew from the store.
func TestRelinquish(t *testing.T) {
	st := newMemStore()
	reg := NewRegistry(Options{Store: st})
	defer reg.Shutdown(t.Context())
	c, p := join(t, reg, "r", false)
	ed := newEditor(7)
	if err := c.Receive(t.Context(), updateFrame(ed.insert(t, "stored"))); err != nil {
		t.Fatal(err)
	}
	p.nextKind(t, yprotocol.KindUpdate) // the relay: stored
	// An update the store holds back: accepted, never stored, never relayed.
	gate := make(chan struct{})
	st.setGate(gate)
	if err := c.Receive(t.Context(), updateFrame(ed.insert(t, " held"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	reg.Relinquish("r")
	if got := p.waitClosed(t); got != CloseMoved {
		t.Fatalf("closed with %v, want %v", got, CloseMoved)
	}
	deadline := time.Now().Add(5 * time.Second)
	for reg.Live("r") {
		if time.Now().After(deadline) {
			t.Fatal("the room stayed in memory")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.setGate(nil)
	close(gate)
	st.mu.Lock()
	compacts := st.compacts
	st.mu.Unlock()
	if compacts != 0 {
		t.Errorf("%d compactions, want none", compacts)
	}
	reg.Relinquish("absent") // no room: nothing happens
	join(t, reg, "r", false) // loads anew
	// The held append was in flight (Relinquish does not cancel it: in a
	// cluster the fenced store refuses it before it starts).
	if got := st.content(t, "r"); got != "stored" && got != "stored held" {
		t.Errorf("stored %q", got)
	}
}
