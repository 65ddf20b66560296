//go:build unix

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/collabd/collabd/docstore/postgres"
	"github.com/collabd/collabd/internal/pgtest"
	"github.com/collabd/collabd/ydoc"
)

// The cluster tests run three real collabd processes with --cluster, the
// real NATS bus and PostgreSQL on loopback, and stock y-websocket clients
// (scenarios/cluster.mjs). COLLABD_TEST_NATS_URL names the shared bus
// (scripts/test.sh starts it; default nats://127.0.0.1:4222); the bus
// restart test starts a nats-server of its own. Without the bus, the
// tests skip; under CI=true they fail.

// clusterEnv is what a cluster test needs: the database, a schema of its
// own, a cluster name of its own on the bus.
type clusterEnv struct {
	t       *testing.T
	dbURL   string // the test database
	nodeURL string // the test schema's URL, for collabd
	schema  string
	name    string // the cluster name
	bus     string
}

func requireBus(t *testing.T) string {
	t.Helper()
	url := os.Getenv("COLLABD_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	host := strings.TrimPrefix(url, "nats://")
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		msg := "the cluster tests need a NATS server at " + url + " (COLLABD_TEST_NATS_URL; scripts/test.sh starts one): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c.Close()
	return url
}

func newClusterEnv(t *testing.T, bus string) *clusterEnv {
	t.Helper()
	requireClients(t)
	dbURL := pgtest.URL(t)
	if bus == "" {
		bus = requireBus(t)
	}
	schema := e2eSchema(t, dbURL)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &clusterEnv{t: t, dbURL: dbURL, nodeURL: collabdDatabaseURL(t, dbURL, schema, ""), schema: schema,
		name: "e2e" + hex.EncodeToString(b), bus: bus}
}

// node starts collabd node i of the cluster.
func (e *clusterEnv) node(i int, args ...string) *collabd {
	e.t.Helper()
	return startCollabd(e.t, serverConfig{Args: append([]string{
		"--cluster", "--bus-url", e.bus, "--cluster-name", e.name, "--node-id", fmt.Sprintf("n%d", i),
		"--database-url", e.nodeURL}, args...)})
}

func (e *clusterEnv) nodes(n int, args ...string) []*collabd {
	e.t.Helper()
	ns := make([]*collabd, n)
	for i := range ns {
		ns[i] = e.node(i, args...)
	}
	return ns
}

// storedDoc loads room straight from the PostgreSQL store.
func (e *clusterEnv) storedDoc(room string) *ydoc.Doc {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, e.dbURL, postgres.Options{Schema: e.schema})
	if err != nil {
		e.t.Fatalf("opening the store: %v", err)
	}
	defer st.Close()
	stored, err := st.Load(ctx, room)
	if err != nil {
		e.t.Fatalf("loading %q from the store: %v", room, err)
	}
	d := ydoc.New(ydoc.Options{})
	if len(stored.Snapshot) > 0 {
		if err := d.ApplyUpdate(stored.Snapshot); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, en := range stored.Entries {
		if err := d.ApplyUpdate(en.Update); err != nil {
			e.t.Fatal(err)
		}
	}
	return d
}

// storedLog is the Y.Array "log" of room in the store.
func (e *clusterEnv) storedLog(room string) []string {
	e.t.Helper()
	d := e.storedDoc(room)
	arr := d.RootAs("log", ydoc.KindArray)
	if arr == nil {
		return nil
	}
	vs, _ := arr.JSON().([]any)
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// bases are the nodes' http://HOST:PORT.
func bases(ns ...*collabd) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Base)
	}
	return out
}

// loadBalancer is a small TCP load balancer: each connection goes to the
// next backend in turn that accepts it.
type loadBalancer struct {
	ln       net.Listener
	backends []string
	mu       sync.Mutex
	next     int
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func startLoadBalancer(t *testing.T, backends []string) *loadBalancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &loadBalancer{ln: ln, backends: backends, conns: make(map[net.Conn]struct{})}
	lb.wg.Add(1)
	go lb.serve()
	t.Cleanup(lb.close)
	return lb
}

func (lb *loadBalancer) Base() string { return "http://" + lb.ln.Addr().String() }

func (lb *loadBalancer) serve() {
	defer lb.wg.Done()
	for {
		c, err := lb.ln.Accept()
		if err != nil {
			return
		}
		lb.wg.Add(1)
		go lb.forward(c)
	}
}

func (lb *loadBalancer) track(c net.Conn, on bool) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if on {
		lb.conns[c] = struct{}{}
	} else {
		delete(lb.conns, c)
	}
}

func (lb *loadBalancer) forward(c net.Conn) {
	defer lb.wg.Done()
	defer c.Close()
	var up net.Conn
	for range lb.backends {
		lb.mu.Lock()
		b := lb.backends[lb.next%len(lb.backends)]
		lb.next++
		lb.mu.Unlock()
		u, err := net.DialTimeout("tcp", strings.TrimPrefix(b, "http://"), time.Second)
		if err == nil {
			up = u
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	lb.track(c, true)
	lb.track(up, true)
	defer lb.track(c, false)
	defer lb.track(up, false)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (lb *loadBalancer) close() {
	lb.ln.Close()
	lb.mu.Lock()
	for c := range lb.conns {
		c.Close()
	}
	lb.mu.Unlock()
	lb.wg.Wait()
}

// TestClusterConverge: six clients of one room, two on each of three
// nodes, edit Y.Text, Y.Map and Y.XmlFragment at once and converge; every
// node serves the same document over REST, which matches the store; a
// second room reached only through the load balancer converges too.
func TestClusterConverge(t *testing.T) {
	e := newClusterEnv(t, "")
	ns := e.nodes(3, "--admin-addr", "127.0.0.1:0")
	var res struct {
		Clients []snapshot `json:"clients"`
		Servers []snapshot `json:"servers"`
		Text    string     `json:"text"`
		XML     string     `json:"xml"`
	}
	scenario(t, ns[0], "cluster.mjs", map[string]any{"mode": "converge", "bases": bases(ns...), "room": "conv", "clients": 6, "rounds": 30}, 60*time.Second, &res)
	if len(res.Clients) != 6 || len(res.Servers) != 3 {
		t.Fatalf("got %d clients and %d servers, want 6 and 3", len(res.Clients), len(res.Servers))
	}
	if res.Text == "" || !strings.Contains(res.XML, "<paragraph>") {
		t.Fatalf("the document is empty: text %q, xml %q", res.Text, res.XML)
	}
	for i, c := range res.Clients {
		equalJSON(t, fmt.Sprintf("client %d vs client 0", i), c.JSON, res.Clients[0].JSON)
	}
	for i, s := range res.Servers {
		equalJSON(t, fmt.Sprintf("node %d's document vs the clients'", i), s.JSON, res.Clients[0].JSON)
		equalJSON(t, fmt.Sprintf("node %d's state vector vs the clients'", i), s.StateVector, res.Clients[0].StateVector)
	}
	// Node 0 owns the room; the others forwarded their clients to it.
	for i, n := range ns {
		if got, want := tookLease(n, "conv"), i == 0; got != want {
			t.Errorf("node %d took the lease of the room: %v, want %v", i, got, want)
		}
	}
	stored := e.storedDoc("conv")
	if got := stored.RootAs("text", ydoc.KindText).String(); got != res.Text {
		t.Errorf("stored text %q, clients have %q", got, res.Text)
	}
	// Every node counts its bus traffic; the forwarders count what they
	// forwarded, the owner its lease.
	for i, n := range ns {
		m := scrape(t, n)
		for _, name := range []string{"collabd_bus_messages_sent_total", "collabd_bus_messages_received_total", "collabd_bus_lag_seconds_count"} {
			if m[name] <= 0 {
				t.Errorf("node %d: %s = %v, want > 0", i, name, m[name])
			}
		}
		fwd, joins := m["collabd_cluster_forwarded_frames_total"], m[`collabd_cluster_events_total{event="forwarded_join"}`]
		if leases := m[`collabd_cluster_events_total{event="lease_acquired"}`]; (i == 0) != (leases > 0) {
			t.Errorf("node %d: %v leases acquired", i, leases)
		}
		if (i == 0) == (fwd > 0 && joins > 0) {
			t.Errorf("node %d: %v frames forwarded in %v joins", i, fwd, joins)
		}
	}

	// Through the load balancer: clients land on nodes in turn.
	lb := startLoadBalancer(t, bases(ns...))
	var res2 struct {
		Clients []snapshot `json:"clients"`
		Servers []snapshot `json:"servers"`
	}
	scenario(t, ns[0], "cluster.mjs", map[string]any{"mode": "converge", "bases": []string{lb.Base()}, "room": "conv-lb", "clients": 5, "rounds": 20}, 60*time.Second, &res2)
	for i, c := range res2.Clients {
		equalJSON(t, fmt.Sprintf("lb: client %d vs client 0", i), c.JSON, res2.Clients[0].JSON)
	}
	for _, n := range ns {
		n.alive(t)
	}
}

// TestClusterPostgresRequired: --cluster refuses the embedded store with
// a clear error before it opens anything.
func TestClusterPostgresRequired(t *testing.T) {
	bin := collabdBinary(t)
	cmd := exec.Command(bin, "--cluster", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("collabd --cluster without a database started; output:\n%s", out)
	}
	if !strings.Contains(string(out), "--cluster needs the PostgreSQL store") {
		t.Fatalf("output %q does not explain that --cluster needs PostgreSQL", out)
	}
}

// TestClusterPresence: clients on three nodes see each other's presence;
// when node 2 is killed (SIGKILL: it announces nothing), the presence of
// its client disappears at the others once the owner misses node 2's
// heartbeats (--cluster-dead-after 3s), far sooner than the 30 s expiry
// of presence states, which would be the only cleanup without the
// heartbeats.
func TestClusterPresence(t *testing.T) {
	e := newClusterEnv(t, "")
	ns := e.nodes(3)
	sc := startNode(t, ns[0], "cluster.mjs", map[string]any{"mode": "presence", "bases": bases(ns...), "room": "presence",
		"removalLimitMs": 10000, "timeoutMs": 40000})
	var ready struct {
		Ready  bool `json:"ready"`
		SeenMs int  `json:"seenMs"`
	}
	sc.next(20*time.Second, &ready)
	if !ready.Ready {
		t.Fatalf("scenario said %+v", ready)
	}
	ns[2].signal(syscall.SIGKILL, 5*time.Second)
	var res struct {
		SeenMs, RemovedMs int
	}
	sc.wait(30*time.Second, &res)
	t.Logf("presence seen across nodes after %d ms; the killed node's client removed after %d ms", res.SeenMs, res.RemovedMs)
	if !tookLease(ns[0], "presence") || tookLease(ns[1], "presence") {
		t.Errorf("node 0 should own the room and node 1 forward to it")
	}
	if got := ns[0].logged("node silent: dropping its connections"); len(got) == 0 {
		t.Errorf("node 0 did not log node 2's death")
	}
}

// loadResult is the result of cluster.mjs's load mode.
type loadResult struct {
	Written    []string            `json:"written"`
	SeenVictim []string            `json:"seenVictim"`
	Final      map[string][]string `json:"final"`
}

// own makes node n take the lease of room (a REST write loads the room
// there; an empty update changes nothing).
func own(t *testing.T, n *collabd, room string) {
	t.Helper()
	if status, _ := httpJSON(t, "POST", n.Base+"/api/docs/"+room+"/update", []byte{0, 0}, nil); status != http.StatusOK {
		t.Fatalf("POST an empty update to %s on %s: status %d", room, n.Addr, status)
	}
}

// checkStored checks, once every node has stored its rooms, that each
// room's stored log holds every token written (by the survivors, whose
// clients resent whatever was not stored) and every token of the killed
// writers that any survivor saw relayed, each once, in the order the
// clients converged on.
func (e *clusterEnv) checkStored(res loadResult, rooms ...string) {
	e.t.Helper()
	stored := make(map[string]bool)
	for _, room := range rooms {
		log := e.storedLog(room)
		seen := make(map[string]bool, len(log))
		for _, tok := range log {
			if seen[tok] {
				e.t.Errorf("room %s: token %s stored twice", room, tok)
			}
			seen[tok] = true
			stored[tok] = true
		}
		if !slices.Equal(log, res.Final[room]) {
			e.t.Errorf("room %s: the store holds %d tokens, the converged clients %d (or in another order)", room, len(log), len(res.Final[room]))
		}
	}
	var missing []string
	for _, tok := range res.Written {
		if !stored[tok] {
			missing = append(missing, tok)
		}
	}
	for _, tok := range res.SeenVictim {
		if !stored[tok] {
			missing = append(missing, "relayed "+tok)
		}
	}
	if len(missing) > 0 {
		e.t.Errorf("%d tokens missing from the store: %.20q", len(missing), missing)
	}
	e.t.Logf("%d tokens written by the survivors, %d of the killed writers seen relayed; all in the store", len(res.Written), len(res.SeenVictim))
}

// TestClusterKillUnderLoad: clients behind a load balancer write into two
// rooms, one owned by node 0, one by node 2; a writer connected straight
// to node 2 writes into both. Node 2 and that writer are SIGKILLed at
// once, under load. The survivors' clients reconnect through the load
// balancer and converge, and the store holds everything: every token any
// survivor saw relayed from the killed writer (store before relay, on the
// owner that died and across the bus from it), and every token the
// survivors wrote.
func TestClusterKillUnderLoad(t *testing.T) {
	e := newClusterEnv(t, "")
	ns := e.nodes(3)
	own(t, ns[0], "ka")
	own(t, ns[2], "kb")
	lb := startLoadBalancer(t, bases(ns...))
	rooms := []string{"ka", "kb"}
	sc := startNode(t, ns[0], "cluster.mjs", map[string]any{"mode": "load", "bases": []string{lb.Base()}, "rooms": rooms,
		"writersPerRoom": 3, "durationMs": 7000, "victim": "victim", "timeoutMs": 60000})
	var ready map[string]any
	sc.next(20*time.Second, &ready)
	victim := startNode(t, ns[2], "cluster.mjs", map[string]any{"mode": "victim", "bases": []string{ns[2].Base}, "rooms": rooms, "victim": "victim"})
	victim.next(20*time.Second, &ready)
	time.Sleep(1500 * time.Millisecond)
	victim.kill()
	ns[2].signal(syscall.SIGKILL, 5*time.Second)
	var res loadResult
	sc.wait(60*time.Second, &res)
	if len(res.SeenVictim) == 0 {
		t.Fatal("no survivor saw a token of the killed writer: the test proves nothing")
	}
	for _, n := range ns[:2] {
		if code, _ := n.signal(syscall.SIGTERM, 20*time.Second); code != 0 {
			t.Errorf("node exit code %d", code)
		}
	}
	e.checkStored(res, rooms...)
}

// TestClusterShutdownHandover: node 0 owns a room under load and is
// stopped with SIGTERM: it stores its rooms, releases their leases and
// closes its clients; they reconnect through the load balancer, another
// node takes the room, and nothing is lost.
func TestClusterShutdownHandover(t *testing.T) {
	e := newClusterEnv(t, "")
	ns := e.nodes(3)
	own(t, ns[0], "ho")
	lb := startLoadBalancer(t, bases(ns...))
	sc := startNode(t, ns[0], "cluster.mjs", map[string]any{"mode": "load", "bases": []string{lb.Base()}, "rooms": []string{"ho"},
		"writersPerRoom": 6, "durationMs": 5000, "timeoutMs": 60000})
	var ready map[string]any
	sc.next(20*time.Second, &ready)
	time.Sleep(1500 * time.Millisecond)
	if code, _ := ns[0].signal(syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Fatalf("node 0 exit code %d", code)
	}
	var res loadResult
	sc.wait(60*time.Second, &res)
	if !tookLease(ns[1], "ho") && !tookLease(ns[2], "ho") {
		t.Error("no other node took the room over")
	}
	for _, n := range ns[1:] {
		if code, _ := n.signal(syscall.SIGTERM, 20*time.Second); code != 0 {
			t.Errorf("node exit code %d", code)
		}
	}
	e.checkStored(res, "ho")
}

// natsServer is a nats-server of the test's own, which it may kill and
// restart on the same port.
type natsServer struct {
	t    *testing.T
	bin  string
	port int
	cmd  *exec.Cmd
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		msg := "the bus restart test needs nats-server on PATH (Debian package nats-server; scripts/test.sh installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &natsServer{t: t, bin: bin, port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting nats-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server not listening on %d within 10 s", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *natsServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// TestClusterBusRestart: the bus is killed and restarted under load (two
// rooms, clients behind the load balancer on all three nodes). While it
// is down, /readyz says 503; the nodes close their forwarded connections,
// reconnect to the bus when it is back, and the clients resync: they
// converge, no room is stuck, and the store holds every token.
func TestClusterBusRestart(t *testing.T) {
	bus := startNATS(t)
	e := newClusterEnv(t, bus.URL())
	ns := e.nodes(3)
	own(t, ns[0], "ba")
	own(t, ns[1], "bb")
	lb := startLoadBalancer(t, bases(ns...))
	rooms := []string{"ba", "bb"}
	sc := startNode(t, ns[0], "cluster.mjs", map[string]any{"mode": "load", "bases": []string{lb.Base()}, "rooms": rooms,
		"writersPerRoom": 3, "durationMs": 7000, "timeoutMs": 60000})
	var ready map[string]any
	sc.next(20*time.Second, &ready)
	time.Sleep(1500 * time.Millisecond)
	bus.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := httpJSON(t, "GET", ns[2].Base+"/readyz", nil, nil)
		if status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d with the bus down", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	bus.start()
	var res loadResult
	sc.wait(60*time.Second, &res)
	for _, n := range ns {
		if status, _ := httpJSON(t, "GET", n.Base+"/readyz", nil, nil); status != http.StatusOK {
			t.Errorf("/readyz of %s: %d after the bus came back", n.Addr, status)
		}
		if got := n.logged("bus reconnected"); len(got) == 0 {
			t.Errorf("%s did not log reconnecting to the bus", n.Addr)
		}
	}
	for _, n := range ns {
		if code, _ := n.signal(syscall.SIGTERM, 20*time.Second); code != 0 {
			t.Errorf("node exit code %d", code)
		}
	}
	e.checkStored(res, rooms...)
}

// goroutines is the number of goroutines of node n (its admin
// listener's goroutine profile).
func goroutines(t *testing.T, n *collabd) int {
	t.Helper()
	res, err := http.Get(adminBase(t, n) + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var total int
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &total); err != nil {
		t.Fatalf("goroutine profile header %q: %v", line, err)
	}
	return total
}

// TestClusterChurn: 200 clients connect, sync, show presence and leave,
// round-robin over three nodes (two of every three forwarded to the
// owner); afterwards no node holds more goroutines than before (no leak
// of forwarded or remote connections), and the last client sees the
// last write.
func TestClusterChurn(t *testing.T) {
	e := newClusterEnv(t, "")
	ns := e.nodes(3, "--admin-addr", "127.0.0.1:0")
	params := map[string]any{"mode": "churn", "bases": bases(ns...), "room": "churn"}
	// A warm-up, so that what starts on first use (pollers, write pools,
	// the room) is in the baseline.
	warm := map[string]any{"cycles": 3}
	for k, v := range params {
		warm[k] = v
	}
	scenario(t, ns[0], "cluster.mjs", warm, 30*time.Second, nil)
	before := make([]int, len(ns))
	for i, n := range ns {
		before[i] = goroutines(t, n)
	}
	params["cycles"] = 200
	var res struct {
		Cycles int            `json:"cycles"`
		Map    map[string]any `json:"map"`
	}
	scenario(t, ns[0], "cluster.mjs", params, 90*time.Second, &res)
	if res.Cycles != 200 || len(res.Map) != 10 {
		t.Fatalf("churn result %+v", res)
	}
	for i, n := range ns {
		// Connections end asynchronously: give them a moment.
		var after int
		deadline := time.Now().Add(10 * time.Second)
		for {
			after = goroutines(t, n)
			if after <= before[i]+2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("node %d: %d goroutines before, %d after 200 cycles", i, before[i], after)
		if after > before[i]+2 {
			t.Errorf("node %d: %d goroutines after 200 connect/disconnect cycles, %d before", i, after, before[i])
		}
	}
}

// TestClusterReadOnly: what the node a client connects to decided about
// it crosses the bus: a viewer (read-only, as a read token makes it)
// connected to node 1, in a room node 0 owns, follows the editor but its
// edits are refused by the owner with permission-denied.
func TestClusterReadOnly(t *testing.T) {
	e := newClusterEnv(t, "")
	ns := e.nodes(2)
	own(t, ns[0], "ro")
	var r struct {
		EditorText, ServerText string
		Denied                 int
	}
	scenario(t, ns[1], "readonly.mjs", map[string]any{"room": "ro"}, 30*time.Second, &r)
	const want = "written by the editor"
	if r.EditorText != want || r.ServerText != want {
		t.Errorf("editor %q, server %q, want %q: the viewer's edit got through", r.EditorText, r.ServerText, want)
	}
	if r.Denied == 0 {
		t.Error("the viewer got no permission-denied message")
	}
	if tookLease(ns[1], "ro") {
		t.Error("node 1 took the room: nothing was forwarded")
	}
}

// tookLease reports whether node n logged taking the lease of room.
func tookLease(n *collabd, room string) bool {
	for _, rec := range n.logged("took the lease of a room") {
		if rec["room"] == room {
			return true
		}
	}
	return false
}

var _ = bufio.NewScanner
var _ = http.Get
var _ = slices.Contains[[]string]
var _ = strconv.Itoa
var _ = syscall.SIGKILL
