// Package demo serves collabd's demo note editor: a collaborative rich-text
// editor (ProseMirror bound to Yjs with y-prosemirror, synced with the stock
// y-websocket provider) with live cursors, presence and the version history
// of the REST API.
//
// The JavaScript sources are in src/; build.mjs bundles them with esbuild
// into dist/, which is committed and embedded into the binary, so that
// running collabd needs no Node. TestBundleUpToDate fails when dist/ is not
// what the sources build to. Rebuild with
//
//	npm run build:demo
package demo

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed dist
var dist embed.FS

// Files returns the built demo: index.html and assets/.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embedded directory exists by construction
	}
	return sub
}

// contentSecurityPolicy allows the page its own scripts, styles and
// connections (WebSocket and REST on the same origin) and nothing else.
// Inline styles are allowed because ProseMirror and the remote-cursor
// decorations set style attributes.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	body  []byte
	gz    []byte // gzip of body, nil when it does not pay
	ctype string
	etag  string
}

// Handler serves the demo: GET / is the editor page (the note is chosen by
// ?room=), GET /poll the live poll's presenter page, GET /poll/vote its
// phone-sized voting page, GET /chat a chat room (all three on the built-in
// parties, the room chosen by ?room=), GET /assets/{file} their scripts and
// stylesheets. Everything else
// is 404. Assets have content-hashed names and are cached for a year;
// the page is revalidated on every load. Clients that accept gzip get it.
//
// A Handler is safe for concurrent use.
type Handler struct {
	once  sync.Once
	files map[string]*file // by path without the leading slash; read-only after once
}

// NewHandler returns a handler for the embedded demo.
func NewHandler() *Handler { return &Handler{} }

func (h *Handler) load() {
	h.files = map[string]*file{}
	err := fs.WalkDir(Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(Files(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := &file{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		f.ctype = mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".html":
			f.ctype = "text/html; charset=utf-8"
		case ".js", ".mjs":
			f.ctype = "text/javascript; charset=utf-8"
		case ".css":
			f.ctype = "text/css; charset=utf-8"
		}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		if len(body) > 1024 {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			_, _ = zw.Write(body)
			_ = zw.Close()
			if b.Len() < len(body) {
				f.gz = b.Bytes()
			}
		}
		h.files[p] = f
		return nil
	})
	if err != nil {
		panic(err) // reading the embedded FS cannot fail
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.load)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var name string
	immutable := false
	switch {
	case r.URL.Path == "/":
		name = "index.html"
	case r.URL.Path == "/poll":
		name = "poll.html"
	case r.URL.Path == "/poll/vote":
		name = "vote.html"
	case r.URL.Path == "/chat":
		name = "chat.html"
	case strings.HasPrefix(r.URL.Path, "/assets/"):
		name = strings.TrimPrefix(r.URL.Path, "/")
		immutable = true
	}
	f := h.files[name]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if immutable {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("Referrer-Policy", "same-origin")
		hdr.Set("X-Frame-Options", "DENY")
	}
	body, etag := f.body, f.etag
	if f.gz != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", etag)
	// ServeContent answers If-None-Match and ranges; a zero time sends no
	// Last-Modified (the embedded files have none).
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
