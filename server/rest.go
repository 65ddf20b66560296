package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/ydoc"
)

// restRoom validates the {room} path value and checks that the request
// may use that room at access need, answering 400, 401 or 403 if not.
func (s *Server) restRoom(w http.ResponseWriter, r *http.Request, need auth.Access) (string, bool) {
	room := r.PathValue("room")
	if err := validRoom(room); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	if _, ok := s.authorize(w, r, room, need); !ok {
		return "", false
	}
	return room, true
}

// owning runs a write to room's document through Options.Owner.
func (s *Server) owning(ctx context.Context, room string, fn func() error) error {
	if s.opts.Owner == nil {
		return fn()
	}
	return s.opts.Owner(ctx, room, fn)
}

// writeRoomError answers for an error of the registry.
func (s *Server) writeRoomError(w http.ResponseWriter, room string, err error) {
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		writeError(w, http.StatusNotFound, "no document "+strconv.Quote(room))
	case errors.Is(err, rooms.ErrVersionNotFound):
		writeError(w, http.StatusNotFound, "no such version of "+strconv.Quote(room))
	case errors.Is(err, rooms.ErrNoHistory):
		writeError(w, http.StatusNotImplemented, "this server keeps no history (no store)")
	case errors.Is(err, ydoc.ErrInvalidUpdate):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, rooms.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, rooms.ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
	case errors.Is(err, rooms.ErrTryAgain):
		retryAfter(w, time.Second)
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		s.log.Error("request failed", "room", room, "err", err)
		writeError(w, http.StatusServiceUnavailable, "document unavailable: "+err.Error())
	}
}

// docJSON is the body of GET /api/docs/{room}.
type docJSON struct {
	Name        string            `json:"name"`
	StateVector map[string]uint64 `json:"stateVector"`
	Size        int               `json:"size"` // bytes of the full state update
	Roots       map[string]string `json:"roots"`
	Content     map[string]any    `json:"content"`
}

func newDocJSON(room string, d *ydoc.Doc, size int) docJSON {
	body := docJSON{
		Name:        room,
		StateVector: map[string]uint64{},
		Size:        size,
		Roots:       map[string]string{},
		Content:     d.ToJSON(),
	}
	for c, clock := range d.StateVector() {
		body.StateVector[strconv.FormatUint(c, 10)] = clock
	}
	for _, name := range d.RootNames() {
		body.Roots[name] = d.RootKind(name).String()
	}
	return body
}

func (s *Server) handleGetDoc(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessRead)
	if !ok {
		return
	}
	var body docJSON
	err := s.reg.View(r.Context(), room, func(d *ydoc.Doc) error {
		body = newDocJSON(room, d, len(d.EncodeStateAsUpdate(nil)))
		return nil
	})
	if err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	writeJSON(w, body)
}

func (s *Server) handleGetUpdate(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessRead)
	if !ok {
		return
	}
	var update []byte
	err := s.reg.View(r.Context(), room, func(d *ydoc.Doc) error {
		update = d.EncodeStateAsUpdate(nil)
		return nil
	})
	if err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(update)))
	_, _ = w.Write(update)
}

func (s *Server) handlePostUpdate(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessWrite)
	if !ok {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, "empty body: send a Yjs v1 update")
		return
	}
	if err := s.owning(r.Context(), room, func() error { return s.reg.ApplyUpdate(r.Context(), room, body) }); err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	writeJSON(w, map[string]any{"applied": true, "bytes": len(body)})
}

// versionJSON is one version in the history API. The head of the list is
// the current state, id 0 with current set, exportable like a version.
type versionJSON struct {
	ID      int64     `json:"id"`
	Created time.Time `json:"created"`
	Size    int       `json:"size"`
	Trigger string    `json:"trigger"`
	Current bool      `json:"current,omitempty"`
}

// currentTrigger is the trigger of the history's head: the current state.
const currentTrigger = "current"

func toVersionJSON(v docstore.Version) versionJSON {
	return versionJSON{ID: v.ID, Created: v.Created, Size: v.Size, Trigger: string(v.Trigger)}
}

// currentState encodes the document's state now, as the history's head.
func (s *Server) currentState(r *http.Request, room string) (versionJSON, []byte, error) {
	var snap []byte
	err := s.reg.View(r.Context(), room, func(d *ydoc.Doc) error {
		snap = d.EncodeStateAsUpdate(nil)
		return nil
	})
	return versionJSON{ID: 0, Created: time.Now().UTC(), Size: len(snap), Trigger: currentTrigger, Current: true}, snap, err
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessRead)
	if !ok {
		return
	}
	cur, _, err := s.currentState(r, room)
	if err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	vs, err := s.reg.Versions(r.Context(), room)
	if err != nil && !errors.Is(err, rooms.ErrNotFound) {
		s.writeRoomError(w, room, err)
		return
	}
	out := make([]versionJSON, 0, len(vs)+1)
	out = append(out, cur)
	for _, v := range vs {
		out = append(out, toVersionJSON(v))
	}
	writeJSON(w, map[string]any{"name": room, "versions": out})
}

func (s *Server) handleTakeVersion(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessWrite)
	if !ok {
		return
	}
	var v docstore.Version
	err := s.owning(r.Context(), room, func() (err error) { v, err = s.reg.TakeVersion(r.Context(), room); return err })
	if err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	writeJSONStatus(w, http.StatusCreated, toVersionJSON(v))
}

// versionID parses the {version} path value, answering 400 if it is bad.
// current allows 0 (or "current"), the current state.
func versionID(w http.ResponseWriter, r *http.Request, current bool) (int64, bool) {
	v := r.PathValue("version")
	if current && v == currentTrigger {
		return 0, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 || (id == 0 && !current) {
		writeError(w, http.StatusBadRequest, "version must be a positive integer")
		return 0, false
	}
	return id, true
}

func (s *Server) handleGetVersion(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessRead)
	if !ok {
		return
	}
	id, ok := versionID(w, r, true)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "", "update", "json", "text":
	default:
		writeError(w, http.StatusBadRequest, "format must be update, json or text")
		return
	}
	var v versionJSON
	var snap []byte
	var err error
	if id == 0 {
		v, snap, err = s.currentState(r, room)
	} else {
		var dv docstore.Version
		dv, snap, err = s.reg.Version(r.Context(), room, id)
		v = toVersionJSON(dv)
	}
	if err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	w.Header().Set("X-Collabd-Version", strconv.FormatInt(v.ID, 10))
	w.Header().Set("X-Collabd-Version-Created", v.Created.UTC().Format(time.RFC3339Nano))
	w.Header().Set("X-Collabd-Version-Trigger", string(v.Trigger))
	if format == "" || format == "update" {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(snap)))
		_, _ = w.Write(snap)
		return
	}
	d := ydoc.New(ydoc.Options{})
	if err := d.ApplyUpdate(snap); err != nil {
		s.log.Error("stored version does not decode", "room", room, "version", id, "err", err)
		writeError(w, http.StatusInternalServerError, "stored version does not decode")
		return
	}
	if format == "json" {
		writeJSON(w, map[string]any{"version": v, "document": newDocJSON(room, d, len(snap))})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, plainText(d))
}

// plainText is the text of a document's text and XML roots: the only root's
// text alone, or each root's under a "# name" line.
func plainText(d *ydoc.Doc) string {
	type part struct{ name, text string }
	var parts []part
	for _, name := range d.RootNames() {
		switch k := d.RootKind(name); k {
		case ydoc.KindText, ydoc.KindXMLFragment:
			parts = append(parts, part{name, d.RootAs(name, k).PlainText()})
		}
	}
	if len(parts) == 1 {
		return parts[0].text
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("# " + p.name + "\n" + p.text)
	}
	return b.String()
}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessWrite)
	if !ok {
		return
	}
	id, ok := versionID(w, r, false)
	if !ok {
		return
	}
	var v docstore.Version
	err := s.owning(r.Context(), room, func() (err error) { v, err = s.reg.Restore(r.Context(), room, id); return err })
	if err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	writeJSON(w, map[string]any{"restored": id, "version": toVersionJSON(v)})
}

// docInfoJSON is one document in GET /api/docs.
type docInfoJSON struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Size       int64     `json:"size"` // bytes stored: the base snapshot and the log after it
	Versions   int       `json:"versions"`
	LogEntries int       `json:"logEntries"`
}

// Page sizes of GET /api/docs.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// handleListDocs lists stored documents in name order, a page at a time
// (?limit=, ?after=NAME for the page after NAME; the answer's "next" is
// the after= of the next page, absent on the last). It needs admin access
// and lists only the documents the token's rooms cover.
func (s *Server) handleListDocs(w http.ResponseWriter, r *http.Request) {
	grant, ok := s.authorize(w, r, "", auth.AccessAdmin)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxListLimit {
			writeError(w, http.StatusBadRequest, "limit must be an integer from 1 to "+strconv.Itoa(maxListLimit))
			return
		}
		limit = n
	}
	after := q.Get("after")
	out := make([]docInfoJSON, 0, limit)
	next := ""
	// The token may cover only some documents: read pages until this one
	// is full or the store has no more.
	for len(out) < limit {
		infos, err := s.reg.List(r.Context(), after, limit)
		if err != nil {
			s.writeRoomError(w, "", err)
			return
		}
		for _, d := range infos {
			after = d.Name
			if !grant.MatchesRoom(d.Name) {
				continue
			}
			out = append(out, docInfoJSON{Name: d.Name, Created: d.Created, Updated: d.Updated,
				Size: int64(d.SnapshotSize) + d.LogBytes, Versions: d.Versions, LogEntries: d.LogEntries})
			if len(out) == limit {
				break
			}
		}
		if len(infos) < limit {
			after = ""
			break
		}
	}
	if len(out) == limit && after != "" {
		next = after
	}
	body := map[string]any{"documents": out}
	if next != "" {
		body["next"] = next
	}
	writeJSON(w, body)
}

// handleDeleteDoc removes a document and its history (admin access).
func (s *Server) handleDeleteDoc(w http.ResponseWriter, r *http.Request) {
	room, ok := s.restRoom(w, r, auth.AccessAdmin)
	if !ok {
		return
	}
	if err := s.owning(r.Context(), room, func() error { return s.reg.Delete(r.Context(), room) }); err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	writeJSON(w, map[string]any{"deleted": room})
}
