package embedded

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabd/collabd/docstore"
)

// TestCrash kills a process that is appending and compacting (SIGKILL, no
// Close, no deferred code) and checks that every update whose Append had
// returned is in the files when they are opened again, exactly once.
//
// The child folds and replaces its log often. Some rounds kill it at a
// random moment (after a number of acknowledgements), the others at a
// given point of the committer's work: after a log write before its
// fdatasync, after a fold's commit before the log is replaced, with a new
// log written but not yet renamed, and right after the rename.
//
// This checks that an acknowledged update is committed to the files, not
// left in memory, that a log abandoned mid-write and a database abandoned
// mid-transaction open cleanly, and that replaying a log bbolt already has
// adds nothing twice. It cannot check that the fsync reached the platter:
// the operating system outlives the process here, so its page cache does
// too (see TestReplayTornTail for what a lost page cache leaves).
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := filepath.Join(t.TempDir(), "collabd.db")
	rounds := []string{"", "log-written:200", "fold-committed:10", "", "rotate-written:3", "rotate-renamed:3", ""}
	for round, at := range rounds { // each round crashes on top of the previous one's file
		acked := crashChild(t, path, 1500, at)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after the crash: %v", round, err)
		}
		for doc, want := range acked {
			st, err := s.Load(t.Context(), doc)
			if err != nil {
				t.Fatalf("round %d: Load(%q): %v", round, doc, err)
			}
			got := crashContents(st)
			for _, u := range want {
				if _, found := slices.BinarySearch(got, u); !found {
					t.Fatalf("round %d: %q lost acknowledged update %q", round, doc, u)
				}
			}
			for i := 1; i < len(got); i++ {
				if got[i] == got[i-1] {
					t.Fatalf("round %d: %q holds %q twice", round, doc, got[i])
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("round %d: log after Close: %v, want none", round, err)
		}
		n := 0
		for _, us := range acked {
			n += len(us)
		}
		t.Logf("round %d: %d acknowledged updates survived SIGKILL (%s)", round, n, cmp.Or(at, "at random"))
	}
}

// crashChild runs TestCrashChild in a new process on path and returns the
// acknowledged updates by document. If at is empty, it kills the child once
// it has acknowledged n updates; otherwise the child kills itself at the
// point at names ("event:count", see Store.event).
func crashChild(t *testing.T, path string, n int, at string) map[string][]string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "COLLABD_CRASH_CHILD="+path, "COLLABD_CRASH_AT="+at)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string][]string{}
	count := 0
	killedAt := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "crash at "+at {
			killedAt = true
			continue
		}
		doc, u, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "ack "), " ")
		if !ok {
			continue
		}
		acked[doc] = append(acked[doc], u)
		if count++; count == n && at == "" {
			_ = cmd.Process.Kill() // SIGKILL; lines already written still count
		}
	}
	_ = cmd.Wait()
	switch {
	case at == "" && count < n:
		t.Fatalf("child acknowledged only %d updates before it ended", count)
	case at != "" && !killedAt:
		t.Fatalf("child ended before it reached %s", at)
	case cmd.ProcessState.ExitCode() != -1:
		t.Fatalf("child was not killed: %v", cmd.ProcessState)
	}
	for _, us := range acked {
		slices.Sort(us)
	}
	return acked
}

// TestCrashChild is the process TestCrash kills.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("COLLABD_CRASH_CHILD")
	if path == "" {
		t.Skip("run by TestCrash")
	}
	var out sync.Mutex
	opts := Options{LockTimeout: 5 * time.Second, LogSize: 16 << 10, FoldInterval: 5 * time.Millisecond}
	if event, count, ok := strings.Cut(os.Getenv("COLLABD_CRASH_AT"), ":"); ok {
		left, err := strconv.Atoi(count)
		if err != nil {
			t.Fatal(err)
		}
		opts.hook = func(e string) {
			if e != event {
				return
			}
			if left--; left > 0 {
				return
			}
			out.Lock() // no more acknowledgements
			fmt.Fprintf(os.Stdout, "crash at %s:%s\n", event, count)
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Kill()
			select {}
		}
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	docs := []string{"a", "b/c", "ünï", strings.Repeat("long", 100)}
	run := fmt.Sprint(time.Now().UnixNano()) // updates differ from round to round
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				doc := docs[(w+i)%len(docs)]
				u := fmt.Sprintf("%s-%d-%d", run, w, i)
				if _, err := s.Append(ctx, doc, []byte(u)); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(1)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %s\n", doc, u) // unbuffered
				out.Unlock()
			}
		}()
	}
	for i := 0; ; i++ {
		time.Sleep(5 * time.Millisecond)
		doc := docs[i%len(docs)]
		st, err := s.Load(ctx, doc)
		if err != nil {
			continue // not written yet
		}
		snap := "set\n" + strings.Join(crashContents(st), "\n")
		if _, err := s.Compact(ctx, doc, []byte(snap), st.LastSeq, docstore.TriggerThreshold); err != nil {
			fmt.Fprintln(os.Stderr, "compact:", err)
			os.Exit(1)
		}
	}
}

// crashContents returns the updates in a loaded document, sorted.
func crashContents(st *docstore.Stored) []string {
	var us []string
	if s, ok := strings.CutPrefix(string(st.Snapshot), "set\n"); ok && s != "" {
		us = strings.Split(s, "\n")
	}
	for _, e := range st.Entries {
		us = append(us, string(e.Update))
	}
	slices.Sort(us)
	return us
}

// TestCrashDelete kills a process that deletes a document while Appends to
// it and to others go on, and checks on reopening that the deletion is
// atomic and durable: killed before the bbolt transaction commits, the
// document has every update acknowledged before the Delete was called;
// killed after it, none of them, even though the log held records of it
// (folded and not yet folded) when the Delete began, which a replay must
// not fold again. Updates appended after the Delete returned survive as the
// new document's, and the other documents lose nothing.
func TestCrashDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	rounds := []struct {
		at   string
		want string // "intact", "deleted", or "" (the Delete may or may not have happened)
	}{
		{"delete-folded:1", "intact"},
		{"delete-rotated:1", "intact"},
		{"delete-committed:1", "deleted"},
		{"", ""},
	}
	for round, r := range rounds {
		path := filepath.Join(t.TempDir(), "collabd.db")
		res := crashDeleteChild(t, path, r.at)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after the crash: %v", round, err)
		}
		for doc, want := range res.acked {
			st, err := s.Load(t.Context(), doc)
			if err != nil && !(doc == crashVictim && errors.Is(err, docstore.ErrNotFound)) {
				t.Fatalf("round %d: Load(%q): %v", round, doc, err)
			}
			var got []string
			if st != nil {
				got = crashContents(st)
			}
			for i := 1; i < len(got); i++ {
				if got[i] == got[i-1] {
					t.Fatalf("round %d: %q holds %q twice", round, doc, got[i])
				}
			}
			has := func(u string) bool { _, found := slices.BinarySearch(got, u); return found }
			if doc != crashVictim {
				for _, u := range want {
					if !has(u) {
						t.Fatalf("round %d: %q lost acknowledged update %q", round, doc, u)
					}
				}
				continue
			}
			before := 0
			for _, u := range res.beforeDelete {
				if has(u) {
					before++
				}
			}
			state := "partial"
			switch before {
			case len(res.beforeDelete):
				state = "intact"
			case 0:
				state = "deleted"
			}
			wantState := r.want
			if res.deleted {
				wantState = "deleted"
			}
			if state == "partial" || wantState != "" && state != wantState {
				t.Fatalf("round %d (%s): %q holds %d of the %d updates acknowledged before the Delete: %s, want %s",
					round, cmp.Or(r.at, "at random"), doc, before, len(res.beforeDelete), state, cmp.Or(wantState, "intact or deleted"))
			}
			for _, u := range res.afterDelete {
				if !has(u) {
					t.Fatalf("round %d: %q lost %q, appended after the Delete", round, doc, u)
				}
			}
			t.Logf("round %d (%s): %s: %d updates before the Delete, %d after it, %d stored",
				round, cmp.Or(r.at, "at random"), state, len(res.beforeDelete), len(res.afterDelete), len(got))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

const crashVictim = "victim"

// crashDeleteResult is what a TestCrashDeleteChild acknowledged.
type crashDeleteResult struct {
	acked map[string][]string // by document, sorted
	// beforeDelete: the victim's updates acknowledged before the Delete
	// was called; afterDelete: those appended after it returned.
	beforeDelete, afterDelete []string
	deleted                   bool // the Delete returned nil
}

// crashDeleteChild runs TestCrashDeleteChild on path. If at is empty, it
// kills the child 400 acknowledgements after the Delete returned;
// otherwise the child kills itself at the point at names.
func crashDeleteChild(t *testing.T, path, at string) crashDeleteResult {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDeleteChild$", "-test.count=1", "-test.timeout=1m")
	// Killed at a point of the Delete, the child's log is not replaced
	// before the Delete (4 MiB are far from full then), so that it holds
	// records of the victim, folded and not yet folded, and the Delete has
	// to replace it; at random, it is replaced every 16 KiB.
	logSize := 4 << 20
	if at == "" {
		logSize = 16 << 10
	}
	cmd.Env = append(os.Environ(), "COLLABD_CRASH_DELETE_CHILD="+path, "COLLABD_CRASH_AT="+at,
		"COLLABD_CRASH_LOG_SIZE="+strconv.Itoa(logSize))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	res := crashDeleteResult{acked: map[string][]string{}}
	deleting, killedAt, afterAcks := false, false, 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		switch line := sc.Text(); {
		case line == "crash at "+at:
			killedAt = true
		case line == "deleting":
			deleting = true
		case line == "deleted":
			res.deleted = true
		default:
			doc, u, ok := strings.Cut(strings.TrimPrefix(line, "ack "), " ")
			if !ok {
				continue
			}
			res.acked[doc] = append(res.acked[doc], u)
			if doc == crashVictim && !deleting {
				res.beforeDelete = append(res.beforeDelete, u)
			}
			if doc == crashVictim && strings.HasPrefix(u, "after-") {
				res.afterDelete = append(res.afterDelete, u)
			}
			if res.deleted && at == "" {
				if afterAcks++; afterAcks == 400 {
					_ = cmd.Process.Kill()
				}
			}
		}
	}
	_ = cmd.Wait()
	switch {
	case at == "" && afterAcks < 400:
		t.Fatalf("child acknowledged only %d updates after the Delete before it ended", afterAcks)
	case at != "" && !killedAt:
		t.Fatalf("child ended before it reached %s", at)
	case cmd.ProcessState.ExitCode() != -1:
		t.Fatalf("child was not killed: %v", cmd.ProcessState)
	case len(res.beforeDelete) == 0:
		t.Fatalf("child acknowledged no update of %q before the Delete", crashVictim)
	}
	for _, us := range res.acked {
		slices.Sort(us)
	}
	return res
}

// TestCrashDeleteChild is the process TestCrashDelete kills. Writers
// append to the victim and two other documents; once 300 updates are
// acknowledged the victim is deleted, the writers going on all the while.
// An update's name says whether its Append started before the Delete was
// called ("before-"), while it ran ("during-") or after it returned
// ("after-").
func TestCrashDeleteChild(t *testing.T) {
	path := os.Getenv("COLLABD_CRASH_DELETE_CHILD")
	if path == "" {
		t.Skip("run by TestCrashDelete")
	}
	var out sync.Mutex
	logSize, err := strconv.Atoi(os.Getenv("COLLABD_CRASH_LOG_SIZE"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{LockTimeout: 5 * time.Second, LogSize: int64(logSize), FoldInterval: 5 * time.Millisecond}
	if event, count, ok := strings.Cut(os.Getenv("COLLABD_CRASH_AT"), ":"); ok {
		left, err := strconv.Atoi(count)
		if err != nil {
			t.Fatal(err)
		}
		opts.hook = func(e string) {
			if e != event {
				return
			}
			if left--; left > 0 {
				return
			}
			out.Lock() // no more acknowledgements
			fmt.Fprintf(os.Stdout, "crash at %s:%s\n", event, count)
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Kill()
			select {}
		}
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	docs := []string{crashVictim, "a", "b/c"}
	phases := []string{"before", "during", "after"}
	var (
		phase, acked atomic.Int64
		compactMu    sync.Mutex // held while the victim is loaded and compacted
	)
	for w := range 6 {
		go func() {
			for i := 0; ; i++ {
				doc := docs[(w+i)%len(docs)]
				u := fmt.Sprintf("%s-%d-%d", phases[phase.Load()], w, i)
				if _, err := s.Append(ctx, doc, []byte(u)); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(1)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %s\n", doc, u) // unbuffered
				out.Unlock()
				acked.Add(1)
			}
		}()
	}
	go func() {
		for i := 0; ; i++ {
			time.Sleep(5 * time.Millisecond)
			doc := docs[i%len(docs)]
			// A snapshot of the victim loaded before the Delete must not be
			// compacted after it (see docstore.Store.Delete): the
			// victim is compacted before the Delete and after it, not
			// across it.
			compactMu.Lock()
			if doc != crashVictim || phase.Load() != 1 {
				if st, err := s.Load(ctx, doc); err == nil {
					snap := "set\n" + strings.Join(crashContents(st), "\n")
					if _, err := s.Compact(ctx, doc, []byte(snap), st.LastSeq, docstore.TriggerThreshold); err != nil {
						fmt.Fprintln(os.Stderr, "compact:", err)
						os.Exit(1)
					}
				}
			}
			compactMu.Unlock()
		}
	}()
	for acked.Load() < 300 {
		time.Sleep(time.Millisecond)
	}
	compactMu.Lock()
	phase.Store(1)
	compactMu.Unlock()
	out.Lock()
	fmt.Fprintln(os.Stdout, "deleting")
	out.Unlock()
	if err := s.Delete(ctx, crashVictim); err != nil {
		fmt.Fprintln(os.Stderr, "delete:", err)
		os.Exit(1)
	}
	phase.Store(2)
	out.Lock()
	fmt.Fprintln(os.Stdout, "deleted")
	out.Unlock()
	time.Sleep(10 * time.Second) // killed before, unless the test is broken
	fmt.Fprintln(os.Stderr, "not killed")
	os.Exit(3)
}
