package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/ydoc"
)

// restRoom validates the {room} path value, answering 400 if it is bad.
func restRoom(w http.ResponseWriter, r *http.Request) (string, bool) {
	room := r.PathValue("room")
	if err := validRoom(room); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return room, true
}

// writeRoomError answers for an error of the registry.
func (s *Server) writeRoomError(w http.ResponseWriter, room string, err error) {
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		writeError(w, http.StatusNotFound, "no document "+strconv.Quote(room))
	case errors.Is(err, ydoc.ErrInvalidUpdate):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, rooms.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, rooms.ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
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

func (s *Server) handleGetDoc(w http.ResponseWriter, r *http.Request) {
	room, ok := restRoom(w, r)
	if !ok {
		return
	}
	var body docJSON
	err := s.reg.View(r.Context(), room, func(d *ydoc.Doc) error {
		body = docJSON{
			Name:        room,
			StateVector: map[string]uint64{},
			Size:        len(d.EncodeStateAsUpdate(nil)),
			Roots:       map[string]string{},
			Content:     d.ToJSON(),
		}
		for c, clock := range d.StateVector() {
			body.StateVector[strconv.FormatUint(c, 10)] = clock
		}
		for _, name := range d.RootNames() {
			body.Roots[name] = d.RootKind(name).String()
		}
		return nil
	})
	if err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	writeJSON(w, body)
}

func (s *Server) handleGetUpdate(w http.ResponseWriter, r *http.Request) {
	room, ok := restRoom(w, r)
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
	room, ok := restRoom(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxFrameSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "update larger than the frame size limit")
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, "empty body: send a Yjs v1 update")
		return
	}
	if err := s.reg.ApplyUpdate(r.Context(), room, body); err != nil {
		s.writeRoomError(w, room, err)
		return
	}
	writeJSON(w, map[string]any{"applied": true, "bytes": len(body)})
}
