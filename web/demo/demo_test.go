package demo

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// assetRefs returns the asset paths index.html refers to.
func assetRefs(t *testing.T) []string {
	t.Helper()
	index, err := fs.ReadFile(Files(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="(assets/[^"]+)"`).FindAllStringSubmatch(string(index), -1)
	var out []string
	for _, m := range refs {
		out = append(out, m[1])
	}
	if len(out) != 2 {
		t.Fatalf("index.html refers to %q, want a script and a stylesheet", out)
	}
	return out
}

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func TestHandler(t *testing.T) {
	h := NewHandler()
	refs := assetRefs(t)
	tests := []struct {
		target      string
		status      int
		ctype       string
		cache       string
		csp         bool
		wantInBody  string
		wantFromDir string // the embedded file the body must equal
	}{
		{"/", 200, "text/html; charset=utf-8", "no-cache", true, `<div id="editor"`, "index.html"},
		{"/?room=abc", 200, "text/html; charset=utf-8", "no-cache", true, "", "index.html"},
		{"/" + refs[0], 200, "", "public, max-age=31536000, immutable", false, "", refs[0]},
		{"/" + refs[1], 200, "", "public, max-age=31536000, immutable", false, "", refs[1]},
		{"/assets/missing.js", 404, "", "", false, "", ""},
		{"/assets/", 404, "", "", false, "", ""},
		{"/index.html", 404, "", "", false, "", ""},
		{"/assets/../index.html", 404, "", "", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			res := get(t, h, "GET", tc.target, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			ctype := tc.ctype
			switch filepath.Ext(tc.target) {
			case ".js":
				ctype = "text/javascript; charset=utf-8"
			case ".css":
				ctype = "text/css; charset=utf-8"
			}
			if got := res.Header.Get("Content-Type"); got != ctype {
				t.Errorf("Content-Type %q, want %q", got, ctype)
			}
			if got := res.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if csp := res.Header.Get("Content-Security-Policy"); (csp != "") != tc.csp {
				t.Errorf("Content-Security-Policy %q, want one: %v", csp, tc.csp)
			}
			if res.Header.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q without Accept-Encoding", res.Header.Get("Content-Encoding"))
			}
			want, err := fs.ReadFile(Files(), tc.wantFromDir)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("body is not %s (%d bytes, want %d)", tc.wantFromDir, len(body), len(want))
			}
			if !strings.Contains(string(body), tc.wantInBody) {
				t.Errorf("body lacks %q", tc.wantInBody)
			}
		})
	}
}

func TestHandlerGzipAndRevalidation(t *testing.T) {
	h := NewHandler()
	for _, target := range append([]string{"/"}, prefix("/", assetRefs(t))...) {
		name := strings.TrimPrefix(target, "/")
		if name == "" {
			name = "index.html"
		}
		want, _ := fs.ReadFile(Files(), name)

		res := get(t, h, "GET", target, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if res.Header.Get("Content-Encoding") != "gzip" || !slices.Contains(res.Header.Values("Vary"), "Accept-Encoding") {
			t.Errorf("%s: Content-Encoding %q, Vary %q; want gzip, Accept-Encoding", target, res.Header.Get("Content-Encoding"), res.Header.Values("Vary"))
			continue
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: gunzipped body differs from the file (%v)", target, err)
		}

		if res := get(t, h, "GET", target, map[string]string{"Accept-Encoding": "gzip;q=0"}); res.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: gzip sent although q=0", target)
		}

		etag := res.Header.Get("ETag")
		res = get(t, h, "GET", target, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag})
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: If-None-Match %s: status %d, want 304", target, etag, res.StatusCode)
		}
		plain := get(t, h, "GET", target, nil).Header.Get("ETag")
		if plain == etag || plain == "" {
			t.Errorf("%s: ETag %q of the plain body, %q of the gzipped one: want two different ones", target, plain, etag)
		}
	}
	if res := get(t, h, "POST", "/", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", res.StatusCode)
	}
	if res := get(t, h, "HEAD", "/", nil); res.StatusCode != http.StatusOK {
		t.Errorf("HEAD /: status %d, want 200", res.StatusCode)
	}
}

func prefix(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// TestBundleUpToDate rebuilds the demo into a temporary directory and
// fails unless the result is byte-for-byte the embedded dist/: the bundle
// that ships is the one the sources and the pinned packages make. It needs
// node and the npm packages (npm ci in the module root); without them it
// skips, except under CI=true.
func TestBundleUpToDate(t *testing.T) {
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (not on PATH)")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "node_modules", "esbuild", "package.json")); err != nil {
		missing = append(missing, "node_modules/esbuild (npm ci in the module root)")
	}
	if len(missing) > 0 {
		msg := "checking the demo bundle needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	out := t.TempDir()
	cmd := exec.Command("node", "build.mjs", "--outdir", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs: %v\n%s", err, b)
	}
	built := os.DirFS(out)
	files := func(fsys fs.FS) map[string][]byte {
		m := map[string][]byte{}
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			m[p] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	want, got := files(built), files(Files())
	var stale []string
	for name, b := range want {
		if g, ok := got[name]; !ok {
			stale = append(stale, name+" is missing")
		} else if !bytes.Equal(g, b) {
			stale = append(stale, name+" differs")
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			stale = append(stale, name+" is left over from an older build")
		}
	}
	if len(stale) > 0 {
		slices.Sort(stale)
		t.Errorf("web/demo/dist is not what the sources build to (run: npm run build:demo, then commit web/demo/dist):\n  %s",
			strings.Join(stale, "\n  "))
	}
}
