package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/ydoc"
	"github.com/collabd/collabd/yprotocol"
)

// joinStorm (collabbench joinstorm) measures what a crowd arriving at once
// costs: -clients connections open within -within to -rooms rooms that
// each hold a document of about -doc-size bytes, and each is timed from
// the start of its dial to the server's SyncStep2 (the whole document) in
// its hands. With -cold (and -server-cmd) the server is restarted between
// seeding the rooms and the storm, so every room is woken from storage by
// the storm itself: 1,000 rooms woken at once is -rooms 1000 -clients 1000.
type joinStormConfig struct {
	config         // -url, -server-cmd, -token, -protocol, ... as in a load run
	docSize    int // bytes of each room's encoded document
	within     time.Duration
	cold       bool
	stormRooms int
}

type joinStormReport struct {
	Label       string   `json:"label"`
	Args        []string `json:"args"`
	Started     string   `json:"started"`
	Rooms       int      `json:"rooms"`
	Clients     int      `json:"clients"`
	DocBytes    int      `json:"doc_bytes"`
	WithinSec   float64  `json:"within_sec"`
	Cold        bool     `json:"cold"`
	Synced      int      `json:"synced"`
	Failed      int      `json:"failed"`
	FirstError  string   `json:"first_error,omitempty"`
	ToSynced    latency  `json:"connect_to_synced"`
	ServerCPU   float64  `json:"server_cpu_seconds"`
	ServerRSSKB int64    `json:"server_rss_end_kb"`
	StormSec    float64  `json:"storm_seconds"` // first dial to last SyncStep2
	Passed      bool     `json:"passed"`
}

func joinStorm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var jc joinStormConfig
	fs := flag.NewFlagSet("collabbench joinstorm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&jc.url, "url", "ws://127.0.0.1:8080", "server base URL; clients connect to URL/ws/ROOM")
	fs.IntVar(&jc.clients, "clients", 150, "connections in the storm, spread round-robin over the rooms")
	fs.IntVar(&jc.stormRooms, "rooms", 1, "rooms, each seeded with a document of -doc-size")
	fs.IntVar(&jc.docSize, "doc-size", 4<<20, "bytes of each room's document (encoded state)")
	fs.DurationVar(&jc.within, "within", time.Second, "the dials start evenly spread over this time")
	fs.BoolVar(&jc.cold, "cold", true, "restart the -server-cmd server after seeding, so the storm wakes every room from storage")
	fs.StringVar(&jc.serverCmd, "server-cmd", "", "start the server with this command (split on spaces, no shell) and stop it at the end")
	fs.StringVar(&jc.serverLog, "server-log", "", "file for the output of -server-cmd (default: discarded)")
	fs.StringVar(&jc.token, "token", "", "token every client sends")
	jc.protocol = protoYWebsocket
	fs.Var(&jc.protocol, "protocol", "wire protocol of the server: y-websocket or hocuspocus")
	fs.StringVar(&jc.jsonOut, "json", "", "also write the results as JSON to this file (- for stdout)")
	fs.StringVar(&jc.label, "label", "", "name of the scenario in the report")
	fs.DurationVar(&jc.connTimeout, "connect-timeout", 30*time.Second, "time for one client to get the document")
	if err := fs.Parse(args); err != nil {
		return err
	}
	jc.args = args
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	case jc.clients < 1 || jc.clients > maxConnections || jc.stormRooms < 1 || jc.stormRooms > maxRooms || jc.clients < jc.stormRooms:
		return fmt.Errorf("need 1 <= -rooms <= -clients <= %d", maxConnections)
	case jc.docSize < 1 || jc.docSize > 256<<20:
		return errors.New("-doc-size must be between 1 byte and 256 MiB")
	case jc.within < 0 || jc.within > time.Minute || jc.connTimeout <= 0:
		return errors.New("-within must be between 0 and 1m, -connect-timeout positive")
	}
	if _, err := jc.wsBase(); err != nil {
		return err
	}

	doc := stormDocument(jc.docSize)
	fmt.Fprintf(stderr, "collabbench: joinstorm: document of %d bytes\n", len(doc))
	prefix := fmt.Sprintf("storm-%08x", rand.Uint32())
	rooms := make([]string, jc.stormRooms)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("%s-%d", prefix, i)
	}

	var srv *serverProc
	start := func() error {
		if jc.serverCmd == "" {
			return nil
		}
		var err error
		srv, err = startServer(ctx, jc.serverCmd, jc.serverLog, jc.healthURL(), 30*time.Second)
		return err
	}
	stop := func() {
		if srv != nil {
			if err := srv.stop(60 * time.Second); err != nil {
				fmt.Fprintf(stderr, "collabbench: server: %v\n", err)
			}
			srv = nil
		}
	}
	defer stop()
	if err := start(); err != nil {
		return err
	}
	t0 := time.Now()
	if err := seedRooms(ctx, &jc, rooms, doc); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	fmt.Fprintf(stderr, "collabbench: seeded %d rooms in %v\n", len(rooms), time.Since(t0).Round(time.Millisecond))
	if jc.cold && jc.serverCmd != "" {
		stop()
		if err := start(); err != nil {
			return err
		}
	}

	rep := &joinStormReport{
		Label: jc.label, Args: args, Started: time.Now().UTC().Format(time.RFC3339),
		Rooms: len(rooms), Clients: jc.clients, DocBytes: len(doc), WithinSec: jc.within.Seconds(),
		Cold: jc.cold && jc.serverCmd != "",
	}
	var before procSample
	if srv != nil {
		before, _ = readProc(srv.pid())
	}
	var (
		mu      sync.Mutex
		h       hist
		lastEnd time.Time
		wg      sync.WaitGroup
		sizes   = make([]int, jc.clients)
		conns   = make([]*websocket.Conn, jc.clients)
	)
	stormStart := time.Now()
	for i := range jc.clients {
		at := stormStart.Add(time.Duration(int64(jc.within) * int64(i) / int64(jc.clients)))
		wg.Go(func() {
			sleepUntil(ctx, at)
			began := time.Now()
			ws, n, err := stormJoin(ctx, &jc, rooms[i%len(rooms)])
			end := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err == nil && n < len(doc)*9/10 {
				err = fmt.Errorf("SyncStep2 of %d bytes for a document of %d", n, len(doc))
			}
			if err != nil {
				rep.Failed++
				if rep.FirstError == "" {
					rep.FirstError = err.Error()
				}
				return
			}
			rep.Synced++
			sizes[i], conns[i] = n, ws
			h.add(int64(end.Sub(began)))
			lastEnd = later(lastEnd, end)
		})
	}
	wg.Wait()
	rep.StormSec = lastEnd.Sub(stormStart).Seconds()
	if srv != nil {
		after, _ := readProc(srv.pid())
		rep.ServerCPU = (after.CPU - before.CPU).Seconds()
		rep.ServerRSSKB = after.RSS >> 10
	}
	for _, ws := range conns {
		if ws != nil {
			ws.Close(websocket.StatusNormalClosure, "")
		}
	}
	rep.ToSynced = h.summary()
	rep.Passed = rep.Failed == 0
	return rep.write(&jc.config, stdout)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// stormDocument builds a document of about size bytes: text pasted a
// paragraph at a time at random places by a few authors, so that it has
// structure (thousands of items) and not one long string.
func stormDocument(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const para = "Collaborative editing lets several people change one document at the same time; " +
		"a CRDT merges their edits without a central lock. "
	docs := []*ydoc.Doc{}
	for a := range 4 {
		docs = append(docs, ydoc.New(ydoc.Options{ClientID: uint64(1000 + a)}))
	}
	var updates [][]byte
	length, total := 0, 0
	for i := 0; total < size; i++ {
		d := docs[i%len(docs)]
		for _, u := range updates[min(len(updates), max(0, len(updates)-len(docs))):] {
			_ = d.ApplyUpdate(u) // its own and the others' latest edits
		}
		pos := 0
		if length > 0 {
			pos = rng.IntN(length + 1)
		}
		chunk := strings.Repeat(para, 1+rng.IntN(8))
		u, err := d.Transact(func(tx *ydoc.Txn) error { return tx.InsertText(d.Root("text"), pos, chunk) })
		if err != nil {
			panic(err) // a local insert at a valid position cannot fail
		}
		updates = append(updates, u)
		length += len(chunk)
		total += len(u)
	}
	merged, err := ydoc.MergeUpdates(updates...)
	if err != nil {
		panic(err)
	}
	return merged
}

// seedRooms stores doc in every room: one connection per room sends it as
// an update and waits for the server's echo (collabd echoes once it is
// stored).
func seedRooms(ctx context.Context, jc *joinStormConfig, rooms []string, doc []byte) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(rooms))
	sem := make(chan struct{}, 16)
	for _, name := range rooms {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- seedRoom(ctx, jc, name, doc)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func seedRoom(ctx context.Context, jc *joinStormConfig, name string, doc []byte) error {
	ctx, cancel := context.WithTimeout(ctx, jc.connTimeout)
	defer cancel()
	s, err := dialStorm(ctx, jc, name)
	if err != nil {
		return err
	}
	defer s.ws.Close(websocket.StatusNormalClosure, "")
	if err := s.write(ctx, yprotocol.AppendUpdate(nil, doc)); err != nil {
		return err
	}
	for {
		kind, size, err := s.readKind(ctx)
		if err != nil {
			return fmt.Errorf("room %s: waiting for the echo of the document: %w", name, err)
		}
		if kind == yprotocol.KindUpdate && size >= len(doc)/2 {
			return nil
		}
	}
}

// stormJoin connects as a new client and returns once the server's
// SyncStep2 arrived, with its size.
func stormJoin(ctx context.Context, jc *joinStormConfig, name string) (*websocket.Conn, int, error) {
	ctx, cancel := context.WithTimeout(ctx, jc.connTimeout)
	defer cancel()
	s, err := dialStorm(ctx, jc, name)
	if err != nil {
		return nil, 0, err
	}
	for {
		kind, size, err := s.readKind(ctx)
		if err != nil {
			s.ws.CloseNow()
			return nil, 0, err
		}
		switch kind {
		case yprotocol.KindSyncStep2:
			return s.ws, size, nil
		case yprotocol.KindSyncStep1:
			// Answer as a stock client does (it has nothing).
			if err := s.write(ctx, yprotocol.AppendSyncStep2(nil, emptyUpdate)); err != nil {
				s.ws.CloseNow()
				return nil, 0, err
			}
		}
	}
}

// stormConn is one storm or seeding connection, in either dialect.
type stormConn struct {
	ws  *websocket.Conn
	pre []byte // Hocuspocus document prefix, nil for y-websocket
	doc string
}

// dialStorm connects to a room and sends what a stock client sends first:
// SyncStep1 with an empty state vector (after the auth message, for
// Hocuspocus).
func dialStorm(ctx context.Context, jc *joinStormConfig, name string) (*stormConn, error) {
	ws, _, err := websocket.Dial(ctx, jc.roomURL(name), nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 30)
	s := &stormConn{ws: ws, doc: name}
	if jc.protocol == protoHocuspocus {
		s.pre = hpPrefix(name)
		if err := ws.Write(ctx, websocket.MessageBinary, hpAuth(s.pre, jc.token)); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	if err := s.write(ctx, yprotocol.AppendSyncStep1(nil, emptyStateVector)); err != nil {
		ws.CloseNow()
		return nil, err
	}
	return s, nil
}

func (s *stormConn) write(ctx context.Context, frame []byte) error {
	if s.pre != nil {
		frame = hpWrap(nil, s.pre, frame)
	}
	return s.ws.Write(ctx, websocket.MessageBinary, frame)
}

// readKind reads the next frame and returns its first message's kind and
// the frame's size, reading only its head into memory: 150 clients each
// buffering a 4 MB document would make the tool, not the server, the
// bottleneck of the storm. A message that is not a sync message (presence,
// or a Hocuspocus message that carries no Yjs message) gives kind 0.
func (s *stormConn) readKind(ctx context.Context) (kind yprotocol.Kind, size int, err error) {
	_, r, err := s.ws.Reader(ctx)
	if err != nil {
		return 0, 0, err
	}
	var head [64]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, 0, err
	}
	rest, err := io.Copy(io.Discard, r)
	if err != nil {
		return 0, 0, err
	}
	h := head[:n]
	if s.pre != nil {
		if !bytes.HasPrefix(h, s.pre) || len(h) <= len(s.pre) {
			return 0, 0, fmt.Errorf("hocuspocus message without the document's name: %x", h)
		}
		switch h[len(s.pre)] {
		case yprotocol.TypeSync, hpTypeSyncReply:
			h = h[len(s.pre)+1:]
		case yprotocol.TypeAuth:
			if len(h) > len(s.pre)+1 && h[len(s.pre)+1] == hpAuthDenied {
				return 0, 0, errHPDenied
			}
			return 0, n, nil
		default:
			return 0, n, nil
		}
	} else {
		if h[0] != yprotocol.TypeSync {
			return 0, n, nil // presence and the like
		}
		h = h[1:]
	}
	if len(h) == 0 {
		return 0, 0, errors.New("sync message without a sub-type")
	}
	switch h[0] {
	case yprotocol.SyncStep1:
		kind = yprotocol.KindSyncStep1
	case yprotocol.SyncStep2:
		kind = yprotocol.KindSyncStep2
	case yprotocol.SyncUpdate:
		kind = yprotocol.KindUpdate
	default:
		return 0, 0, fmt.Errorf("sync message of sub-type %d", h[0])
	}
	return kind, n + int(rest), nil
}

func (r *joinStormReport) write(c *config, stdout io.Writer) error {
	fmt.Fprintf(stdout, "== collabbench joinstorm ==\n")
	cold := "hot (rooms in memory)"
	if r.Cold {
		cold = "cold (server restarted after seeding)"
	}
	fmt.Fprintf(stdout, "storm              %d clients into %d rooms of %d bytes within %.2fs, %s\n", r.Clients, r.Rooms, r.DocBytes, r.WithinSec, cold)
	fmt.Fprintf(stdout, "synced             %d (%d failed%s)\n", r.Synced, r.Failed, firstErr(r.FirstError))
	fmt.Fprintf(stdout, "connect to synced  %s\n", r.ToSynced)
	fmt.Fprintf(stdout, "storm              %.2fs from the first dial to the last document\n", r.StormSec)
	if r.ServerCPU > 0 {
		fmt.Fprintf(stdout, "server             %.2fs CPU during the storm, RSS %s after\n", r.ServerCPU, kb(r.ServerRSSKB))
	}
	if c.jsonOut == "" {
		return nil
	}
	return writeJSON(c.jsonOut, r, stdout)
}

func firstErr(s string) string {
	if s == "" {
		return ""
	}
	return "; first: " + s
}
