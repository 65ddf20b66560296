package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/docstore/embedded"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/ydoc"
	"github.com/collabd/collabd/yprotocol"
)

// newTestServer runs a server with an embedded store in a temp dir.
func newTestServer(t *testing.T) (*httptest.Server, *rooms.Registry) {
	t.Helper()
	hs, reg, _ := newServerWith(t, Options{})
	return hs, reg
}

// newServerWith runs a server with opts (Registry and Ready filled in) and
// an embedded store in a temp dir; at the end, every connection must be
// gone within 10 s of the shutdown.
func newServerWith(t *testing.T, opts Options) (*httptest.Server, *rooms.Registry, *Server) {
	t.Helper()
	st, err := embedded.Open(t.TempDir()+"/collabd.db", embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := rooms.NewRegistry(rooms.Options{Store: st})
	opts.Registry, opts.Ready = reg, st.Ping
	srv := New(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = reg.Shutdown(ctx)
		if err := srv.Wait(ctx); err != nil {
			t.Errorf("Wait: %v", err)
		}
		_ = st.Close()
	})
	return hs, reg, srv
}

type client struct {
	d *ydoc.Doc
}

func (c *client) insert(t *testing.T, s string) []byte {
	t.Helper()
	u, err := c.d.Transact(func(tx *ydoc.Txn) error {
		txt := c.d.Root("t")
		return tx.InsertText(txt, txt.Len(), s)
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func do(t *testing.T, method, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func docText(t *testing.T, base, room string) string {
	t.Helper()
	code, b := do(t, "GET", base+"/api/docs/"+room, nil)
	if code != 200 {
		t.Fatalf("GET doc: %d %s", code, b)
	}
	var body struct {
		Content map[string]any `json:"content"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	s, _ := body.Content["t"].(string)
	return s
}

func TestHistoryTakeListExportRestore(t *testing.T) {
	hs, _ := newTestServer(t)
	base := hs.URL
	c := &client{ydoc.New(ydoc.Options{ClientID: 11})}

	// A live connection sees the restore as an ordinary update.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws/notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	if code, b := do(t, "GET", base+"/api/docs/notes/history", nil); code != 404 {
		t.Fatalf("history of an unknown document: %d %s", code, b)
	}
	if code, b := do(t, "POST", base+"/api/docs/notes/update", c.insert(t, "first draft")); code != 200 {
		t.Fatalf("POST update: %d %s", code, b)
	}
	code, b := do(t, "POST", base+"/api/docs/notes/history", nil)
	if code != 201 {
		t.Fatalf("take version: %d %s", code, b)
	}
	var v1 versionJSON
	if err := json.Unmarshal(b, &v1); err != nil || v1.Trigger != "manual" || v1.Size == 0 {
		t.Fatalf("version %s (%v)", b, err)
	}
	if code, b := do(t, "POST", base+"/api/docs/notes/update", c.insert(t, ", then more")); code != 200 {
		t.Fatalf("POST update: %d %s", code, b)
	}
	if code, b := do(t, "POST", base+"/api/docs/notes/history", nil); code != 201 {
		t.Fatalf("take version: %d %s", code, b)
	}

	code, b = do(t, "GET", base+"/api/docs/notes/history", nil)
	var list struct {
		Versions []versionJSON `json:"versions"`
	}
	// The current state heads the list, then the versions, newest first.
	if err := json.Unmarshal(b, &list); code != 200 || err != nil || len(list.Versions) != 3 ||
		!list.Versions[0].Current || list.Versions[0].ID != 0 || list.Versions[0].Trigger != "current" ||
		list.Versions[1].Current || list.Versions[1].ID <= list.Versions[2].ID {
		t.Fatalf("history: %d %s", code, b)
	}
	for _, v := range []string{"0", "current"} {
		if code, b := do(t, "GET", base+"/api/docs/notes/history/"+v+"?format=text", nil); code != 200 || string(b) != "first draft, then more" {
			t.Fatalf("current state as text (%s): %d %q", v, code, b)
		}
	}

	id := func(v versionJSON) string { return strings.TrimSpace(string(must(json.Marshal(v.ID)))) }
	if code, b := do(t, "GET", base+"/api/docs/notes/history/"+id(v1)+"?format=text", nil); code != 200 || string(b) != "first draft" {
		t.Fatalf("version as text: %d %q", code, b)
	}
	code, b = do(t, "GET", base+"/api/docs/notes/history/"+id(v1)+"?format=update", nil)
	old := ydoc.New(ydoc.Options{})
	if code != 200 || old.ApplyUpdate(b) != nil || old.RootAs("t", ydoc.KindText).String() != "first draft" {
		t.Fatalf("version as update: %d", code)
	}
	if code, b := do(t, "GET", base+"/api/docs/notes/history/"+id(v1)+"?format=json", nil); code != 200 || !bytes.Contains(b, []byte(`"first draft"`)) {
		t.Fatalf("version as json: %d %s", code, b)
	}

	code, b = do(t, "POST", base+"/api/docs/notes/history/"+id(v1)+"/restore", nil)
	if code != 200 {
		t.Fatalf("restore: %d %s", code, b)
	}
	if got := docText(t, base, "notes"); got != "first draft" {
		t.Fatalf("after restore: %q", got)
	}
	code, b = do(t, "GET", base+"/api/docs/notes/history", nil)
	if err := json.Unmarshal(b, &list); code != 200 || err != nil || len(list.Versions) != 4 || list.Versions[1].Trigger != "restore" {
		t.Fatalf("history after restore: %d %s", code, b)
	}

	// The live connection received the posted updates and the restore.
	live := ydoc.New(ydoc.Options{})
	for live.RootAs("t", ydoc.KindText).String() != "first draft" {
		typ, frame, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("live connection: %v (has %q)", err, live.RootAs("t", ydoc.KindText).String())
		}
		if typ != websocket.MessageBinary {
			continue
		}
		_ = yprotocol.Decode(frame, func(m yprotocol.Message) error {
			if m.Kind == yprotocol.KindUpdate || m.Kind == yprotocol.KindSyncStep2 {
				return live.ApplyUpdate(m.Payload)
			}
			return nil
		})
	}

	for _, tc := range []struct {
		url  string
		want int
	}{
		{"/api/docs/notes/history/999", 404},
		{"/api/docs/notes/history/abc", 400},
		{"/api/docs/notes/history/-1", 400},
		{"/api/docs/notes/history/" + id(v1) + "?format=pdf", 400},
		{"/api/docs/nobody/history/1", 404},
	} {
		code, b := do(t, "GET", base+tc.url, nil)
		if code != tc.want || !bytes.Contains(b, []byte(`"error"`)) {
			t.Errorf("GET %s: %d %s, want %d with a JSON error", tc.url, code, b, tc.want)
		}
	}
	if code, _ := do(t, "POST", base+"/api/docs/notes/history/0/restore", nil); code != 400 {
		t.Errorf("restore of the current state: %d, want 400", code)
	}
	if code, _ := do(t, "POST", base+"/api/docs/notes/history/999/restore", nil); code != 404 {
		t.Errorf("restore of an unknown version: %d", code)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestReadOnlyConnection(t *testing.T) {
	hs, _ := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http", "ws", 1)+"/ws/ro?readonly=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	c := &client{ydoc.New(ydoc.Options{ClientID: 5})}
	if err := ws.Write(ctx, websocket.MessageBinary, yprotocol.AppendUpdate(nil, c.insert(t, "no"))); err != nil {
		t.Fatal(err)
	}
	for {
		_, frame, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var denied bool
		_ = yprotocol.Decode(frame, func(m yprotocol.Message) error {
			denied = denied || m.Kind == yprotocol.KindPermissionDenied
			return nil
		})
		if denied {
			break
		}
	}
	if code, _ := do(t, "GET", hs.URL+"/api/docs/ro", nil); code != 404 {
		t.Fatalf("a read-only connection's update created the document: %d", code)
	}
}
