//go:build unix

package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/collabd/collabd/auth"
)

// report is what demo.mjs prints.
type report struct {
	Errors   []string
	Warnings []string
	Steps    []struct {
		Name string
		Ms   int
	}
	Screenshots   []string
	People        []string
	CaretOfAdaOnB struct {
		Text, Color, CaretBorder string
	}
	EmptySaveToast           string
	OfflineB, Merged, Saved  string
	VersionID, VersionRow    string
	Preview, PreviewEditable string
	RestoredA, RestoredB     string
	Versions                 []struct{ ID, Trigger string }
	Downloads                []struct {
		Label, Href, Download string
		Status                int
		ContentType           string
		Bytes                 int
		Text                  string
	}
	PhoneOverflow int
}

func TestDemoInBrowser(t *testing.T) {
	chromium := requireBrowser(t)
	// collabd runs with access control, and the pages get a token in their
	// URL: everything below also proves the editor passes it on.
	const secret = "the browser test's secret, long enough for HS256"
	addr := startCollabd(t, "--auth-secret", secret)
	token, err := auth.Mint([]byte(secret), auth.MintClaims{Subject: "browser-test", Rooms: []string{"weekly-*"}, Access: auth.AccessWrite, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	if dir := os.Getenv("COLLABD_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		out, _ = filepath.Abs(dir)
	}
	params, _ := json.Marshal(map[string]any{
		"base":     "http://" + addr,
		"room":     "weekly-sync", // a fresh server and data directory: no other note
		"outDir":   out,
		"chromium": chromium,
		"waitMs":   10000,
		"token":    token,
	})
	var r report
	runNode(t, 90*time.Second, &r, "demo.mjs", string(params))
	for _, s := range r.Steps {
		t.Logf("step %-45s %5d ms", s.Name, s.Ms)
	}

	if len(r.Errors) > 0 {
		t.Errorf("the pages logged errors:\n  %s", strings.Join(r.Errors, "\n  "))
	}
	for _, w := range r.Warnings {
		t.Logf("console warning: %s", w)
	}
	if !slices.Contains(r.People, "Ada (you)") || !slices.Contains(r.People, "Grace") {
		t.Errorf("who is here on Ada's page: %q, want Ada (you) and Grace", r.People)
	}
	if r.CaretOfAdaOnB.Text != "Ada" || r.CaretOfAdaOnB.Color == "" || r.CaretOfAdaOnB.Color != r.CaretOfAdaOnB.CaretBorder {
		t.Errorf("Ada's caret on Grace's page: %+v, want the label Ada in the caret's colour", r.CaretOfAdaOnB)
	}

	if !strings.Contains(r.EmptySaveToast, "Nothing to save yet") {
		t.Errorf("saving a version of an empty note: toast %q, want \"Nothing to save yet...\"", r.EmptySaveToast)
	}

	// Offline: Grace did not see Ada's edit until she reconnected, then
	// both edits were on both pages.
	if strings.Contains(r.OfflineB, "A while B is away") || !strings.Contains(r.OfflineB, "B offline edit") {
		t.Errorf("Grace's note while offline: %q", r.OfflineB)
	}
	if !strings.Contains(r.Merged, "A while B is away") || !strings.Contains(r.Merged, "B offline edit") {
		t.Errorf("the note after reconnecting: %q, want both offline edits", r.Merged)
	}

	// History: the preview shows the saved version read-only, and restoring
	// it brings both pages back to it.
	if r.Saved == "" || r.VersionID == "" {
		t.Fatalf("no saved version: %+v", r)
	}
	if r.Preview != r.Saved {
		t.Errorf("preview of version %s:\n got  %q\n want %q", r.VersionID, r.Preview, r.Saved)
	}
	if r.PreviewEditable != "false" {
		t.Errorf("the preview's contenteditable is %q, want false", r.PreviewEditable)
	}
	if r.RestoredA != r.Saved || r.RestoredB != r.Saved {
		t.Errorf("after restoring version %s:\n Ada   %q\n Grace %q\n want  %q", r.VersionID, r.RestoredA, r.RestoredB, r.Saved)
	}
	if !slices.ContainsFunc(r.Versions, func(v struct{ ID, Trigger string }) bool { return v.Trigger == "restore" }) {
		t.Errorf("versions after the restore: %+v, want one with trigger restore", r.Versions)
	}

	// Downloads: the version's JSON, text and Yjs update, and the current
	// note's JSON and update.
	wantTypes := map[string]string{
		"format=json":   "application/json",
		"format=text":   "text/plain; charset=utf-8",
		"format=update": "application/octet-stream",
	}
	if len(r.Downloads) != 5 {
		t.Errorf("%d download links, want 5: %+v", len(r.Downloads), r.Downloads)
	}
	for _, d := range r.Downloads {
		// Every link carries the page's token last: it must, and the
		// checks below look at what comes before it.
		href, hasToken := strings.CutSuffix(d.Href, "token="+url.QueryEscape(token))
		if !hasToken {
			t.Errorf("download %s %s does not carry the page's token", d.Label, d.Href)
		}
		href = strings.TrimRight(href, "?&")
		want := ""
		for k, v := range wantTypes {
			if strings.HasSuffix(href, k) {
				want = v
			}
		}
		switch {
		case want != "":
		case strings.HasSuffix(href, "/update"):
			want = "application/octet-stream"
		default:
			want = "application/json"
		}
		if d.Status != 200 || d.ContentType != want || d.Bytes == 0 || d.Download == "" {
			t.Errorf("download %s %s: status %d, Content-Type %q, %d bytes, file name %q; want 200, %q, a body and a file name",
				d.Label, d.Href, d.Status, d.ContentType, d.Bytes, d.Download, want)
		}
		if strings.HasSuffix(href, "format=text") && strings.TrimSpace(d.Text) != strings.TrimSpace(r.Saved) {
			t.Errorf("text download of version %s:\n got  %q\n want %q", r.VersionID, d.Text, r.Saved)
		}
	}

	if r.PhoneOverflow > 0 {
		t.Errorf("the phone-sized page scrolls sideways by %d px", r.PhoneOverflow)
	}
	wantSizes := map[string][2]int{
		"laptop.png":         {1280, 800},
		"laptop-preview.png": {1280, 800},
		"phone.png":          {780, 1688},
		"phone-history.png":  {780, 1688},
	}
	if len(r.Screenshots) != len(wantSizes) {
		t.Errorf("screenshots %q, want %d", r.Screenshots, len(wantSizes))
	}
	for _, path := range r.Screenshots {
		f, err := os.Open(path)
		if err != nil {
			t.Errorf("screenshot: %v", err)
			continue
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		want := wantSizes[filepath.Base(path)]
		if err != nil || cfg.Width != want[0] || cfg.Height != want[1] {
			t.Errorf("screenshot %s: %dx%d (%v), want %dx%d", path, cfg.Width, cfg.Height, err, want[0], want[1])
		}
	}
	t.Logf("screenshots in %s", out)
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

// requireBrowser returns the Chromium to drive. It skips the test under
// -short, and when node, playwright-core or Chromium is missing (a failure
// under CI=true).
func requireBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped under -short")
	}
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (not on PATH)")
	}
	if _, err := os.Stat(filepath.Join(moduleRoot(t), "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "node_modules/playwright-core (npm ci in the module root)")
	}
	chromium := os.Getenv("COLLABD_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install -y chromium, or set COLLABD_CHROMIUM)")
	}
	if len(missing) > 0 {
		msg := "the browser test needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return chromium
}

// startCollabd builds collabd (or takes $COLLABD_E2E_BINARY), starts it on
// a port the OS picks with a fresh data directory, and returns its address
// once it listens. The process is killed when the test ends.
func startCollabd(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("COLLABD_E2E_BINARY")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "collabd")
		build := exec.Command("go", "build", "-o", bin, "./cmd/collabd")
		build.Dir = moduleRoot(t)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/collabd: %v\n%s", err, out)
		}
	}
	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json"}, args...)...)
	cmd.SysProcAttr = childAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting collabd: %v", err)
	}
	var logs bytes.Buffer // written by the reader goroutine until done
	listening := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "collabd listening" && rec.Addr != "" {
				select {
				case listening <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("collabd log:\n%s", logs.String())
		}
	})
	select {
	case addr := <-listening:
		return addr
	case <-done:
		t.Fatalf("collabd exited before listening:\n%s", logs.String())
	case <-time.After(15 * time.Second):
		t.Fatal("collabd did not log its address within 15 s")
	}
	return ""
}

// runNode runs node script args... in this directory, with TMPDIR (where
// playwright-core puts the browser's fresh profile) in a temporary
// directory, kills its process group after timeout, and parses its last
// stdout line into v.
func runNode(t *testing.T, timeout time.Duration, v any, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	cmd.SysProcAttr = childAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// Whatever it left behind (the browser).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node %s did not finish within %v; stderr:\n%s", script, timeout, stderr.String())
	}
	if err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s\nstdout:\n%.2000s", script, err, stderr.String(), stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		t.Fatalf("node %s: result %.500q: %v", script, lines[len(lines)-1], err)
	}
}
