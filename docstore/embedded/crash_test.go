package embedded

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/collabd/collabd/docstore"
)

// TestCrash kills a process that is appending and compacting (SIGKILL, no
// Close, no deferred code) and checks that every update whose Append had
// returned is in the file when it is opened again, exactly once.
//
// This checks that an acknowledged update is committed to the file, not
// left in memory, and that a file abandoned mid-transaction opens cleanly.
// It cannot check that the fsync reached the platter: the operating system
// outlives the process here, so its page cache does too.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := filepath.Join(t.TempDir(), "collabd.db")
	for round := range 3 { // each round crashes on top of the previous one's file
		acked := crashChild(t, path, 1500)
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
		n := 0
		for _, us := range acked {
			n += len(us)
		}
		t.Logf("round %d: %d acknowledged updates survived SIGKILL", round, n)
	}
}

// crashChild runs TestCrashChild in a new process on path, kills it once it
// has acknowledged n updates and returns the acknowledged updates by
// document.
func crashChild(t *testing.T, path string, n int) map[string][]string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "COLLABD_CRASH_CHILD="+path)
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
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		doc, u, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "ack "), " ")
		if !ok {
			continue
		}
		acked[doc] = append(acked[doc], u)
		if count++; count == n {
			_ = cmd.Process.Kill() // SIGKILL; lines already written still count
		}
	}
	_ = cmd.Wait()
	if count < n {
		t.Fatalf("child acknowledged only %d updates before it ended", count)
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
	s, err := Open(path, Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	docs := []string{"a", "b/c", "ünï", strings.Repeat("long", 100)}
	var out sync.Mutex
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
