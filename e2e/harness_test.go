//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The collabd binary, built once per test run into buildDir.
var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// moduleRoot is the directory holding go.mod (and node_modules).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// requireClients skips the test under -short, and when node or the pinned
// npm packages are missing (a failure under CI=true).
func requireClients(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped under -short")
	}
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (not on PATH)")
	}
	nm := filepath.Join(moduleRoot(t), "node_modules")
	for _, pkg := range []string{"yjs", "y-websocket", "y-partykit", "y-protocols", "ws", "lib0"} {
		if _, err := os.Stat(filepath.Join(nm, pkg, "package.json")); err != nil {
			missing = append(missing, "node_modules/"+pkg)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "end-to-end tests need " + strings.Join(missing, ", ") + " (install Node.js; run npm ci in the module root)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// collabdBinary builds ./cmd/collabd once and returns its path, or returns
// $COLLABD_E2E_BINARY if set (to run the suite against a given build).
func collabdBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("COLLABD_E2E_BINARY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "collabd-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "collabd")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/collabd")
		cmd.Dir = moduleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/collabd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lineLog collects a process's output lines; safe for concurrent use.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// collabd is a collabd child process.
type collabd struct {
	t       *testing.T
	Addr    string // host:port it listens on
	Base    string // http://host:port
	DataDir string

	cmd  *exec.Cmd
	logs lineLog       // stderr lines (JSON logs)
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// serverConfig configures startCollabd; the zero value is a fresh data
// directory and a port the OS picks.
type serverConfig struct {
	DataDir string   // "" is a new temporary directory
	Addr    string   // "" is 127.0.0.1:0
	Args    []string // more flags
	Binary  string   // "" is the collabd build (collabdBinary)
}

// startCollabd starts collabd and waits until it answers /healthz. The
// process is killed when the test ends if it is still running.
func startCollabd(t *testing.T, cfg serverConfig) *collabd {
	t.Helper()
	bin := cfg.Binary
	if bin == "" {
		bin = collabdBinary(t)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Addr == "" {
		// collabd logs the address it listens on, so port 0 needs no
		// guessing of a free port.
		cfg.Addr = "127.0.0.1:0"
	}
	// Several scenarios write as fast as they can from one client (the
	// SIGKILL writer, the crash loads), past the default message rate
	// limit; TestLimits sets the limits it trips in cfg.Args, which come
	// later and win.
	args := append([]string{"--addr", cfg.Addr, "--data-dir", cfg.DataDir, "--log-format", "json", "--log-level", "debug",
		"--rate-messages", "0", "--rate-bytes", "0"}, cfg.Args...)
	s := &collabd{t: t, DataDir: cfg.DataDir, done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = childAttr(false)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting collabd: %v", err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.add(line)
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "collabd listening" && rec.Addr != "" {
				select {
				case listening <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if !s.exited() {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			s.dumpLogs()
		}
	})
	select {
	case s.Addr = <-listening:
	case <-s.done:
		s.dumpLogs()
		t.Fatalf("collabd %v exited before listening: %v", args, s.err)
	case <-time.After(15 * time.Second):
		s.dumpLogs()
		t.Fatalf("collabd %v did not log its address within 15 s", args)
	}
	s.Base = "http://" + s.Addr
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Get(s.Base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("collabd at %s: /healthz not OK within 5 s (last error %v)", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

func (s *collabd) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *collabd) dumpLogs() {
	lines := s.logs.all()
	if len(lines) > 80 {
		s.t.Logf("collabd log (last 80 of %d lines):", len(lines))
		lines = lines[len(lines)-80:]
	} else {
		s.t.Logf("collabd log:")
	}
	for _, l := range lines {
		s.t.Log("  " + l)
	}
}

// signal sends sig and waits up to within for the process to exit. It
// returns the exit code (-1 when killed by a signal) and how long the exit
// took; if the process does not exit in time it is killed and the test
// fails.
func (s *collabd) signal(sig syscall.Signal, within time.Duration) (code int, took time.Duration) {
	s.t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signalling collabd: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.t.Fatalf("collabd did not exit within %v of %v", within, sig)
	}
	return s.cmd.ProcessState.ExitCode(), time.Since(start)
}

// alive fails the test unless the process runs and /healthz answers 200.
func (s *collabd) alive(t *testing.T) {
	t.Helper()
	if s.exited() {
		t.Fatalf("collabd exited: %v", s.err)
	}
	res, err := http.Get(s.Base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: status %d, want 200", res.StatusCode)
	}
}

// logged returns the parsed log records of collabd whose msg is msg.
func (s *collabd) logged(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range s.logs.all() {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// procStatus reads a field of /proc/PID/status in kB (VmRSS, VmHWM).
func (s *collabd) procStatus(t *testing.T, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("cannot read /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("/proc status %s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("/proc status has no %s", field)
	return 0
}

// openFDs counts the process's open file descriptors.
func (s *collabd) openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("cannot read /proc: %v", err)
	}
	return len(ents)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// nodeProc is a running scenario script, in its own process group so that
// it and anything it spawns can be killed together.
type nodeProc struct {
	t      *testing.T
	script string
	cmd    *exec.Cmd
	stderr syncBuffer

	mu     sync.Mutex
	lines  []string      // stdout lines; guarded by mu
	read   int           // lines handed out by next; guarded by mu
	notify chan struct{} // a token when lines grew or stdout ended
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before done is closed
}

// startNode runs node scenarios/script with params (plus "base" of s) as
// its JSON argument. The process group is killed when the test ends.
func startNode(t *testing.T, s *collabd, script string, params map[string]any) *nodeProc {
	t.Helper()
	p := map[string]any{"base": s.Base}
	for k, v := range params {
		p[k] = v
	}
	arg, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeProc{t: t, script: script, notify: make(chan struct{}, 1), done: make(chan struct{})}
	n.cmd = exec.Command("node", filepath.Join("scenarios", script), string(arg))
	n.cmd.Stderr = &n.stderr
	n.cmd.SysProcAttr = childAttr(true)
	n.cmd.WaitDelay = 2 * time.Second
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("starting node %s: %v", script, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			n.mu.Lock()
			n.lines = append(n.lines, sc.Text())
			n.mu.Unlock()
			n.wake()
		}
		_, _ = io.Copy(io.Discard, stdout)
		n.err = n.cmd.Wait()
		close(n.done)
		n.wake()
	}()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			if e := strings.TrimSpace(n.stderr.String()); e != "" {
				t.Logf("stderr of %s:\n%s", script, e)
			}
		}
	})
	return n
}

func (n *nodeProc) wake() {
	select {
	case n.notify <- struct{}{}:
	default:
	}
}

// kill kills the process group and waits for the process.
func (n *nodeProc) kill() {
	select {
	case <-n.done:
	default:
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.done
	}
	// Anything the scenario spawned and left behind.
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
}

// next returns the next stdout line parsed as JSON into v, waiting up to
// timeout; it fails the test if the process exits first.
func (n *nodeProc) next(timeout time.Duration, v any) {
	n.t.Helper()
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		if n.read < len(n.lines) {
			line := n.lines[n.read]
			n.read++
			n.mu.Unlock()
			if err := json.Unmarshal([]byte(line), v); err != nil {
				n.t.Fatalf("%s printed %.300q: %v", n.script, line, err)
			}
			return
		}
		n.mu.Unlock()
		select {
		case <-n.notify:
			continue
		case <-n.done:
			n.mu.Lock()
			more := n.read < len(n.lines)
			n.mu.Unlock()
			if more {
				continue
			}
			n.t.Fatalf("%s exited (%v) before printing another line; stderr:\n%s", n.script, n.err, n.stderr.String())
		case <-deadline:
			n.t.Fatalf("%s printed nothing more within %v; stderr:\n%s", n.script, timeout, n.stderr.String())
		}
	}
}

// wait waits for the process to exit 0 within timeout and parses its last
// stdout line into v (if v is not nil).
func (n *nodeProc) wait(timeout time.Duration, v any) {
	n.t.Helper()
	select {
	case <-n.done:
	case <-time.After(timeout):
		n.kill()
		n.t.Fatalf("%s did not finish within %v; stderr:\n%s", n.script, timeout, n.stderr.String())
	}
	if n.err != nil {
		n.t.Fatalf("%s failed (%v):\n%s", n.script, n.err, n.stderr.String())
	}
	if v == nil {
		return
	}
	n.mu.Lock()
	var last string
	for i := len(n.lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(n.lines[i]) != "" {
			last = n.lines[i]
			break
		}
	}
	n.mu.Unlock()
	if err := json.Unmarshal([]byte(last), v); err != nil {
		n.t.Fatalf("%s: result %.300q: %v", n.script, last, err)
	}
}

// scenario runs a scenario script to completion (within timeout) and
// parses its result into v.
func scenario(t *testing.T, s *collabd, script string, params map[string]any, timeout time.Duration, v any) {
	t.Helper()
	p := map[string]any{"timeoutMs": timeout.Milliseconds()}
	for k, val := range params {
		p[k] = val
	}
	startNode(t, s, script, p).wait(timeout+5*time.Second, v)
}

// snapshot is a document as the scenarios report it (lib.mjs snapshot).
type snapshot struct {
	JSON        map[string]any     `json:"json"`
	StateVector map[string]float64 `json:"stateVector"`
}

// restDoc is the body of GET /api/docs/{room}.
type restDoc struct {
	Name        string            `json:"name"`
	StateVector map[string]uint64 `json:"stateVector"`
	Size        int               `json:"size"`
	Roots       map[string]string `json:"roots"`
	Content     map[string]any    `json:"content"`
}

// httpJSON does a request and decodes a JSON body into v (if not nil). It
// returns the status and the Content-Type.
func httpJSON(t *testing.T, method, target string, body []byte, v any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: status %d, body %.300q is not JSON: %v", method, target, res.StatusCode, b, err)
		}
	}
	return res.StatusCode, res.Header.Get("Content-Type")
}

// getDoc fetches GET /api/docs/{room}.
func getDoc(t *testing.T, s *collabd, room string) restDoc {
	t.Helper()
	var d restDoc
	status, _ := httpJSON(t, "GET", s.Base+"/api/docs/"+url.PathEscape(room), nil, &d)
	if status != http.StatusOK {
		t.Fatalf("GET /api/docs/%s: status %d", room, status)
	}
	return d
}

// equalJSON reports an error unless got and want are the same JSON value
// (after a round trip, so that numeric types do not matter).
func equalJSON(t *testing.T, what string, got, want any) bool {
	t.Helper()
	g, w := normJSON(t, got), normJSON(t, want)
	if reflect.DeepEqual(g, w) {
		return true
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	t.Errorf("%s differ:\n got  %.2000s\n want %.2000s", what, gb, wb)
	return false
}

func normJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// equalContent compares collabd's REST content with a client's JSON: a
// root the client declared but never wrote to ("", [] or {}) is absent
// from collabd's content, which lists only roots with content.
func equalContent(t *testing.T, what string, rest, client map[string]any) bool {
	t.Helper()
	c := map[string]any{}
	for k, v := range client {
		if _, ok := rest[k]; ok || !emptyJSON(v) {
			c[k] = v
		}
	}
	return equalJSON(t, what, rest, c)
}

func emptyJSON(v any) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// stateVector converts REST's state vector for comparison with a
// snapshot's.
func stateVector(sv map[string]uint64) map[string]float64 {
	out := make(map[string]float64, len(sv))
	for k, v := range sv {
		out[k] = float64(v)
	}
	return out
}

// jsonError checks a REST error response: the status, a JSON content type
// and a non-empty "error" string.
func jsonError(t *testing.T, method, target string, body []byte, wantStatus int) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	status, ctype := httpJSON(t, method, target, body, &e)
	if status != wantStatus {
		t.Errorf("%s %s: status %d, want %d (error %q)", method, target, status, wantStatus, e.Error)
	}
	if !strings.HasPrefix(ctype, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, target, ctype)
	}
	if e.Error == "" {
		t.Errorf("%s %s: no \"error\" string in the JSON body", method, target)
	}
}
