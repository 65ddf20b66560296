//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/collabd/collabd/internal/pgtest"
)

// Durability under load, as the "Durable storage" issue asks it to be
// proven: real collabd processes with stock clients editing all the time
// (scenarios/crashload.mjs), killed with SIGKILL at random moments, and a
// PostgreSQL that goes away under them. collabd relays document state only
// once it is stored, so whatever any client has received must survive.
//
// The tests do not run in parallel with the others: they load both cores
// of a small machine, and the database outage test measures delays.

// crashSeed returns the seed of this run's random choices: that of
// $COLLABD_E2E_SEED, or a new one, printed in the log either way.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COLLABD_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COLLABD_E2E_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("random seed %d (rerun with COLLABD_E2E_SEED=%d)", seed, seed)
	return seed
}

// load is a running crashload.mjs and its control API.
type load struct {
	t    *testing.T
	proc *nodeProc
	ctl  string
}

func startLoad(t *testing.T, s *collabd, params map[string]any) *load {
	t.Helper()
	n := startNode(t, s, "crashload.mjs", params)
	var ev struct {
		Event string
		Port  int
	}
	n.next(30*time.Second, &ev)
	if ev.Event != "control" || ev.Port == 0 {
		t.Fatalf("crashload.mjs: %+v, want its control port", ev)
	}
	return &load{t: t, proc: n, ctl: fmt.Sprintf("http://127.0.0.1:%d", ev.Port)}
}

// call POSTs to a control endpoint and decodes the answer into v.
func (l *load) call(path string, v any) {
	l.t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	res, err := c.Post(l.ctl+path, "application/json", nil)
	if err != nil {
		l.t.Fatalf("load %s: %v; stderr:\n%s", path, err, l.proc.stderr.String())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		l.t.Fatalf("load %s: status %d: %s", path, res.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			l.t.Fatalf("load %s: %.300q: %v", path, b, err)
		}
	}
}

type loadClient struct {
	Label, Room, Route               string
	Connected, Synced                bool
	Generated, Sent, Echoed, Pending int
	PendingBeforeUp, Closes          int
}

func (l *load) status() []loadClient {
	l.t.Helper()
	var st []loadClient
	l.call("/status", &st)
	return st
}

// waitStatus polls the clients' status until ok holds, or fails the test
// after timeout.
func (l *load) waitStatus(what string, timeout time.Duration, ok func(loadClient) bool) []loadClient {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := l.status()
		all := true
		for _, c := range st {
			all = all && ok(c)
		}
		if all {
			return st
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: not within %v; clients: %+v", what, timeout, st)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// seenRoom is what the clients of a room received from collabd.
type seenRoom struct {
	SeenTokens []string
	SeenSV     map[string]uint64
	Generated  map[string]int
}

type freshDoc struct {
	Text        string
	StateVector map[string]uint64
}

type finalRoom struct {
	Clients []struct {
		Label       string
		Text        string
		StateVector map[string]uint64
		Generated   int
		Pending     int
		Synced      bool
	}
	Generated map[string]int
}

var tokenRE = regexp.MustCompile(`\[[0-9]+[a-z]\.[0-9]+\]`)

// tokenCounts counts the tokens of a text.
func tokenCounts(text string) map[string]int {
	n := map[string]int{}
	for _, tok := range tokenRE.FindAllString(text, -1) {
		n[tok]++
	}
	return n
}

// generatedTokens lists every token the clients of a room made.
func generatedTokens(gen map[string]int) []string {
	var toks []string
	for label, n := range gen {
		for i := range n {
			toks = append(toks, fmt.Sprintf("[%s.%d]", label, i))
		}
	}
	return toks
}

// checkHolds reports tokens of want missing from text, and tokens that
// text holds more than once; it returns how many tokens text holds.
func checkHolds(t *testing.T, what, text string, want []string) int {
	t.Helper()
	have := tokenCounts(text)
	var missing, twice []string
	for _, tok := range want {
		if have[tok] == 0 {
			missing = append(missing, tok)
		}
	}
	for tok, n := range have {
		if n > 1 {
			twice = append(twice, tok)
		}
	}
	slices.Sort(twice)
	if len(missing) > 0 {
		t.Errorf("%s: %d of %d tokens missing, e.g. %v", what, len(missing), len(want), missing[:min(len(missing), 10)])
	}
	if len(twice) > 0 {
		t.Errorf("%s: %d tokens more than once, e.g. %v", what, len(twice), twice[:min(len(twice), 10)])
	}
	if rest := tokenRE.ReplaceAllString(text, ""); rest != "" {
		t.Errorf("%s: text holds more than whole tokens: %.200q", what, rest)
	}
	return len(have)
}

// checkCovers reports clients whose clock in sv is below the one in seen.
func checkCovers(t *testing.T, what string, sv, seen map[string]uint64) {
	t.Helper()
	for client, clock := range seen {
		if sv[client] < clock {
			t.Errorf("%s: state vector has client %s at clock %d, but clients received its updates up to clock %d", what, client, sv[client], clock)
		}
	}
}

type crashBackend struct {
	name  string
	start func(addr string) *collabd
}

// TestCrashUnderLoadEmbedded: SIGKILL under load, embedded store.
func TestCrashUnderLoadEmbedded(t *testing.T) {
	requireClients(t)
	dir := t.TempDir()
	crashUnderLoad(t, crashBackend{name: "embedded", start: func(addr string) *collabd {
		return startCollabd(t, serverConfig{DataDir: dir, Addr: addr, Args: []string{"--log-level", "info"}})
	}})
}

// TestCrashUnderLoadPostgres: SIGKILL under load, PostgreSQL store in a
// schema of its own named by the URL's search_path.
func TestCrashUnderLoadPostgres(t *testing.T) {
	requireClients(t)
	dbURL := pgtest.URL(t)
	publicBefore := publicHasDocuments(t, dbURL)
	schema := e2eSchema(t, dbURL)
	url := collabdDatabaseURL(t, dbURL, schema, "")
	first := true
	crashUnderLoad(t, crashBackend{name: "postgres", start: func(addr string) *collabd {
		s := startCollabd(t, serverConfig{Addr: addr, Args: []string{"--database-url", url, "--log-level", "info"}})
		if first {
			first = false
			checkMigratedInto(t, dbURL, schema, publicBefore)
		}
		return s
	}})
}

// checkMigratedInto checks that collabd's migrations made their tables in
// schema (the URL's search_path), not in public.
func checkMigratedInto(t *testing.T, dbURL, schema string, publicBefore bool) {
	t.Helper()
	tables := schemaTables(t, dbURL, schema)
	for _, want := range []string{"collabd_migrations", "documents", "updates", "versions"} {
		if !slices.Contains(tables, want) {
			t.Errorf("schema %s has tables %v after collabd started; want %s among them", schema, tables, want)
		}
	}
	if !publicBefore && publicHasDocuments(t, dbURL) {
		t.Errorf("collabd created public.documents; its tables belong in schema %s (search_path)", schema)
	}
}

func crashUnderLoad(t *testing.T, b crashBackend) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const rounds = 5
	rooms := []string{"crash-a", "crash-b", "crash-c"}
	start := time.Now()

	s := b.start("")
	addr := s.Addr
	l := startLoad(t, s, map[string]any{"rooms": rooms, "clients": 3, "pk": true, "intervalMs": 15, "seed": seed % (1 << 31)})
	var lastSeen int
	for round := 1; round <= rounds; round++ {
		l.waitStatus(fmt.Sprintf("round %d: every client synced", round), 15*time.Second, func(c loadClient) bool { return c.Synced })
		delay := time.Duration(50+rng.IntN(1500)) * time.Millisecond
		time.Sleep(delay)
		if code, _ := s.signal(syscall.SIGKILL, 5*time.Second); code != -1 {
			t.Fatalf("round %d: exit code after SIGKILL: %d, want -1 (killed)", round, code)
		}

		// What the clients had received when collabd died; they stay
		// offline (and keep editing) until collabd has been checked.
		var seen map[string]seenRoom
		l.call("/pause", &seen)
		s = b.start(addr)
		var fresh map[string]map[string]freshDoc
		l.call("/verify", &fresh)

		seenTotal, heldTotal, genTotal := 0, 0, 0
		for _, room := range rooms {
			sr := seen[room]
			var rest restDoc
			status, _ := httpJSON(t, "GET", s.Base+"/api/docs/"+room, nil, &rest)
			// Killed before anything was stored, a room does not exist;
			// then nobody can have seen anything of it.
			if status != http.StatusOK && (status != http.StatusNotFound || len(sr.SeenTokens) > 0) {
				t.Fatalf("round %d: GET /api/docs/%s: status %d", round, room, status)
			}
			text, _ := rest.Content["text"].(string)
			what := fmt.Sprintf("%s round %d, room %s", b.name, round, room)
			held := checkHolds(t, what+": GET /api/docs text", text, sr.SeenTokens)
			checkCovers(t, what+": GET /api/docs", rest.StateVector, sr.SeenSV)
			for _, route := range []string{"ws", "pk"} {
				f := fresh[room][route]
				if f.Text != text {
					t.Errorf("%s: a fresh %s client's text (%d bytes) differs from GET /api/docs's (%d bytes)", what, route, len(f.Text), len(text))
				}
				checkHolds(t, what+": a fresh "+route+" client's text", f.Text, sr.SeenTokens)
				checkCovers(t, what+": a fresh "+route+" client", f.StateVector, sr.SeenSV)
				if !equalSV(f.StateVector, rest.StateVector) {
					t.Errorf("%s: a fresh %s client's state vector %v differs from GET /api/docs's %v", what, route, f.StateVector, rest.StateVector)
				}
			}
			seenTotal += len(sr.SeenTokens)
			heldTotal += held
			genTotal += len(generatedTokens(sr.Generated))
		}
		t.Logf("%s round %d: SIGKILL %v after the clients synced; %d tokens generated so far, %d seen by clients, %d in the documents after the restart",
			b.name, round, delay, genTotal, seenTotal, heldTotal)
		if t.Failed() {
			t.FailNow()
		}
		if seenTotal <= lastSeen {
			t.Logf("%s round %d: no new token reached a client in this round", b.name, round)
		}
		lastSeen = seenTotal
		l.call("/resume", nil)
	}
	if lastSeen == 0 {
		t.Fatalf("no client ever received an update: the test tested nothing")
	}

	// The clients reconnect, push what they wrote offline or what died
	// with collabd, and everything converges.
	l.waitStatus("every client synced after the last restart", 15*time.Second, func(c loadClient) bool { return c.Synced })
	time.Sleep(200 * time.Millisecond)
	l.call("/stop", nil)
	final := waitConverged(t, l, s, rooms, 15*time.Second)
	total := 0
	for _, room := range rooms {
		want := generatedTokens(final[room].Generated)
		total += len(want)
		checkHolds(t, b.name+" at the end, room "+room, getDocText(t, s, room), want)
	}
	t.Logf("%s: %d rounds in %v; at the end every one of the %d tokens the clients generated is stored once",
		b.name, rounds, time.Since(start).Round(time.Millisecond), total)
}

func getDocText(t *testing.T, s *collabd, room string) string {
	t.Helper()
	text, _ := getDoc(t, s, room).Content["text"].(string)
	return text
}

// waitConverged waits until, in every room, all clients and collabd hold
// the same text and state vector, and returns the clients' final report.
func waitConverged(t *testing.T, l *load, s *collabd, rooms []string, timeout time.Duration) map[string]finalRoom {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var final map[string]finalRoom
		l.call("/final", &final)
		ok, why := true, ""
		for _, room := range rooms {
			rest := getDoc(t, s, room)
			text, _ := rest.Content["text"].(string)
			for _, c := range final[room].Clients {
				switch {
				case c.Text != text:
					ok, why = false, fmt.Sprintf("room %s: client %s has %d bytes of text, collabd %d", room, c.Label, len(c.Text), len(text))
				case !equalSV(c.StateVector, rest.StateVector):
					ok, why = false, fmt.Sprintf("room %s: client %s has state vector %v, collabd %v", room, c.Label, c.StateVector, rest.StateVector)
				}
			}
		}
		if ok {
			return final
		}
		if time.Now().After(deadline) {
			t.Fatalf("the clients and collabd did not converge within %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func equalSV(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// readyz returns the status of GET /readyz.
func readyz(t *testing.T, s *collabd) int {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(s.Base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// waitReadyz polls /readyz until it answers want; it returns how long that
// took.
func waitReadyz(t *testing.T, s *collabd, want int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := readyz(t, s)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("GET /readyz: %d, want %d within %v", got, want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDatabaseDownUnderLoad cuts collabd's connection to PostgreSQL (a
// proxy in between closes every connection and refuses new ones) for a few
// seconds while clients edit, at the worst moment: a group commit's COMMIT
// has reached the database, its answer has not come back. /readyz reports
// 503, the connections stay open and presence keeps flowing, no update is
// relayed while it cannot be stored, and once the database is back the
// held updates are stored (each once) and echoed, and every client
// converges on a document that holds every update.
func TestDatabaseDownUnderLoad(t *testing.T) {
	requireClients(t)
	dbURL := pgtest.URL(t)
	target := databaseAddr(t, dbURL)
	schema := e2eSchema(t, dbURL)
	p := startTCPProxy(t, target)
	viaProxy := collabdDatabaseURL(t, dbURL, schema, p.addr)
	const outage = 3 * time.Second
	rooms := []string{"dbdown-a", "dbdown-b"}
	start := time.Now()

	// No compaction: the log keeps every stored update, to count them.
	args := []string{"--log-level", "info", "--compact-entries", "1000000000", "--idle-timeout", "1m"}
	s := startCollabd(t, serverConfig{Args: append([]string{"--database-url", viaProxy}, args...)})
	// 3 clients × 100 edits/s per room: an outage holds back more updates
	// than a connection's send queue (--send-queue, 512 frames) holds.
	l := startLoad(t, s, map[string]any{"rooms": rooms, "clients": 3, "pk": true, "intervalMs": 10, "seed": 1})
	l.waitStatus("every client has edits echoed", 15*time.Second, func(c loadClient) bool { return c.Echoed >= 20 })
	if got := readyz(t, s); got != http.StatusOK {
		t.Fatalf("GET /readyz before the outage: %d, want 200", got)
	}

	// The cut comes the moment a group commit's COMMIT reaches the
	// database, so that collabd cannot know whether it committed.
	caught := p.cutAtCommit(2 * time.Second)
	cutAt := time.Now()
	took := waitReadyz(t, s, http.StatusServiceUnavailable, 5*time.Second)
	t.Logf("database cut (with a COMMIT in flight: %v): /readyz 503 after %v", caught, took.Round(time.Millisecond))
	// Commits that were answered before the cut may still be relayed for
	// a moment; from here on nothing can be stored.
	time.Sleep(300 * time.Millisecond)
	l.call("/mark", nil)
	for time.Since(cutAt) < outage {
		if got := readyz(t, s); got != http.StatusServiceUnavailable {
			t.Errorf("GET /readyz %v into the outage: %d, want 503", time.Since(cutAt).Round(time.Millisecond), got)
		}
		s.alive(t)
		time.Sleep(200 * time.Millisecond)
	}
	var w struct {
		Sync, Awareness, SentAfterMark, EchoedAfterMark, Ms, Closes int
	}
	l.call("/window", &w)
	t.Logf("during %d ms of the outage: clients sent %d updates; received %d sync messages (%d echoes of updates sent in the outage), %d awareness messages; %d connections closed",
		w.Ms, w.SentAfterMark, w.Sync, w.EchoedAfterMark, w.Awareness, w.Closes)
	if w.SentAfterMark == 0 {
		t.Errorf("the clients sent no update during the outage: the test tested nothing")
	}
	if w.Sync > 0 || w.EchoedAfterMark > 0 {
		t.Errorf("collabd sent %d sync messages (echoing %d updates sent during the outage) while the database was unreachable: it relayed what it could not have stored", w.Sync, w.EchoedAfterMark)
	}
	if w.Awareness == 0 {
		t.Errorf("no presence update reached a client during the outage: collabd stopped serving the rooms")
	}
	if w.Closes > 0 {
		t.Errorf("%d client connections closed during the outage; collabd should keep serving what it has loaded", w.Closes)
	}

	p.restore(t)
	upAt := time.Now()
	var atUp []loadClient
	l.call("/markup", &atUp)
	held := 0
	for _, c := range atUp {
		held += c.PendingBeforeUp
	}
	took = waitReadyz(t, s, http.StatusOK, 10*time.Second)
	t.Logf("database back: /readyz 200 after %v", took.Round(time.Millisecond))
	l.waitStatus("every update held during the outage echoed", 15*time.Second, func(c loadClient) bool { return c.PendingBeforeUp == 0 })
	t.Logf("the %d updates held during the outage were stored and echoed %v after the database came back", held, time.Since(upAt).Round(time.Millisecond))
	if held == 0 {
		t.Errorf("no update was waiting for its echo when the database came back")
	}

	time.Sleep(300 * time.Millisecond)
	l.call("/stop", nil)
	st := l.waitStatus("every update echoed", 15*time.Second, func(c loadClient) bool { return c.Pending == 0 })
	closes := 0
	for _, c := range st {
		closes += c.Closes
	}
	t.Run("clients stay connected", func(t *testing.T) {
		if closes > 0 {
			t.Errorf("client connections were closed %d times (%d clients) once the database came back, collabd logging %d \"closing slow connection\": releasing the held updates, one frame each, overflowed the connections' send queues; clients that keep up must not be disconnected",
				closes, len(st), len(s.logged("closing slow connection")))
		}
	})
	final := waitConverged(t, l, s, rooms, 15*time.Second)
	want := map[string][]string{}
	texts := map[string]string{}
	total := 0
	for _, room := range rooms {
		want[room] = generatedTokens(final[room].Generated)
		texts[room] = final[room].Clients[0].Text
		total += len(want[room])
		checkHolds(t, "after the outage, room "+room, texts[room], want[room])
	}

	// Stored, not only in memory: collabd killed and started again on the
	// database directly serves the same documents.
	if code, _ := s.signal(syscall.SIGKILL, 5*time.Second); code != -1 {
		t.Errorf("exit code after SIGKILL: %d, want -1", code)
	}
	s2 := startCollabd(t, serverConfig{Args: append([]string{"--database-url", collabdDatabaseURL(t, dbURL, schema, "")}, args...)})
	for _, room := range rooms {
		got := getDocText(t, s2, room)
		if got != texts[room] {
			t.Errorf("room %s after a restart: %d bytes of text, the clients had %d", room, len(got), len(texts[room]))
		}
		checkHolds(t, "after the outage and a restart, room "+room, got, want[room])
	}

	t.Run("each update stored once", func(t *testing.T) {
		direct := collabdDatabaseURL(t, dbURL, schema, "")
		for _, room := range rooms {
			var rows, distinct int
			pgQuery(t, direct, `SELECT count(*), count(DISTINCT bytes) FROM updates WHERE doc = $1`, func(r pgx.Rows) error {
				return r.Scan(&rows, &distinct)
			}, room)
			t.Logf("room %s: %d tokens, %d log entries, %d distinct", room, len(want[room]), rows, distinct)
			if rows != distinct {
				t.Errorf("room %s: the log holds %d updates more than once (%d entries, %d distinct): an append whose commit outcome was unknown was stored again", room, rows-distinct, rows, distinct)
			}
			// One update per token, unless reconnecting clients sent
			// what they had as one SyncStep2.
			if closes == 0 && distinct != len(want[room]) {
				t.Errorf("room %s: %d distinct log entries for %d single-token updates", room, distinct, len(want[room]))
			}
		}
	})
	t.Logf("%d tokens in %d rooms in %v; %d appends failed and were retried",
		total, len(rooms), time.Since(start).Round(time.Millisecond), len(s.logged("storing updates failed; holding them and retrying")))
}
