//go:build unix

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/collabd/collabd/auth"
)

// Parties (issue 12) against a real process with the stock partysocket
// client: e2e/testparty is collabd built through the embedding API with
// the built-in parties and a test party, "probe" (which panics, sets
// alarms and counts its starts on request); examples/counter is the
// documented example program.

var (
	testPartyOnce sync.Once
	testPartyBins map[string]string
	testPartyErr  error
)

// partyBinary builds ./e2e/testparty or ./examples/counter (once per run)
// and returns its path.
func partyBinary(t *testing.T, pkg string) string {
	t.Helper()
	testPartyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "collabd-party-e2e-")
		if err != nil {
			testPartyErr = err
			return
		}
		testPartyBins = map[string]string{}
		for _, p := range []string{"./e2e/testparty", "./examples/counter"} {
			bin := filepath.Join(dir, filepath.Base(p))
			cmd := exec.Command("go", "build", "-o", bin, p)
			cmd.Dir = moduleRoot(t)
			if out, err := cmd.CombinedOutput(); err != nil {
				testPartyErr = fmt.Errorf("go build %s: %v\n%s", p, err, out)
				return
			}
			testPartyBins[p] = bin
		}
	})
	if testPartyErr != nil {
		t.Fatal(testPartyErr)
	}
	return testPartyBins[pkg]
}

func requirePartysocket(t *testing.T) {
	t.Helper()
	requireClients(t)
	if _, err := os.Stat(filepath.Join(moduleRoot(t), "node_modules", "partysocket", "package.json")); err != nil {
		msg := "party tests need node_modules/partysocket (npm ci in the module root)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func startParties(t *testing.T, cfg serverConfig) *collabd {
	t.Helper()
	cfg.Binary = partyBinary(t, "./e2e/testparty")
	return startCollabd(t, cfg)
}

func partyScenario(t *testing.T, s *collabd, params map[string]any, v any) {
	t.Helper()
	scenario(t, s, "party.mjs", params, 60*time.Second, v)
}

func TestPartyProbe(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	s := startParties(t, serverConfig{})
	var r struct {
		Hello, HelloB struct {
			ID, Query, User string
			ReadOnly        bool
			Starts, Conns   int
		}
		Binary, Value, TooBig string
	}
	partyScenario(t, s, map[string]any{"mode": "probe", "room": "probe-1"}, &r)
	if r.Hello.ID != "alice-1" || r.Hello.Query != "x" || r.Hello.ReadOnly || r.Hello.Starts != 1 || r.Hello.Conns != 1 {
		t.Errorf("hello of a = %+v; want id alice-1 (partysocket's id), query x, writable, 1 start, 1 connection", r.Hello)
	}
	if r.HelloB.ID == "" || r.HelloB.ID == "alice-1" || r.HelloB.Conns != 2 {
		t.Errorf("hello of b = %+v; want partysocket's own UUID and 2 connections tagged probe", r.HelloB)
	}
	if r.Binary != "AQID" || r.Value != "value:blue" {
		t.Errorf("binary echo %q, stored value %q; want AQID, value:blue", r.Binary, r.Value)
	}
	if !strings.Contains(r.TooBig, "more than 131072") {
		t.Errorf("a 130 KiB value: %q; want the storage limit's error", r.TooBig)
	}

	// Plain HTTP reaches OnRequest, with its method and body.
	var got struct {
		Starts       int
		Method, Body string
	}
	if status, _ := httpJSON(t, "POST", s.Base+"/parties/probe/probe-1", []byte("payload"), &got); status != 200 || got.Method != "POST" || got.Body != "payload" || got.Starts < 1 {
		t.Errorf("POST /parties/probe/probe-1: %d %+v", status, got)
	}
	// Unknown party: 404 before the upgrade; bad room: 400; the Yjs party
	// answers plain GETs as before (426, upgrade required).
	status, _ := upgradeStatus(t, s.Base, "/parties/nope/room", "")
	if status != http.StatusNotFound {
		t.Errorf("upgrade of an unknown party: %d, want 404", status)
	}
	jsonError(t, "GET", s.Base+"/parties/nope/room", nil, http.StatusNotFound)
	jsonError(t, "POST", s.Base+"/parties/main/room", nil, http.StatusMethodNotAllowed)
	status, _ = upgradeStatus(t, s.Base, "/parties/probe/"+strings.Repeat("r", 300), "")
	if status != http.StatusBadRequest {
		t.Errorf("upgrade with a 300-byte room name: %d, want 400", status)
	}
}

func TestPartyAccess(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(e2eSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startParties(t, serverConfig{Args: []string{"--auth-secret-file", secretFile, "--max-conns-per-room", "2"}})
	mint := func(rooms []string, access auth.Access) string {
		tok, err := auth.Mint([]byte(e2eSecret), auth.MintClaims{Subject: "pat", Rooms: rooms, Access: access, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	write, read, other := mint([]string{"team/*"}, auth.AccessWrite), mint([]string{"team/*"}, auth.AccessRead), mint([]string{"elsewhere"}, auth.AccessWrite)
	for _, tt := range []struct {
		token string
		want  int
	}{{"", 401}, {"garbage", 401}, {other, 403}, {read, 101}, {write, 101}} {
		if got, e := upgradeStatus(t, s.Base, "/parties/chat/team/x", tt.token); got != tt.want {
			t.Errorf("upgrade with token %.10q: %d (%s), want %d", tt.token, got, e, tt.want)
		}
	}
	// A read token may GET a party's results, not POST to it.
	req, _ := http.NewRequest("POST", s.Base+"/parties/probe/team/x", strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer "+read)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a read token: %d, want 403", res.StatusCode)
	}
	// The token's user reaches the party; read-only is the party's to
	// enforce: the chat refuses a read-only post with an error message.
	var r struct {
		Posted []struct{ User, Name string }
		Errors []string
	}
	partyScenario(t, s, map[string]any{"mode": "chat", "room": "team/x", "token": write, "post": 1, "name": "Pat"}, &r)
	if len(r.Posted) != 1 || r.Posted[0].User != "pat" || r.Posted[0].Name != "Pat" {
		t.Errorf("post with a write token: %+v; want user pat", r.Posted)
	}
	partyScenario(t, s, map[string]any{"mode": "chat", "room": "team/x", "token": read, "bad": []string{`{"type":"message","text":"hi"}`}}, &r)
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "read-only") {
		t.Errorf("post with a read token: errors %q; want a read-only error", r.Errors)
	}
}

func TestPartyRateLimit(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	s := startParties(t, serverConfig{Args: []string{"--rate-messages", "5", "--rate-message-burst", "10"}})
	var r struct{ Closes []int }
	partyScenario(t, s, map[string]any{"mode": "flood", "room": "flood"}, &r)
	if len(r.Closes) == 0 || r.Closes[0] != 4429 {
		t.Errorf("closes %v; want 4429 first", r.Closes)
	}
}

func TestPartyPanicRecovers(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	s := startParties(t, serverConfig{})
	var r struct {
		CloseCode int
		First     struct {
			ID     string
			Starts int
		}
		Again struct {
			ID     string
			Starts int
		}
		OtherCloses int
	}
	partyScenario(t, s, map[string]any{"mode": "panic", "room": "boom"}, &r)
	if r.CloseCode != 1011 {
		t.Errorf("close code after the panic: %d, want 1011", r.CloseCode)
	}
	if r.Again.ID != "victim" || r.Again.Starts != r.First.Starts+1 {
		t.Errorf("after the reconnect: %+v (before %+v); want the same id and OnStart run again", r.Again, r.First)
	}
	if r.OtherCloses != 0 {
		t.Errorf("the other room's connection was closed %d times", r.OtherCloses)
	}
	failed := s.logged("party failed; closing the room")
	if len(failed) != 1 || failed[0]["room"] != "boom" || !strings.Contains(fmt.Sprint(failed[0]["err"]), "probe asked to panic") {
		t.Errorf("logged failures: %v; want one for room boom with the panic", failed)
	}
	s.alive(t)
}

func TestPartyChat(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	dir := t.TempDir()
	s := startParties(t, serverConfig{DataDir: dir})
	type msg struct {
		ID         int
		Name, Text string
	}
	var r struct {
		History, Posted []msg
		Errors          []string
	}
	partyScenario(t, s, map[string]any{"mode": "chat", "room": "lobby", "post": 3, "name": "Ada",
		"bad": []string{"not json", `{"type":"message","text":""}`, `{"type":"message","text":"` + strings.Repeat("x", 2001) + `"}`, `{"type":"dance"}`, `[1,2]`}}, &r)
	if len(r.History) != 0 || len(r.Posted) != 3 || r.Posted[2].Text != "msg 2" || r.Posted[0].Name != "Ada" {
		t.Fatalf("first visit: history %+v, posted %+v", r.History, r.Posted)
	}
	if len(r.Errors) != 5 {
		t.Errorf("errors for bad input: %q; want 5", r.Errors)
	}
	// A second connection (partysocket reconnecting is a new connection)
	// gets the history, and bad input changed nothing.
	partyScenario(t, s, map[string]any{"mode": "chat", "room": "lobby", "post": 1, "prefix": "again"}, &r)
	if len(r.History) != 3 || r.History[0].Text != "msg 0" || r.History[2].Text != "msg 2" {
		t.Fatalf("history after reconnect: %+v", r.History)
	}
	// After a restart the history is still there.
	if code, _ := s.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("collabd exited with %d", code)
	}
	s = startParties(t, serverConfig{DataDir: dir})
	partyScenario(t, s, map[string]any{"mode": "chat", "room": "lobby"}, &r)
	if len(r.History) != 4 || r.History[3].Text != "again 0" || r.History[3].ID != 4 {
		t.Fatalf("history after a restart: %+v", r.History)
	}

	var p struct {
		Join, Leave       struct{ Name, ID string }
		RoErr             string
		Accepted, Refused int
	}
	partyScenario(t, s, map[string]any{"mode": "chatpresence", "room": "presence"}, &p)
	if p.Join.Name != "Bob" || p.Leave.Name != "Bob" || p.Join.ID == "" || !strings.Contains(p.RoErr, "read-only") {
		t.Errorf("presence: %+v", p)
	}
	if p.Accepted < 10 || p.Accepted > 12 || p.Refused != 30-p.Accepted {
		t.Errorf("30 posts at once: %d accepted, %d refused; want the burst of 10 (and a refill or two) accepted", p.Accepted, p.Refused)
	}
}

func TestPartyCursors(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	s := startParties(t, serverConfig{})
	var r struct {
		SyncKeys []string
		Echoed   bool
		Removed  string
		Bad      string
	}
	partyScenario(t, s, map[string]any{"mode": "cursors", "room": "canvas"}, &r)
	if strings.Join(r.SyncKeys, ",") != "cur-a,cur-b,cur-c" || r.Echoed || r.Removed != "cur-b" || r.Bad == "" {
		t.Errorf("cursors: %+v; want the newcomer to see a, b, c, no echo to the mover, b removed on drop, an error for a bad cursor", r)
	}
}

// TestPartyAlarmAndHibernation: an alarm set before a restart fires after
// it, and a room's storage survives hibernation (OnStart runs again), on
// the embedded store and on PostgreSQL.
func TestPartyAlarmAndHibernation(t *testing.T) {
	requirePartysocket(t)
	backends := map[string][]string{"embedded": nil}
	if url := os.Getenv("COLLABD_TEST_DATABASE_URL"); url != "" {
		backends["postgres"] = []string{"--database-url", collabdDatabaseURL(t, url, e2eSchema(t, url), "")}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("COLLABD_TEST_DATABASE_URL is not set")
	}
	for name, args := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := serverConfig{DataDir: dir, Args: append([]string{"--idle-timeout", "300ms"}, args...)}
			s := startParties(t, cfg)
			type hello struct {
				Hello struct{ Starts int }
				Value string
			}
			var h hello
			partyScenario(t, s, map[string]any{"mode": "hello", "room": "sleepy", "put": "k=v1"}, &h)
			if h.Hello.Starts != 1 {
				t.Fatalf("first start: %+v", h)
			}
			waitHibernated(t, s, "sleepy", 1)
			partyScenario(t, s, map[string]any{"mode": "hello", "room": "sleepy", "get": "k"}, &h)
			if h.Hello.Starts != 2 || h.Value != "value:v1" {
				t.Fatalf("after hibernation: %+v; want OnStart again (2) and the stored value", h)
			}
			// An alarm 1.5 s ahead, then a restart before it is due.
			partyScenario(t, s, map[string]any{"mode": "hello", "room": "alarmed", "alarmMs": 1500}, &h)
			if code, _ := s.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
				t.Fatalf("collabd exited with %d", code)
			}
			s = startParties(t, cfg)
			deadline := time.Now().Add(15 * time.Second)
			for {
				var got struct{ Fired string }
				httpJSON(t, "GET", s.Base+"/parties/probe/alarmed", nil, &got)
				if got.Fired != "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the alarm set before the restart did not fire within 15 s of it")
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// waitHibernated waits until the room has hibernated n times (the debug
// log says so).
func waitHibernated(t *testing.T, s *collabd, room string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		count := 0
		for _, rec := range s.logged("room hibernated") {
			if rec["room"] == room && rec["party"] != nil {
				count++
			}
		}
		if count >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s did not hibernate within 10 s", room)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPartyExample builds examples/counter, the documented embedding
// example, runs it and counts with partysocket.
func TestPartyExample(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	s := startCollabd(t, serverConfig{Binary: partyBinary(t, "./examples/counter")})
	var r struct{ Counts []int }
	scenario(t, s, "partycounter.mjs", map[string]any{"room": "c1", "n": 5}, 30*time.Second, &r)
	if len(r.Counts) == 0 || r.Counts[len(r.Counts)-1] != 5 {
		t.Fatalf("counts seen: %v; want to end at 5", r.Counts)
	}
	var got struct{ Count int }
	if status, _ := httpJSON(t, "GET", s.Base+"/parties/counter/c1", nil, &got); status != 200 || got.Count != 5 {
		t.Fatalf("GET /parties/counter/c1: %d %+v", status, got)
	}
	// The built-in parties ship in it too.
	var c struct{ History []any }
	scenario(t, s, "party.mjs", map[string]any{"mode": "chat", "room": "c1"}, 30*time.Second, &c)
}

// TestPartyPoll: 100 partysocket voters, an exact tally, re-votes, a
// reconnecting voter, a storm of 500 votes whose tallies are coalesced,
// the results over GET, and the close.
func TestPartyPoll(t *testing.T) {
	requirePartysocket(t)
	t.Parallel()
	s := startParties(t, serverConfig{})
	type tally struct {
		Tallies []int
		Votes   int
	}
	var r struct {
		Created                       struct{ ID string }
		First, Revoted, Storm         tally
		StormTallies, StormVotes      int
		Expected                      []int
		BackVote, Want50              int
		NotOwner, BadVote, AfterClose string
	}
	scenario(t, s, "partypoll.mjs", map[string]any{"room": "talk", "voters": 100}, 90*time.Second, &r)
	if fmt.Sprint(r.First.Tallies) != "[34 33 33]" || r.First.Votes != 100 {
		t.Errorf("first round: %+v, want [34 33 33] of 100", r.First)
	}
	if fmt.Sprint(r.Revoted.Tallies) != "[30 30 40]" || r.Revoted.Votes != 100 {
		t.Errorf("after ten re-votes: %+v, want [30 30 40] of 100 (voters 0, 3, 6, 9 moved from red, 1, 4, 7 from green)", r.Revoted)
	}
	if fmt.Sprint(r.Storm.Tallies) != fmt.Sprint(r.Expected) || r.Storm.Votes != 100 {
		t.Errorf("after the storm: %+v, want %v", r.Storm, r.Expected)
	}
	t.Logf("storm: %d votes, %d tally broadcasts", r.StormVotes, r.StormTallies)
	// 500 votes arrive within milliseconds; the tallies go out at most
	// once per flush (50 ms), so far fewer than one per vote.
	if r.StormTallies < 1 || r.StormTallies > r.StormVotes/5 {
		t.Errorf("%d tally broadcasts for %d votes; want them coalesced", r.StormTallies, r.StormVotes)
	}
	if r.BackVote != r.Want50 {
		t.Errorf("a reconnecting voter was told vote %d, want %d", r.BackVote, r.Want50)
	}
	if !strings.Contains(r.NotOwner, "creator") || r.BadVote == "" || !strings.Contains(r.AfterClose, "closed") {
		t.Errorf("errors: %q, %q, %q", r.NotOwner, r.BadVote, r.AfterClose)
	}
	var got struct {
		Poll struct {
			ID      string
			Closed  bool
			Tallies []int
			Votes   int
		}
	}
	if status, _ := httpJSON(t, "GET", s.Base+"/parties/poll/talk", nil, &got); status != 200 ||
		got.Poll.ID != r.Created.ID || !got.Poll.Closed || fmt.Sprint(got.Poll.Tallies) != fmt.Sprint(r.Expected) || got.Poll.Votes != 100 {
		t.Errorf("GET /parties/poll/talk: %d %+v; want the closed poll with %v", status, got, r.Expected)
	}
}

// TestPartyYProvider: y-partyserver's YProvider on the Yjs party "main"
// and on "doc" (declared with RegisterYjs in e2e/testparty) syncs, its
// custom messages do not cost it its connection, and the document is the
// one /ws serves.
func TestPartyYProvider(t *testing.T) {
	requirePartysocket(t)
	if _, err := os.Stat(filepath.Join(moduleRoot(t), "node_modules", "y-partyserver", "package.json")); err != nil {
		t.Fatal("node_modules/y-partyserver is missing (npm ci)")
	}
	t.Parallel()
	s := startParties(t, serverConfig{})
	for _, p := range []string{"main", "doc"} {
		var r struct {
			Text   string
			Closes int
		}
		scenario(t, s, "yprovider.mjs", map[string]any{"party": p, "room": "ydoc-" + p}, 30*time.Second, &r)
		if r.Text != "from A again" || r.Closes != 0 {
			t.Errorf("party %s: %+v; want the text on /ws too and no closed connection", p, r)
		}
	}
}
