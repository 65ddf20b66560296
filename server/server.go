// Package server is collabd's HTTP and WebSocket transport: the routes, the
// upgrade of y-websocket and y-partykit connections, each connection's read
// loop and write pump, the REST handlers, and the mapping of room close
// reasons to WebSocket close codes. It is the only package that imports a
// WebSocket library; the rooms behind it never see the network.
//
// # Connections
//
// The handler upgrades the request and returns (net/http then frees its
// per-request state); the connection lives on in a wsConn (ws.go), the
// read side, and a peer (peer.go), the write side. Reading: a goroutine
// reads messages and hands them to the room; when the client has nothing
// more to say the connection is parked (park_linux.go) and the goroutine
// ends, so that an idle connection costs no goroutine; the poller starts
// a new one when bytes arrive, and takes keepalive pongs off parked
// sockets itself. Writing: the room sends through peer.Send, which never
// blocks: it writes the frame at once when the socket takes it without
// waiting, and otherwise queues it for a writer goroutine that blocks with
// a deadline; a connection whose queue is full is closed with 1013 (try
// again later), and its client reconnects and resyncs. The writer drains
// what is queued and sends a close frame with the room's reason before the
// connection ends. Pings go out every PingInterval; a peer that does not
// answer within PingTimeout is closed.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/party"
	"github.com/collabd/collabd/rooms"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxFrameSize = 32 << 20
	DefaultSendQueue    = 512
	DefaultPingInterval = 20 * time.Second
	DefaultPingTimeout  = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	MaxRoomNameLength   = 256
)

// Options configure a Server. The zero value of each field is its default.
type Options struct {
	// Registry holds the rooms. Required.
	Registry *rooms.Registry
	// Join connects a WebSocket connection to its room; nil joins the
	// Registry's room. A cluster node puts itself here (see JoinFunc).
	Join JoinFunc
	// Owner runs fn, a REST request's write to the room's document
	// through the Registry, where that is allowed: a cluster node runs it
	// only while it owns the room, and otherwise returns an error
	// wrapping rooms.ErrTryAgain (503 with Retry-After). Nil runs fn.
	Owner func(ctx context.Context, room string, fn func() error) error
	// Parties serves /parties/{party}/{room} for parties other than the
	// Yjs ones (party.go); nil serves the Yjs party "main" only.
	Parties *party.Registry
	// Logger receives request and connection logs; nil discards them.
	Logger *slog.Logger
	// MaxFrameSize bounds one incoming WebSocket message (and one
	// reassembled y-partykit batch) and one REST update body, in bytes.
	MaxFrameSize int64
	// SendQueue bounds the frames waiting to be written to a connection.
	SendQueue int
	// PingInterval and PingTimeout: keepalive of WebSocket connections.
	PingInterval, PingTimeout time.Duration
	// WriteTimeout bounds each write to a connection.
	WriteTimeout time.Duration
	// OriginPatterns lists the browser origins allowed to open WebSocket
	// connections (host patterns as coder/websocket takes them). Empty
	// allows every origin, as the y-websocket server does.
	OriginPatterns []string
	// Ready reports whether storage is reachable, for /readyz; nil is
	// always ready.
	Ready func(ctx context.Context) error
	// Home serves GET / (the demo editor) and GET /assets/... (its
	// script and stylesheet); nil serves a short text page at / and
	// nothing under /assets/.
	Home http.Handler
	// Auth decides who may open which document, on every WebSocket
	// upgrade and REST request (see access.go); nil lets everyone do
	// everything.
	Auth auth.Authorizer
	// Limits bound what one client may cost.
	Limits Limits
	// MaxBodySize bounds a REST request body; 0 means MaxFrameSize.
	MaxBodySize int64
	// Metrics counts connections and rejections; nil counts nothing.
	Metrics *metrics.Metrics
	// BodyTimeout bounds reading a REST request body (a client that
	// trickles its body ties up a goroutine); 0 means DefaultBodyTimeout.
	BodyTimeout time.Duration
}

// DefaultBodyTimeout is the zero value of Options.BodyTimeout.
const DefaultBodyTimeout = 30 * time.Second

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	if o.SendQueue <= 0 {
		o.SendQueue = DefaultSendQueue
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = o.MaxFrameSize
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	o.Limits = o.Limits.withDefaults(o.MaxFrameSize)
	return o
}

// RoomConn is a connection's handle on its room: *rooms.Conn, or a
// cluster node's connection forwarded to the room's owner.
type RoomConn interface {
	ID() uint64
	Receive(ctx context.Context, frame []byte) error
	Leave()
}

// JoinFunc connects peer to the room called room, as Registry.Join does:
// once it returns, the peer has been sent the room's SyncStep1 and
// presence, and the frames it receives go to RoomConn.Receive. An error
// wrapping rooms.ErrTryAgain closes the connection with 1013.
type JoinFunc func(ctx context.Context, room string, peer rooms.Peer, o rooms.JoinOptions) (RoomConn, error)

// join is Options.Join, or the registry's Join.
func (s *Server) join(ctx context.Context, room string, peer rooms.Peer, o rooms.JoinOptions) (RoomConn, error) {
	if s.opts.Join != nil {
		return s.opts.Join(ctx, room, peer, o)
	}
	c, err := s.reg.Join(ctx, room, peer, o)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

// Server serves collabd's HTTP API. It holds no listener of its own.
type Server struct {
	opts  Options
	log   *slog.Logger
	reg   *rooms.Registry
	mux   *http.ServeMux
	conns connSet
	count connCounter // per room and per client address

	writes     *writePool // for the connections' non-blocking writes
	pollerOnce sync.Once
	idle       *poller // parks idle connections; made by the first park
}

// poller returns the server's poller, starting it on first use.
func (s *Server) poller() *poller {
	s.pollerOnce.Do(func() { s.idle = newPoller(s.log) })
	return s.idle
}

// New returns a server for opts.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: opts.Logger, reg: opts.Registry, mux: http.NewServeMux(), writes: newWritePool()}
	s.conns.init()
	s.mux.HandleFunc("GET /ws/{room...}", s.handleYWebsocket)
	s.mux.HandleFunc("GET /parties/{party}/{room...}", s.handlePartykit)
	s.mux.HandleFunc("/parties/{party}/{room...}", s.handlePartyRequest)
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	s.mux.HandleFunc("GET /api/docs/{room}", s.handleGetDoc)
	s.mux.HandleFunc("GET /api/docs/{room}/update", s.handleGetUpdate)
	s.mux.HandleFunc("POST /api/docs/{room}/update", s.handlePostUpdate)
	s.mux.HandleFunc("GET /api/docs/{room}/history", s.handleHistory)
	s.mux.HandleFunc("POST /api/docs/{room}/history", s.handleTakeVersion)
	s.mux.HandleFunc("GET /api/docs/{room}/history/{version}", s.handleGetVersion)
	s.mux.HandleFunc("POST /api/docs/{room}/history/{version}/restore", s.handleRestore)
	s.mux.HandleFunc("GET /api/docs", s.handleListDocs)
	s.mux.HandleFunc("DELETE /api/docs/{room}", s.handleDeleteDoc)
	if opts.Home != nil {
		s.mux.Handle("GET /{$}", opts.Home)
		s.mux.Handle("GET /assets/", opts.Home)
		// The party demo pages (web/demo).
		s.mux.Handle("GET /poll", opts.Home)
		s.mux.Handle("GET /poll/vote", opts.Home)
		s.mux.Handle("GET /chat", opts.Home)
	} else {
		s.mux.HandleFunc("GET /{$}", s.handleHome)
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Wait blocks until every WebSocket connection has ended, or ctx ends.
// http.Server.Shutdown does not wait for hijacked connections; call this
// after Registry.Shutdown has closed them.
func (s *Server) Wait(ctx context.Context) error {
	if err := s.conns.wait(ctx); err != nil {
		return err
	}
	// No connection is left and none can come: stop the poller.
	s.pollerOnce.Do(func() {})
	if s.idle != nil {
		s.idle.close()
	}
	return nil
}

// validRoom checks a room name: 1 to MaxRoomNameLength bytes of UTF-8
// without control characters.
func validRoom(name string) error {
	switch {
	case name == "":
		return errors.New("room name is empty")
	case len(name) > MaxRoomNameLength:
		return fmt.Errorf("room name is longer than %d bytes", MaxRoomNameLength)
	case !utf8.ValidString(name):
		return errors.New("room name is not UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("room name contains control characters")
	}
	return nil
}

// writeError writes a JSON error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.reg.Ready()
	if err == nil && s.opts.Ready != nil {
		err = s.opts.Ready(ctx)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, map[string]string{"status": "ready"})
}

func (s *Server) handleHome(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "collabd is running.\n\n"+
		"y-websocket: new WebsocketProvider('ws://HOST/ws', room, doc)\n"+
		"y-partykit:  new YPartyKitProvider('HOST', room, doc)\n"+
		"REST:        GET /api/docs/{room}, GET|POST /api/docs/{room}/update,\n"+
		"             GET|POST /api/docs/{room}/history, GET /api/docs/{room}/history/{id}?format=update|json|text,\n"+
		"             POST /api/docs/{room}/history/{id}/restore\n")
}
