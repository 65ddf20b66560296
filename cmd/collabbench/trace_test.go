package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/collabd/collabd/lib0"
	"github.com/collabd/collabd/ydoc"
)

const smallTrace = `{
  "startContent": "",
  "endContent": "hello world",
  "txns": [
    {"time": "t", "patches": [[0, 0, "h"]]},
    {"time": "t", "patches": [[1, 0, "e"]]},
    {"time": "t", "patches": [[2, 0, "l"]]},
    {"time": "t", "patches": [[3, 0, "x"]]},
    {"time": "t", "patches": [[3, 1, "l"]]},
    {"time": "t", "patches": [[4, 0, "o world"]]},
    {"time": "t", "patches": [[11, 0, "!"], [11, 1, ""]]}
  ]
}`

func TestParseTrace(t *testing.T) {
	tr, err := parseTrace(strings.NewReader(smallTrace))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.txns) != 7 || len(tr.txns[6]) != 2 {
		t.Fatalf("got %d transactions (last has %d patches), want 7 (2)", len(tr.txns), len(tr.txns[len(tr.txns)-1]))
	}
	if got, want := tr.txns[4][0], (edit{pos: 3, del: 1, ins: "l"}); got != want {
		t.Errorf("transaction 4 = %+v, want %+v", got, want)
	}
	for _, tt := range []struct {
		n    int
		want string
	}{{0, ""}, {3, "hel"}, {4, "helx"}, {5, "hell"}, {-1, "hello world"}} {
		got, err := tr.replay(tt.n)
		if err != nil || got != tt.want {
			t.Errorf("replay(%d) = %q, %v; want %q", tt.n, got, err, tt.want)
		}
	}
}

func TestParseTraceErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"not JSON", `{"txns": [`, "unexpected EOF"},
		{"no transactions", `{"txns": []}`, "no transactions"},
		{"empty transaction", `{"txns": [{"patches": []}]}`, "no patches"},
		{"short patch", `{"txns": [{"patches": [[0, 0]]}]}`, "want [pos, del, ins]"},
		{"negative position", `{"txns": [{"patches": [[-1, 0, "a"]]}]}`, "bad position"},
		{"string count", `{"txns": [{"patches": [[0, "1", "a"]]}]}`, "bad delete count"},
		{"number insert", `{"txns": [{"patches": [[0, 0, 5]]}]}`, "bad insert"},
		{"non-ASCII", `{"txns": [{"patches": [[0, 0, "é"]]}]}`, "not ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTrace(strings.NewReader(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestReplayOutOfRange(t *testing.T) {
	tr, err := parseTrace(strings.NewReader(`{"txns": [{"patches": [[0, 0, "ab"]]}, {"patches": [[1, 5, ""]]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.replay(-1); err == nil {
		t.Error("replay of a deletion past the end succeeded")
	}
}

func TestLoadTraceGzip(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(smallTrace))
	zw.Close()
	for name, data := range map[string][]byte{"t.json.gz": buf.Bytes(), "t.json": []byte(smallTrace)} {
		path := dir + "/" + name
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := loadTrace(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tr.end != "hello world" || len(tr.txns) != 7 {
			t.Errorf("%s: end %q, %d transactions", name, tr.end, len(tr.txns))
		}
	}
}

// TestGenerator checks that the updates are real Yjs updates: applied in
// order to a fresh document they give the trace's text, whatever the
// number of writers, and each comes from the writer whose turn it is.
func TestGenerator(t *testing.T) {
	tr, err := parseTrace(strings.NewReader(smallTrace))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		writers []uint64
		turn    int
	}{
		{"one writer", []uint64{101}, 1},
		{"two writers alternating", []uint64{101, 202}, 1},
		{"three writers, turns of two", []uint64{101, 202, 303}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, err := newGenerator(tr, tt.writers, tt.turn)
			if err != nil {
				t.Fatal(err)
			}
			remote := ydoc.New(ydoc.Options{ClientID: 9})
			seen := map[string]bool{}
			for i := range tr.txns {
				u, err := g.nextUpdate()
				if err != nil {
					t.Fatal(err)
				}
				if seen[string(u)] {
					t.Fatalf("update %d repeats an earlier one", i)
				}
				seen[string(u)] = true
				if err := remote.ApplyUpdate(u); err != nil {
					t.Fatalf("update %d: %v", i, err)
				}
				// Every transaction of smallTrace inserts: the update has
				// structs of one client, the writer (update format v1:
				// varUint clients, then varUint structs, varUint client).
				if got, want := updateClient(t, u), tt.writers[(i/tt.turn)%len(tt.writers)]; got != want {
					t.Errorf("update %d has structs of client %d, want %d", i, got, want)
				}
			}
			if err := g.checkEnd(); err != nil {
				t.Error(err)
			}
			if got := remote.Root("text").String(); got != tr.end {
				t.Errorf("remote text = %q, want %q", got, tr.end)
			}
		})
	}
}

// updateClient returns the client whose structs a v1 update holds, failing
// unless there is exactly one (varUint clients, varUint structs, varUint
// client, ...).
func updateClient(t *testing.T, u []byte) uint64 {
	t.Helper()
	d := lib0.NewDecoder(u)
	n, err := d.ReadVarUint()
	if err != nil || n != 1 {
		t.Fatalf("update %x: %d clients (%v), want 1", u, n, err)
	}
	if _, err := d.ReadVarUint(); err != nil {
		t.Fatal(err)
	}
	client, err := d.ReadVarUint()
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestGeneratorWraps checks that past the end the trace starts over on the
// text it left: the second pass edits the start of the text.
func TestGeneratorWraps(t *testing.T) {
	tr, err := parseTrace(strings.NewReader(smallTrace))
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGenerator(tr, []uint64{7, 8}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 * len(tr.txns) {
		if _, err := g.nextUpdate(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := g.text(0), tr.end+tr.end; got != want {
		t.Errorf("after two passes: %q, want %q", got, want)
	}
}

// TestRealTrace parses the automerge-paper trace and checks that replaying
// it as Yjs local edits gives its end content.
func TestRealTrace(t *testing.T) {
	// Tests run in cmd/collabbench; the tool's default is relative to the
	// module root.
	path := filepath.Join("..", "..", defaultTrace)
	if testing.Short() {
		t.Skip("replays 259,778 edits")
	}
	tr, err := loadTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.txns) != 259_778 || len(tr.end) != 104_852 {
		t.Fatalf("trace: %s; want 259778 transactions and 104852 characters", tr.describe())
	}
	g, err := newGenerator(tr, []uint64{0x5eed}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range tr.txns {
		if _, err := g.nextUpdate(); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.checkEnd(); err != nil {
		t.Error(err)
	}
}
