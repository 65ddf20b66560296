//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The scenarios, numbered as in the issue that asked for them; read-only
// connections (10) have no route yet.

// 1. Two y-websocket clients converge on Y.Text with formatting, Y.Map,
// Y.Array and a y-prosemirror style Y.XmlFragment after concurrent edits;
// collabd's REST views agree with them.
func TestConvergence(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	for _, seed := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			room := fmt.Sprint("converge-", seed)
			var r struct {
				A, B           snapshot
				FromRestUpdate snapshot
				RestJSON       map[string]any
				Deltas         struct{ A, B, Rest []any }
				XML            struct{ A, B string }
				TextLength     int
				FragmentLength int
			}
			scenario(t, s, "converge.mjs", map[string]any{"room": room, "seed": seed, "rounds": 60}, 30*time.Second, &r)
			equalJSON(t, "the documents of clients a and b", r.B, r.A)
			equalJSON(t, "the document from GET /api/docs/{room}/update and client a's", r.FromRestUpdate, r.A)
			equalJSON(t, "the Y.Text deltas (formatting) of a and b", r.Deltas.B, r.Deltas.A)
			equalJSON(t, "the Y.Text delta from the REST update and a's", r.Deltas.Rest, r.Deltas.A)
			if r.XML.A != r.XML.B {
				t.Errorf("XML of the fragment differs:\n a %s\n b %s", r.XML.A, r.XML.B)
			}
			if r.TextLength == 0 || r.FragmentLength == 0 {
				t.Errorf("the edits left an empty text (%d) or fragment (%d): the scenario tests too little", r.TextLength, r.FragmentLength)
			}

			d := getDoc(t, s, room)
			equalContent(t, "GET /api/docs/{room} content and client a's toJSON", d.Content, r.RestJSON)
			equalJSON(t, "GET /api/docs/{room} state vector and client a's", stateVector(d.StateVector), r.A.StateVector)
			equalJSON(t, "GET /api/docs/{room} root kinds", d.Roots, map[string]string{"text": "text", "map": "map", "array": "array", "prosemirror": "xmlfragment"})
			if d.Name != room || d.Size <= 0 {
				t.Errorf("GET /api/docs/{room}: name %q, size %d", d.Name, d.Size)
			}
		})
	}
}

// 2. Late joiners get the full state at their sync event, from a live room
// and from one that hibernated (loaded from storage).
func TestLateJoiner(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{Args: []string{"--idle-timeout", "200ms"}})
	const room = "late"
	var r struct {
		Want, Live, LivePK, Cold, ColdPK snapshot
	}
	scenario(t, s, "late.mjs", map[string]any{"room": room, "waitMs": 1000}, 30*time.Second, &r)
	equalJSON(t, "a y-websocket joiner's document at its sync event (room live)", r.Live, r.Want)
	equalJSON(t, "a y-partykit joiner's document at its sync event (room live)", r.LivePK, r.Want)
	equalJSON(t, "a y-websocket joiner's document at its sync event (after hibernation)", r.Cold, r.Want)
	equalJSON(t, "a y-partykit joiner's document at its sync event (after hibernation)", r.ColdPK, r.Want)

	// The cold joiners really were served from storage.
	hibernated := false
	for _, rec := range s.logged("hibernated") {
		hibernated = hibernated || rec["room"] == room
	}
	loads := 0
	for _, rec := range s.logged("loaded") {
		if rec["room"] == room {
			loads++
		}
	}
	if !hibernated || loads == 0 {
		t.Errorf("room %q: hibernated %v, loaded from storage %d times; want a hibernation and a load", room, hibernated, loads)
	}
}

// 3. Offline edits merge on reconnect.
func TestOfflineEditsMerge(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	type round struct {
		A, B              snapshot
		HoldsAll          []bool
		OfflineEditLeaked bool
	}
	var r struct{ Round1, Round2 round }
	scenario(t, s, "offline.mjs", map[string]any{"room": "offline"}, 30*time.Second, &r)
	for i, rd := range []round{r.Round1, r.Round2} {
		equalJSON(t, fmt.Sprintf("round %d: the documents of a and b", i+1), rd.B, rd.A)
		if !slices.Equal(rd.HoldsAll, []bool{true, true}) {
			t.Errorf("round %d: a and b hold every edit: %v, want [true true]", i+1, rd.HoldsAll)
		}
		if rd.OfflineEditLeaked {
			t.Errorf("round %d: b saw a's edit while a was disconnected", i+1)
		}
	}
	d := getDoc(t, s, "offline")
	equalJSON(t, "collabd's state vector and the clients'", stateVector(d.StateVector), r.Round2.A.StateVector)
}

// 4. Awareness: set, update, late joiner, removal on destroy, on a socket
// torn down without a close frame and on a SIGKILLed client process, each
// within a second.
func TestAwareness(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	var r struct {
		MS        map[string]int
		Remaining []float64
		Want      []float64
	}
	scenario(t, s, "awareness.mjs", map[string]any{"room": "awareness", "limitMs": 1000}, 30*time.Second, &r)
	keys := []string{"set", "setPartyKit", "update", "lateJoiner", "fromLateJoiner", "fromPartyKit", "destroy", "socketDestroyed", "socketDestroyedPartyKit", "sigkill"}
	var report []string
	for _, k := range keys {
		ms, ok := r.MS[k]
		if !ok {
			t.Errorf("no measurement %q", k)
		}
		if ms > 1000 {
			t.Errorf("%s took %d ms, want at most 1000", k, ms)
		}
		report = append(report, fmt.Sprintf("%s=%dms", k, ms))
	}
	t.Logf("awareness delays: %s", strings.Join(report, " "))
	slices.Sort(r.Remaining)
	slices.Sort(r.Want)
	if !slices.Equal(r.Remaining, r.Want) {
		t.Errorf("states left at the end: %v, want %v (no ghosts)", r.Remaining, r.Want)
	}
}

// 5. Rooms are isolated, whatever the route and however close their names.
func TestRoomIsolation(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	var r struct {
		Rooms []struct {
			Name     string
			WS, PK   snapshot
			Presence []string
		}
	}
	scenario(t, s, "isolation.mjs", map[string]any{"room": "iso"}, 30*time.Second, &r)
	if len(r.Rooms) < 5 {
		t.Fatalf("%d rooms in the result, want 5", len(r.Rooms))
	}
	for i, rm := range r.Rooms {
		equalJSON(t, fmt.Sprintf("room %q: the y-websocket and y-partykit clients' documents", rm.Name), rm.PK, rm.WS)
		want := map[string]any{
			"text":        "only in " + rm.Name,
			"map":         map[string]any{"room": rm.Name},
			"array":       []any{i},
			"prosemirror": "",
		}
		equalJSON(t, fmt.Sprintf("room %q: content", rm.Name), rm.WS.JSON, want)
		if !slices.Equal(rm.Presence, []string{"user of " + rm.Name}) {
			t.Errorf("room %q: presence %q, want only its own user", rm.Name, rm.Presence)
		}
		d := getDoc(t, s, rm.Name)
		equalContent(t, fmt.Sprintf("room %q: GET /api/docs content", rm.Name), d.Content, want)
	}
}

// 6. Updates over 1 MB through y-websocket (one frame) and y-partykit
// (y-pk-batch chunks); clients of both kinds in one room converge.
func TestLargeUpdates(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	const room = "large"
	var r struct {
		Size         int
		Markers      int
		MS           map[string]int
		Hashes       []map[string]string
		WantPK       string
		StateVectors []map[string]float64
		Maps         []map[string]any
	}
	scenario(t, s, "large.mjs", map[string]any{"room": room, "size": 1_500_000}, 60*time.Second, &r)
	if r.Markers < 2 {
		t.Errorf("the y-partykit client sent %d y-pk-batch markers, want a batch (start and end)", r.Markers)
	}
	if len(r.Hashes) != 4 {
		t.Fatalf("%d clients in the result, want 4", len(r.Hashes))
	}
	for i := range r.Hashes {
		equalJSON(t, fmt.Sprintf("client %d's hashes of both big texts", i), r.Hashes[i], r.Hashes[0])
		equalJSON(t, fmt.Sprintf("client %d's state vector", i), r.StateVectors[i], r.StateVectors[0])
		equalJSON(t, fmt.Sprintf("client %d's map", i), r.Maps[i], map[string]any{"client0": 0, "client1": 1, "client2": 2, "client3": 3})
	}
	if r.Hashes[0]["pk"] != r.WantPK {
		t.Errorf("the y-partykit insert arrived changed: sha256 %s, want %s", r.Hashes[0]["pk"], r.WantPK)
	}
	t.Logf("1.5 MB insert reached every client in %d ms (y-websocket), %d ms (y-partykit)", r.MS["ws"], r.MS["pk"])

	d := getDoc(t, s, room)
	equalJSON(t, "collabd's state vector", stateVector(d.StateVector), r.StateVectors[0])
	// big-ws also got "<0>" to "<3>" from the four clients.
	for name, want := range map[string]int{"big-ws": r.Size + 12, "big-pk": r.Size} {
		if got, _ := d.Content[name].(string); len(got) != want {
			t.Errorf("GET /api/docs: %s has %d characters, want %d", name, len(got), want)
		}
	}
}

// 7a. SIGTERM: collabd exits 0 promptly, closing a live client with 1001;
// restarted on the same data directory it serves the content, and the
// client reconnects on its own.
func TestRestartAfterSIGTERM(t *testing.T) {
	requireClients(t)
	t.Parallel()
	dir := t.TempDir()
	s1 := startCollabd(t, serverConfig{DataDir: dir})
	const room = "restart-term"
	hold := startNode(t, s1, "hold.mjs", map[string]any{"room": room})
	var ready struct {
		Event string
		Doc   snapshot
	}
	hold.next(15*time.Second, &ready)
	if ready.Event != "ready" {
		t.Fatalf("holder: %+v, want ready", ready)
	}

	code, took := s1.signal(syscall.SIGTERM, 5*time.Second)
	t.Logf("SIGTERM with a live connection: exit code %d after %v", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("collabd exited with %d after SIGTERM, want 0", code)
	}
	var closed struct {
		Event  string
		Code   int
		Reason string
	}
	hold.next(5*time.Second, &closed)
	if closed.Event != "close" || closed.Code != 1001 {
		t.Errorf("the live client saw %+v, want a close with 1001 (going away)", closed)
	}

	// Same data directory, same address: the holder reconnects by itself.
	s2 := startCollabd(t, serverConfig{DataDir: dir, Addr: s1.Addr})
	var resynced struct {
		Event string
		Doc   snapshot
	}
	for resynced.Event != "resynced" {
		hold.next(15*time.Second, &resynced)
	}
	for _, route := range []string{"ws", "pk"} {
		var r struct {
			AtSync   snapshot
			RestJSON map[string]any
		}
		scenario(t, s2, "read.mjs", map[string]any{"room": room, "route": route}, 20*time.Second, &r)
		equalJSON(t, "a new "+route+" client's document after the restart", r.AtSync, resynced.Doc)
		if route == "ws" {
			equalContent(t, "GET /api/docs after the restart", getDoc(t, s2, room).Content, r.RestJSON)
		}
	}
	// The pre-restart writes are in what survived.
	if !strings.Contains(fmt.Sprint(resynced.Doc.JSON["text"]), fmt.Sprint(ready.Doc.JSON["text"])) {
		t.Errorf("text after restart %q lost the text before it %q", resynced.Doc.JSON["text"], ready.Doc.JSON["text"])
	}

	hold.kill()
	code, took = s2.signal(syscall.SIGTERM, 5*time.Second)
	t.Logf("SIGTERM without connections: exit code %d after %v", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("collabd exited with %d after the second SIGTERM, want 0", code)
	}
}

// 7b. SIGKILL: every update the writer saw echoed (collabd relays only
// what it stored) is there after a restart.
func TestRestartAfterSIGKILL(t *testing.T) {
	requireClients(t)
	t.Parallel()
	dir := t.TempDir()
	s1 := startCollabd(t, serverConfig{DataDir: dir})
	const room = "restart-kill"
	w := startNode(t, s1, "killwriter.mjs", map[string]any{"room": room, "perTick": 16})
	// The writer prints {"event":"progress","echoed":N,...} lines, and
	// {"event":"final","echoed":[...],...} once its connection is gone.
	type line struct {
		Event  string
		Echoed json.RawMessage
		Sent   int
	}
	for {
		var l line
		var n int
		w.next(20*time.Second, &l)
		if l.Event == "progress" && json.Unmarshal(l.Echoed, &n) == nil && n >= 400 {
			break
		}
	}
	if code, _ := s1.signal(syscall.SIGKILL, 5*time.Second); code != -1 {
		t.Errorf("exit code after SIGKILL: %d, want -1 (killed)", code)
	}
	var final struct {
		Echoed []int
		Sent   int
	}
	for {
		var l line
		w.next(10*time.Second, &l)
		if l.Event != "final" {
			continue
		}
		final.Sent = l.Sent
		if err := json.Unmarshal(l.Echoed, &final.Echoed); err != nil {
			t.Fatalf("writer's final report: echoed %s: %v", l.Echoed, err)
		}
		break
	}
	if len(final.Echoed) == 0 {
		t.Fatalf("writer: %+v, want echoed items in its final report", final)
	}
	w.wait(5*time.Second, nil)

	s2 := startCollabd(t, serverConfig{DataDir: dir})
	var r struct {
		AtSync snapshot
	}
	scenario(t, s2, "read.mjs", map[string]any{"room": room, "schema": map[string]string{"log": "array"}}, 20*time.Second, &r)
	items, _ := r.AtSync.JSON["log"].([]any)
	have := make(map[string]bool, len(items))
	for _, it := range items {
		s, _ := it.(string)
		if have[s] {
			t.Errorf("item %q twice after the restart", s)
		}
		have[s] = true
	}
	var lost []int
	for _, i := range final.Echoed {
		if !have[fmt.Sprint("w-", i)] {
			lost = append(lost, i)
		}
	}
	t.Logf("writer sent %d items, saw %d echoed before SIGKILL; %d survived the restart", final.Sent, len(final.Echoed), len(items))
	if len(lost) > 0 {
		t.Errorf("%d echoed items lost after SIGKILL (collabd relayed them before storing them?): first %v", len(lost), lost[:min(len(lost), 10)])
	}
	if len(items) > final.Sent {
		t.Errorf("%d items after the restart, more than the %d sent", len(items), final.Sent)
	}
}

// 8. Hostile frames close that connection with the right code; the good
// clients, the document and the process are unaffected.
func TestHostileFrames(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{Args: []string{"--max-frame-size", "1048576"}})
	var r struct {
		Results []struct {
			Name       string
			Want, Code int
			Reason     string
			Error      string
		}
		GoodCloses    int
		Healthz       int
		A, B          snapshot
		Server        bool
		ServerClients []string
		GoodClients   []string
		EvilClients   []string
	}
	scenario(t, s, "hostile.mjs", map[string]any{"room": "hostile", "maxFrameSize": 1048576}, 60*time.Second, &r)
	if len(r.Results) < 20 {
		t.Fatalf("%d cases in the result, want 22", len(r.Results))
	}
	for _, c := range r.Results {
		t.Run(c.Name, func(t *testing.T) {
			if c.Code != c.Want {
				t.Errorf("close code %d (reason %q, client error %q), want %d", c.Code, c.Reason, c.Error, c.Want)
			}
		})
	}
	if r.GoodCloses != 0 {
		t.Errorf("the well-behaved providers lost their connection %d times", r.GoodCloses)
	}
	if r.Healthz != http.StatusOK {
		t.Errorf("/healthz during the scenario: %d", r.Healthz)
	}
	equalJSON(t, "the good clients' documents", r.B, r.A)
	if !r.Server {
		t.Errorf("collabd's document differs from the good clients'")
	}
	if !slices.Equal(r.ServerClients, r.GoodClients) {
		t.Errorf("collabd's document has updates from clients %v, want only the good clients %v (hostile clients: %v)", r.ServerClients, r.GoodClients, r.EvilClients)
	}
	s.alive(t)
	equalJSON(t, "GET /api/docs state vector", stateVector(getDoc(t, s, "hostile").StateVector), r.A.StateVector)
}

// 9. HTTP errors are JSON with the right status; a POSTed update reaches
// live clients.
func TestHTTP(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	long := strings.Repeat("a", 257)
	t.Run("invalid room names", func(t *testing.T) {
		for _, path := range []string{
			"/api/docs/" + long,
			"/api/docs/" + long + "/update",
			"/api/docs/a%01b",
			"/api/docs/a%7Fb",
			"/api/docs/a%0Ab/update",
			"/ws/" + long,
			"/ws/a%00b",
			"/parties/main/" + long,
			"/parties/main/a%1Bb",
		} {
			jsonError(t, "GET", s.Base+path, nil, http.StatusBadRequest)
		}
		jsonError(t, "POST", s.Base+"/api/docs/a%01b/update", []byte{0, 0}, http.StatusBadRequest)
	})
	t.Run("unknown documents", func(t *testing.T) {
		jsonError(t, "GET", s.Base+"/api/docs/unknown", nil, http.StatusNotFound)
		jsonError(t, "GET", s.Base+"/api/docs/unknown/update", nil, http.StatusNotFound)
		jsonError(t, "GET", s.Base+"/parties/other/room", nil, http.StatusNotFound)
	})
	t.Run("bad updates", func(t *testing.T) {
		jsonError(t, "POST", s.Base+"/api/docs/posted-garbage/update", []byte("garbage!!"), http.StatusBadRequest)
		jsonError(t, "POST", s.Base+"/api/docs/posted-garbage/update", []byte{1, 1, 0x80}, http.StatusBadRequest)
		jsonError(t, "POST", s.Base+"/api/docs/posted-garbage/update", nil, http.StatusBadRequest)
	})
	t.Run("refused update creates no document", func(t *testing.T) {
		// "Unknown room: 404": a POST that was refused must not make the
		// document exist.
		jsonError(t, "POST", s.Base+"/api/docs/never-created/update", []byte("garbage!!"), http.StatusBadRequest)
		jsonError(t, "GET", s.Base+"/api/docs/never-created", nil, http.StatusNotFound)
	})
	t.Run("POSTed updates reach live clients", func(t *testing.T) {
		const room = "posted"
		var r struct {
			Posts []struct {
				Status int
				Type   string
				Body   map[string]any
			}
			WS, PK   snapshot
			RestJSON map[string]any
			Delta    []any
		}
		scenario(t, s, "restpost.mjs", map[string]any{"room": room}, 30*time.Second, &r)
		for i, p := range r.Posts {
			if p.Status != http.StatusOK || p.Body["applied"] != true {
				t.Errorf("POST %d: status %d, body %v", i+1, p.Status, p.Body)
			}
		}
		equalJSON(t, "the y-websocket and y-partykit clients", r.PK, r.WS)
		equalJSON(t, "the text's delta", r.Delta, []any{
			map[string]any{"insert": "live"},
			map[string]any{"insert": " and posted", "attributes": map[string]any{"bold": true}},
			map[string]any{"insert": " text"},
		})
		d := getDoc(t, s, room)
		equalContent(t, "GET /api/docs content", d.Content, r.RestJSON)
		equalJSON(t, "GET /api/docs state vector", stateVector(d.StateVector), r.WS.StateVector)
	})
	s.alive(t)
}

// No leak per closed connection: 200 connect/disconnect cycles (orderly
// and abrupt, both routes) leave collabd's open files where they were and
// its RSS within a few MB.
func TestConnectionChurn(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{Args: []string{"--log-level", "info"}})
	const room = "churn"
	var r struct {
		Cycles int
		MS     int
	}
	// Warm up (the room, the store, the runtime's pools and heap target):
	// RSS grows over the first couple hundred cycles, then stays flat.
	scenario(t, s, "churn.mjs", map[string]any{"room": room, "cycles": 200}, 90*time.Second, &r)
	time.Sleep(500 * time.Millisecond)
	rss0, fds0 := s.procStatus(t, "VmRSS"), s.openFDs(t)

	scenario(t, s, "churn.mjs", map[string]any{"room": room, "cycles": 200}, 90*time.Second, &r)
	// Let the server finish closing the last connection.
	var rss1, fds1 int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rss1, fds1 = s.procStatus(t, "VmRSS"), s.openFDs(t)
		if fds1 <= fds0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("200 cycles in %d ms; VmRSS %d kB -> %d kB (%+d kB); open fds %d -> %d; VmHWM %d kB",
		r.MS, rss0, rss1, rss1-rss0, fds0, fds1, s.procStatus(t, "VmHWM"))
	if fds1 > fds0 {
		t.Errorf("open file descriptors grew from %d to %d over 200 closed connections", fds0, fds1)
	}
	if grow := rss1 - rss0; grow > 4*1024 {
		t.Errorf("VmRSS grew by %d kB over 200 closed connections, want at most 4 MB", grow)
	}
	s.alive(t)
}

// REST reads while a room is storing updates must not send anything to the
// room's connections. Bug: a read that waits for pending appends (rooms
// Registry.View) is queued as a held message without a frame, and
// Room.flushHeld broadcasts it: every connection gets an empty binary
// frame, on which stock providers throw.
func TestRESTReadsDuringWrites(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{Args: []string{"--log-level", "info"}})
	var r struct {
		Frames, EmptyFrames int
		Statuses            map[string]int
	}
	scenario(t, s, "restread.mjs", map[string]any{"room": "rest-reads", "edits": 300}, 30*time.Second, &r)
	if r.Statuses["200"] != 300 {
		t.Errorf("REST reads: statuses %v, want 300 × 200", r.Statuses)
	}
	if r.EmptyFrames > 0 {
		t.Errorf("a connection received %d empty frames (of %d) while REST reads ran: stock providers throw on them", r.EmptyFrames, r.Frames)
	}
}

// A client in sync answers the server's SyncStep1 with an empty update;
// like the reference servers, collabd must neither relay nor store it (it
// does both: every connect costs each client of the room a frame and the
// store a log entry).
func TestNoOpUpdatesNotRelayed(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	var r struct {
		Clients        int
		RelayedUpdates []string
	}
	scenario(t, s, "noop.mjs", map[string]any{"room": "noop", "clients": 6}, 30*time.Second, &r)
	if len(r.RelayedUpdates) > 0 {
		t.Errorf("%d clients connected and left without editing; the others received %d sync updates %q, want none", r.Clients, len(r.RelayedUpdates), r.RelayedUpdates)
	}
}

// 10. Read-only connections: collabd has no read-only route yet.
// TestReadOnly: a viewer (?readonly=1) sees the editor's text and
// presence; its own edits are answered with permission-denied and reach
// neither the server nor the editor.
func TestReadOnly(t *testing.T) {
	requireClients(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{})
	var r struct {
		EditorText, ServerText string
		Denied                 int
	}
	scenario(t, s, "readonly.mjs", map[string]any{"room": "readonly"}, 30*time.Second, &r)
	const want = "written by the editor"
	if r.EditorText != want || r.ServerText != want {
		t.Errorf("editor %q, server %q, want %q: the viewer's edit got through", r.EditorText, r.ServerText, want)
	}
	if r.Denied == 0 {
		t.Error("the viewer got no permission-denied message")
	}
}
