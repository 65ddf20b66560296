package rooms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabd/collabd/awareness"
	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/ydoc"
	"github.com/collabd/collabd/yprotocol"
)

type eventKind int

const (
	evJoin eventKind = iota + 1
	evLeave
	evFrame
	evCall
)

// event is what the room's goroutine receives in its inbox.
type event struct {
	kind  eventKind
	conn  *Conn
	frame []byte
	call  func(rm *Room) // evCall: runs on the room's goroutine
	reply chan error     // evJoin
}

// Room is one live document. Its fields are owned by its goroutine (run)
// unless marked otherwise.
type Room struct {
	reg  *Registry
	name string
	log  *slog.Logger

	inbox chan event    // to the room; never closed
	stop  chan struct{} // closed by Registry.Shutdown
	// async holds events posted without blocking (leaves), guarded by
	// asyncMu; asyncWake has a token when it is not empty.
	asyncMu   sync.Mutex
	async     []event
	asyncWake chan struct{}
	stopOnce  sync.Once
	// relinquished is set before stop is closed by Relinquish: the room
	// leaves without storing anything more.
	relinquished atomic.Bool

	joining int // joins in flight; guarded by reg.mu
	// For Options.MaxRooms, guarded by reg.mu: since when the room has had
	// no connections (zero while it has some), and whether it was told to
	// hibernate (evict has a token then).
	idleSince time.Time
	evicting  bool
	evict     chan struct{}

	loaded  bool
	loadErr error
	exists  bool // the document is stored, or has accepted an update
	doc     *ydoc.Doc
	aware   *awareness.State
	conns   map[*Conn]struct{}
	docSize int // estimated encoded size of the document

	// Persistence: accepted updates not yet handed to the store, the batch
	// being appended, and messages held until the updates before them are
	// stored.
	queue    [][]byte
	inflight bool
	accepted uint64 // updates accepted so far
	// fullFrame is the SyncStep2 of the whole document as it is now, built
	// for the first client that asks for it and dropped when the document
	// changes (syncStep2For).
	fullFrame  []byte
	persisted  uint64 // updates stored so far
	held       []heldMsg
	lastSeq    int64 // newest stored log entry
	baseSeq    int64 // log entries up to this are in the stored snapshot
	logBytes   int   // bytes of the log entries after baseSeq
	persistRes chan persistResult
	retry      *time.Timer
	failing    bool // the last append failed

	idle *time.Timer

	// versionDue fires VersionInterval after the first change since the
	// room's last version; nil when none is due.
	versionDue *time.Timer

	received time.Time // when the frame (or REST update) being handled arrived
	appendAt time.Time // when the append in flight began

	// Presence changes not yet sent, and the timer that sends them.
	awareDirty map[uint64]struct{}
	awareTimer *time.Timer
}

// heldMsg is a frame that may only go out once the first after updates
// accepted by the room are stored; to nil means every connection.
type heldMsg struct {
	after  uint64
	to     *Conn
	frame  []byte
	update []byte      // for a relay to everyone: the update it carries
	done   func(error) // for REST updates: called when stored
	at     time.Time   // for a relay: when the room received the update
}

// mergeHeldRun is how many held relays in a row flushHeld merges into one
// update. A backlog (the store was down for a while) then goes out as a few
// frames instead of overflowing every connection's send queue, while the
// usual one or two held relays keep their exact bytes.
const mergeHeldRun = 16

type persistResult struct {
	n     int
	bytes int
	seq   int64
	err   error
}

func newRoom(reg *Registry, name string) *Room {
	return &Room{
		reg:        reg,
		name:       name,
		log:        reg.log.With("room", name),
		inbox:      make(chan event, reg.opts.InboxSize),
		stop:       make(chan struct{}),
		asyncWake:  make(chan struct{}, 1),
		conns:      make(map[*Conn]struct{}),
		persistRes: make(chan persistResult, 1),
		idleSince:  time.Now(),
		evict:      make(chan struct{}, 1),
	}
}

// post delivers an event to the room, waiting while its inbox is full.
func (rm *Room) post(ctx context.Context, ev event) error {
	select {
	case rm.inbox <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-rm.stop:
		return ErrShuttingDown
	}
}

// postAsync delivers an event without ever blocking.
func (rm *Room) postAsync(ev event) {
	rm.asyncMu.Lock()
	rm.async = append(rm.async, ev)
	rm.asyncMu.Unlock()
	select {
	case rm.asyncWake <- struct{}{}:
	default:
	}
}

func (rm *Room) takeAsync() []event {
	rm.asyncMu.Lock()
	defer rm.asyncMu.Unlock()
	evs := rm.async
	rm.async = nil
	return evs
}

// run is the room's goroutine.
func (rm *Room) run() {
	defer rm.reg.wg.Done()
	rm.load()
	expiry := time.NewTicker(rm.reg.opts.AwarenessTimeout / 10)
	defer expiry.Stop()
	rm.idle = time.NewTimer(rm.reg.opts.IdleTimeout)
	defer rm.idle.Stop()
	for {
		var retry, aware, version <-chan time.Time
		if rm.retry != nil {
			retry = rm.retry.C
		}
		if rm.versionDue != nil {
			version = rm.versionDue.C
		}
		if rm.awareTimer != nil {
			aware = rm.awareTimer.C
		}
		select {
		case <-aware:
			rm.flushAwareness()
		case ev := <-rm.inbox:
			rm.handle(ev)
		case <-rm.asyncWake:
			for _, ev := range rm.takeAsync() {
				rm.handle(ev)
			}
		case res := <-rm.persistRes:
			rm.persistDone(res)
		case <-retry:
			rm.retry = nil
			rm.startPersist()
		case <-version:
			rm.versionDue = nil
			rm.intervalVersion()
		case now := <-expiry.C:
			if rm.aware != nil {
				rm.broadcastAwareness(rm.aware.Expire(now))
			}
		case <-rm.idle.C:
			if rm.maybeHibernate() {
				return
			}
		case <-rm.evict:
			if rm.maybeHibernate() {
				return
			}
			rm.reg.setEvicting(rm, false)
		case <-rm.stop:
			rm.shutdown()
			return
		}
	}
}

// newAwareness returns an empty presence state for the room. A client ID
// belongs to the connection that introduced it; a new connection of the
// same authenticated user may take it over (the client reconnected before
// its old connection's end was noticed).
func (rm *Room) newAwareness() *awareness.State {
	return awareness.New(awareness.Options{
		Timeout: rm.reg.opts.AwarenessTimeout,
		MayTakeOver: func(owner, conn awareness.ConnID) bool {
			var ou, cu string
			for c := range rm.conns {
				switch awareness.ConnID(c.id) {
				case owner:
					ou = c.user
				case conn:
					cu = c.user
				}
			}
			return cu != "" && ou == cu
		},
	})
}

// load reads the stored state into a new document.
func (rm *Room) load() {
	rm.doc = ydoc.New(ydoc.Options{})
	rm.aware = rm.newAwareness()
	st := rm.reg.opts.Store
	if st == nil {
		rm.loaded = true
		rm.reg.opts.Metrics.RoomLoaded(0, nil)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rm.reg.opts.OpTimeout)
	defer cancel()
	start := time.Now()
	defer func() { rm.reg.opts.Metrics.RoomLoaded(time.Since(start), rm.loadErr) }()
	stored, err := st.Load(ctx, rm.name)
	switch {
	case errors.Is(err, docstore.ErrNotFound):
		rm.loaded = true // a new document
		return
	case err != nil:
		rm.loadErr = fmt.Errorf("%w: loading %q: %w", ErrUnavailable, rm.name, err)
		rm.log.Error("load failed", "err", err)
		return
	}
	if len(stored.Snapshot) > 0 {
		if err := rm.doc.ApplyUpdate(stored.Snapshot); err != nil {
			rm.loadErr = fmt.Errorf("%w: stored snapshot of %q: %w", ErrUnavailable, rm.name, err)
			rm.log.Error("stored snapshot does not decode", "err", err)
			return
		}
	}
	rm.docSize = len(stored.Snapshot)
	for _, e := range stored.Entries {
		// Each stored update was accepted once; one that no longer applies
		// means corruption, and the room must not pretend otherwise.
		if err := rm.doc.ApplyUpdate(e.Update); err != nil {
			rm.loadErr = fmt.Errorf("%w: stored update %d of %q: %w", ErrUnavailable, e.Seq, rm.name, err)
			rm.log.Error("stored update does not decode", "seq", e.Seq, "err", err)
			return
		}
		rm.docSize += len(e.Update)
		rm.logBytes += len(e.Update)
	}
	rm.baseSeq, rm.lastSeq = stored.Through, stored.LastSeq
	rm.loaded, rm.exists = true, true
	rm.log.Debug("loaded", "bytes", rm.docSize, "updates", len(stored.Entries), "took", time.Since(start))
}

func (rm *Room) handle(ev event) {
	switch ev.kind {
	case evJoin:
		rm.reg.release(rm)
		if rm.loadErr != nil {
			ev.reply <- rm.loadErr
			rm.maybeLeaveAfterFailedLoad()
			return
		}
		rm.join(ev.conn)
		ev.reply <- nil
	case evLeave:
		rm.drop(ev.conn)
	case evFrame:
		if _, ok := rm.conns[ev.conn]; ok {
			rm.receive(ev.conn, ev.frame)
		}
	case evCall:
		rm.received = time.Now()
		ev.call(rm)
	}
}

// maybeLeaveAfterFailedLoad unregisters a room that could not load once no
// join is on its way, so that a later join tries loading again.
func (rm *Room) maybeLeaveAfterFailedLoad() {
	rm.idle.Reset(0)
}

func (rm *Room) join(c *Conn) {
	if len(rm.conns) == 0 {
		rm.reg.setIdle(rm, false)
	}
	rm.conns[c] = struct{}{}
	rm.idle.Stop()
	// SyncStep1 carries only the state vector, never document content, so
	// it need not wait for pending appends.
	if !c.peer.Send(yprotocol.AppendSyncStep1(nil, rm.doc.EncodeStateVector())) {
		rm.kick(c, CloseSlowConsumer)
		return
	}
	if rm.aware.Len() > 0 && !c.peer.Send(rm.aware.AppendFull(nil)) {
		rm.kick(c, CloseSlowConsumer)
	}
}

// drop removes a connection and announces that its clients are gone.
func (rm *Room) drop(c *Conn) {
	if _, ok := rm.conns[c]; !ok {
		return
	}
	delete(rm.conns, c)
	rm.broadcastAwareness(rm.aware.RemoveConn(awareness.ConnID(c.id), time.Now()))
	if len(rm.conns) == 0 {
		rm.reg.setIdle(rm, true)
		rm.idle.Reset(rm.reg.opts.IdleTimeout)
	}
}

// kick closes a connection for reason and drops it.
func (rm *Room) kick(c *Conn, reason CloseReason) {
	c.peer.Close(reason)
	c.left.Store(true)
	rm.drop(c)
}

// write sends frame to c, closing c as a slow consumer when its queue is
// full, and reports whether the frame went out.
func (rm *Room) write(c *Conn, frame []byte) bool {
	if c.peer.Send(frame) {
		return true
	}
	rm.log.Warn("closing slow connection", "conn", c.id)
	rm.reg.opts.Metrics.SlowConsumerClose()
	rm.kick(c, CloseSlowConsumer)
	return false
}

func (rm *Room) send(c *Conn, frame []byte, kind metrics.Kind) {
	if rm.write(c, frame) {
		rm.reg.opts.Metrics.MessagesOut(kind, 1, len(frame))
	}
}

// broadcast sends frame to every connection, counted in one metrics call.
func (rm *Room) broadcast(frame []byte, kind metrics.Kind) {
	n := 0
	for c := range rm.conns {
		if rm.write(c, frame) {
			n++
		}
	}
	rm.reg.opts.Metrics.MessagesOut(kind, n, n*len(frame))
}

// broadcastAwareness announces presence changes. Presence is state, not a
// log: instead of relaying every change at once (100 people moving their
// cursors at 20 Hz would be 200,000 frames a second), the room collects the
// clients that changed and, AwarenessBatch later, sends one message with
// each one's latest clock and state (null for the removed).
func (rm *Room) broadcastAwareness(ch awareness.Changes) {
	if ch.Empty() {
		return
	}
	if rm.reg.opts.AwarenessBatch < 0 {
		rm.broadcast(ch.Frame, metrics.KindAwareness)
		return
	}
	if rm.awareDirty == nil {
		rm.awareDirty = make(map[uint64]struct{})
	}
	for _, ids := range [][]uint64{ch.Added, ch.Updated, ch.Removed} {
		for _, id := range ids {
			rm.awareDirty[id] = struct{}{}
		}
	}
	if rm.awareTimer == nil {
		rm.awareTimer = time.NewTimer(rm.reg.opts.AwarenessBatch)
	}
}

// flushAwareness sends the collected presence changes.
func (rm *Room) flushAwareness() {
	rm.awareTimer = nil
	ids := make([]uint64, 0, len(rm.awareDirty))
	for id := range rm.awareDirty {
		ids = append(ids, id)
	}
	clear(rm.awareDirty)
	slices.Sort(ids)
	entries := make([]yprotocol.AwarenessEntry, 0, len(ids))
	for _, id := range ids {
		if c, ok := rm.aware.Get(id); ok {
			entries = append(entries, yprotocol.AwarenessEntry{ClientID: id, Clock: c.Clock, State: c.State})
		}
	}
	if len(entries) > 0 {
		rm.broadcast(yprotocol.AppendAwareness(nil, entries), metrics.KindAwareness)
	}
}

// receive handles every message of a frame from c.
func (rm *Room) receive(c *Conn, frame []byte) {
	rm.received = time.Now()
	mx := rm.reg.opts.Metrics
	err := yprotocol.Decode(frame, func(m yprotocol.Message) error {
		mx.MessageIn(metricsKind(m.Kind), len(m.Payload))
		switch m.Kind {
		case yprotocol.KindSyncStep1:
			frame, err := rm.syncStep2For(m.Payload)
			if err != nil {
				return err
			}
			rm.sendDoc(c, frame)
		case yprotocol.KindSyncStep2, yprotocol.KindUpdate:
			if c.readOnly {
				rm.reg.opts.Metrics.Rejected(metrics.ReasonReadOnly)
				rm.send(c, yprotocol.AppendPermissionDenied(nil, "read-only connection"), metrics.KindAuth)
				return nil
			}
			return rm.acceptUpdate(m.Payload, nil)
		case yprotocol.KindAwareness:
			ch, err := rm.aware.Apply(awareness.ConnID(c.id), m.Payload, time.Now())
			if err != nil {
				return err
			}
			if ch.Spoofed > 0 {
				rm.reg.spoofed.Add(int64(ch.Spoofed))
				for range ch.Spoofed {
					mx.Rejected(metrics.ReasonSpoof)
				}
				rm.log.Debug("dropped presence for client IDs another connection owns", "conn", c.id, "entries", ch.Spoofed)
			}
			rm.broadcastAwareness(ch)
		case yprotocol.KindQueryAwareness:
			rm.send(c, rm.aware.AppendFull(nil), metrics.KindAwareness)
		case yprotocol.KindPermissionDenied:
			// Clients do not send these; ignore.
		}
		return nil
	})
	if err == nil {
		return
	}
	if _, ok := rm.conns[c]; !ok {
		return // kicked while handling the frame
	}
	reason := CloseBadMessage
	if errors.Is(err, ErrTooLarge) {
		reason = CloseTooLarge
		mx.Rejected(metrics.ReasonSize)
	} else {
		mx.Rejected(metrics.ReasonBadUpdate)
	}
	rm.log.Info("closing connection after bad message", "conn", c.id, "err", err)
	rm.kick(c, reason)
}

// ErrTooLarge is wrapped by errors about an update that would make a
// document exceed Options.MaxDocumentSize.
var ErrTooLarge = errors.New("rooms: document would exceed its size limit")

// acceptUpdate applies an update from a client (or REST), queues it for
// the store and queues its relay behind that. done, if set, is called once
// the update is stored (or storing it failed for good).
func (rm *Room) acceptUpdate(update []byte, done func(error)) error {
	if rm.docSize+len(update) > rm.reg.opts.MaxDocumentSize {
		return fmt.Errorf("%w: %d + %d bytes, limit %d", ErrTooLarge, rm.docSize, len(update), rm.reg.opts.MaxDocumentSize)
	}
	changed, cleanup, err := rm.doc.ApplyWithCleanup(update)
	if err != nil {
		return err
	}
	if !changed {
		// Nothing new (stock clients send an empty SyncStep2 on connect):
		// nothing to store or relay, as the reference server does.
		if done != nil {
			rm.whenStored(func(error) { done(nil) })
		}
		return nil
	}
	// The frame's buffer belongs to the room now (Receive's contract), so
	// the update can be queued without a copy.
	rm.commit(update, done)
	// After a remote change to formatted text the document deletes the
	// format items it made redundant, as a Yjs document does after every
	// remote transaction: that is a change of the server's own, which every
	// client (the sender too) must get and the log must hold, or the
	// clients' documents and the stored history would differ from the
	// room's. y-websocket's server relays its document's clean-up the same
	// way.
	rm.commit(cleanup, nil)
	return nil
}

// commit stores and relays an update the document already has (a
// client's it just applied, or a change the server made itself), then calls
// done (if set) once it is stored.
func (rm *Room) commit(update []byte, done func(error)) {
	if update == nil {
		if done != nil {
			done(nil)
		}
		return
	}
	rm.exists = true
	rm.docSize += len(update)
	rm.accepted++
	rm.fullFrame = nil // the document changed
	if rm.versionDue == nil && rm.reg.opts.VersionInterval > 0 && rm.reg.opts.Store != nil {
		rm.versionDue = time.NewTimer(rm.reg.opts.VersionInterval)
	}
	if rm.reg.opts.Store == nil {
		rm.persisted = rm.accepted
	} else {
		rm.queue = append(rm.queue, update)
		rm.startPersist()
	}
	relay := yprotocol.AppendUpdate(nil, update)
	if rm.persisted == rm.accepted {
		rm.broadcast(relay, metrics.KindUpdate)
		rm.reg.opts.Metrics.FanOut(time.Since(rm.received))
		if done != nil {
			done(nil)
		}
		return
	}
	rm.held = append(rm.held, heldMsg{after: rm.accepted, frame: relay, update: update, done: done, at: rm.received})
}

// snapshot stores the document's state as a new version, whatever the log
// holds (compact only folds a log that has entries).
func (rm *Room) snapshot(ctx context.Context, trigger docstore.Trigger) (docstore.Version, error) {
	st := rm.reg.opts.Store
	if st == nil {
		return docstore.Version{}, ErrNoHistory
	}
	ctx, cancel := context.WithTimeout(ctx, rm.reg.opts.OpTimeout)
	defer cancel()
	start := time.Now()
	snap := rm.doc.EncodeStateAsUpdate(nil)
	v, err := st.Compact(ctx, rm.name, snap, rm.lastSeq, trigger)
	rm.reg.opts.Metrics.Compaction(string(trigger), time.Since(start), err)
	if err != nil {
		return v, fmt.Errorf("storing a version of %q: %w", rm.name, err)
	}
	rm.baseSeq, rm.logBytes = rm.lastSeq, 0
	rm.docSize = len(snap)
	return v, nil
}

// intervalVersion stores the document as a version (trigger interval) once
// what the room accepted is stored, if the log has changes the last
// version lacks (a threshold compaction may have taken one meanwhile).
func (rm *Room) intervalVersion() {
	rm.whenStored(func(error) {
		if rm.lastSeq <= rm.baseSeq {
			return
		}
		if _, err := rm.snapshot(context.Background(), docstore.TriggerInterval); err != nil {
			rm.log.Warn("interval version failed", "err", err)
		}
	})
}

// whenStored calls fn once everything the room accepted so far is stored.
func (rm *Room) whenStored(fn func(error)) {
	if rm.persisted == rm.accepted {
		fn(nil)
		return
	}
	rm.held = append(rm.held, heldMsg{after: rm.accepted, done: fn})
}

// syncStep2For returns the SyncStep2 frame that answers a client's state
// vector. A client that holds nothing (an empty state vector: every new tab,
// every joiner of a join storm) gets the whole document, encoded once per
// version of it and shared: 150 joiners of a 4 MB document cost one
// encoding, not 150. Frames are never written to once sent, so one buffer
// can go to every joiner, as broadcasts already do.
func (rm *Room) syncStep2For(sv []byte) ([]byte, error) {
	if len(sv) == 1 && sv[0] == 0 {
		if rm.fullFrame == nil {
			rm.fullFrame = yprotocol.AppendSyncStep2(nil, rm.doc.EncodeStateAsUpdate(nil))
		}
		return rm.fullFrame, nil
	}
	diff, err := rm.doc.EncodeDiff(sv)
	if err != nil {
		return nil, err
	}
	return yprotocol.AppendSyncStep2(nil, diff), nil
}

// sendDoc sends a frame carrying document state to c once everything the
// room accepted before it is stored.
func (rm *Room) sendDoc(c *Conn, frame []byte) {
	if rm.persisted == rm.accepted {
		rm.send(c, frame, metrics.KindSyncStep2)
		return
	}
	rm.held = append(rm.held, heldMsg{after: rm.accepted, to: c, frame: frame})
}

// startPersist hands the queued updates to the store unless an append is
// in flight (its completion starts the next one: group commit).
func (rm *Room) startPersist() {
	if rm.inflight || rm.retry != nil || len(rm.queue) == 0 {
		return
	}
	batch := rm.queue
	rm.queue = nil
	rm.inflight = true
	rm.appendAt = time.Now()
	st, name, timeout := rm.reg.opts.Store, rm.name, rm.reg.opts.OpTimeout
	if as, ok := st.(docstore.AsyncAppender); ok {
		// The store answers on its own goroutine; persistRes has room,
		// since one append at most is in flight.
		as.AppendAsync(name, batch, func(seq int64, err error) {
			rm.persistRes <- appendOutcome(batch, seq, err)
		})
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		seq, err := st.Append(ctx, name, batch...)
		rm.persistRes <- appendOutcome(batch, seq, err)
	}()
}

// appendOutcome is the result of appending batch.
func appendOutcome(batch [][]byte, seq int64, err error) persistResult {
	if err != nil {
		// persistDone puts the batch back in front for the retry.
		return persistResult{n: -len(batch), err: &appendError{batch: batch, err: err}}
	}
	bytes := 0
	for _, u := range batch {
		bytes += len(u)
	}
	return persistResult{n: len(batch), bytes: bytes, seq: seq}
}

type appendError struct {
	batch [][]byte
	err   error
}

func (e *appendError) Error() string { return e.err.Error() }
func (e *appendError) Unwrap() error { return e.err }

func (rm *Room) persistDone(res persistResult) {
	rm.inflight = false
	rm.reg.opts.Metrics.StoreAppend(time.Since(rm.appendAt), abs(res.n), res.err)
	if res.err != nil {
		var ae *appendError
		errors.As(res.err, &ae)
		rm.queue = append(ae.batch, rm.queue...)
		if !rm.failing {
			rm.failing = true
			rm.reg.storeErrors.Add(1)
		}
		rm.log.Error("storing updates failed; holding them and retrying", "updates", len(ae.batch), "err", ae.err)
		rm.retry = time.NewTimer(time.Second)
		return
	}
	if rm.failing {
		rm.failing = false
		rm.reg.storeErrors.Add(-1)
		rm.log.Info("storing updates works again")
	}
	rm.persisted += uint64(res.n)
	rm.lastSeq = res.seq
	rm.logBytes += res.bytes
	rm.flushHeld()
	rm.startPersist()
	o := rm.reg.opts
	if !rm.inflight && (rm.lastSeq-rm.baseSeq >= int64(o.CompactEntries) || rm.logBytes >= o.CompactBytes) {
		if _, err := rm.snapshot(context.Background(), docstore.TriggerThreshold); err != nil {
			rm.log.Warn("threshold compaction failed", "err", err)
		}
	}
}

// flushHeld sends the held messages whose updates are stored, in order.
func (rm *Room) flushHeld() {
	i := 0
	for ; i < len(rm.held) && rm.held[i].after <= rm.persisted; i++ {
		h := rm.held[i]
		if h.update != nil {
			j := i + 1
			for j < len(rm.held) && rm.held[j].after <= rm.persisted && rm.held[j].update != nil {
				j++
			}
			if j-i > mergeHeldRun {
				us := make([][]byte, 0, j-i)
				for _, x := range rm.held[i:j] {
					us = append(us, x.update)
				}
				// The updates were all applied, so they decode.
				if merged, err := ydoc.MergeUpdates(us...); err == nil {
					rm.broadcast(yprotocol.AppendUpdate(nil, merged), metrics.KindUpdate)
					for _, x := range rm.held[i:j] {
						if x.done != nil {
							x.done(nil)
						}
					}
					i = j - 1
					continue
				}
			}
		}
		switch {
		case h.frame == nil:
			// Only a callback.
		case h.to == nil:
			rm.broadcast(h.frame, metrics.KindUpdate)
			if h.update != nil {
				rm.reg.opts.Metrics.FanOut(time.Since(h.at))
			}
		default:
			if _, ok := rm.conns[h.to]; ok {
				rm.send(h.to, h.frame, metrics.KindSyncStep2)
			}
		}
		if h.done != nil {
			h.done(nil)
		}
	}
	clear(rm.held[:i])
	rm.held = rm.held[i:]
}

// drainPersist waits until every accepted update is stored, or ctx ends.
func (rm *Room) drainPersist(ctx context.Context) error {
	for rm.inflight || len(rm.queue) > 0 {
		if !rm.inflight {
			if rm.retry != nil {
				rm.retry.Stop()
				rm.retry = nil
			}
			rm.startPersist()
		}
		select {
		case res := <-rm.persistRes:
			rm.persistDone(res)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// compact stores the document's state as the new snapshot if the log has
// entries the snapshot lacks.
func (rm *Room) compact(ctx context.Context, trigger docstore.Trigger) error {
	st := rm.reg.opts.Store
	if st == nil || !rm.loaded || rm.lastSeq <= rm.baseSeq {
		return nil
	}
	start := time.Now()
	snap := rm.doc.EncodeStateAsUpdate(nil)
	_, err := st.Compact(ctx, rm.name, snap, rm.lastSeq, trigger)
	rm.reg.opts.Metrics.Compaction(string(trigger), time.Since(start), err)
	if err != nil {
		return fmt.Errorf("compacting %q: %w", rm.name, err)
	}
	rm.baseSeq, rm.logBytes = rm.lastSeq, 0
	rm.docSize = len(snap)
	return nil
}

// maybeHibernate runs when the idle timer fires: a room without
// connections compacts its state and leaves memory, unless a join arrived.
func (rm *Room) maybeHibernate() bool {
	if len(rm.conns) > 0 {
		return false
	}
	if rm.loadErr != nil {
		return rm.reg.tryRemove(rm, false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rm.reg.opts.OpTimeout)
	defer cancel()
	if err := rm.drainPersist(ctx); err != nil {
		rm.log.Warn("not hibernating: updates not stored yet", "err", err)
		rm.idle.Reset(rm.reg.opts.IdleTimeout)
		return false
	}
	if err := rm.compact(ctx, docstore.TriggerHibernate); err != nil {
		// The log still holds everything; hibernating is safe, and the
		// next load reads the log.
		rm.log.Warn("compaction failed", "err", err)
	}
	if len(rm.conns) > 0 || !rm.reg.tryRemove(rm, false) {
		// A join is on its way: stay.
		return false
	}
	// Events posted after acquire failed to find us cannot exist (acquire
	// and tryRemove share the lock), but the inbox may still hold frames of
	// connections that already left; they need no answer.
	rm.log.Debug("hibernated")
	rm.reg.opts.Metrics.RoomHibernated()
	return true
}

// shutdown closes every connection, stores what is queued and compacts.
func (rm *Room) shutdown() {
	reason := CloseGoingAway
	if rm.relinquished.Load() {
		reason = CloseMoved
	}
	for c := range rm.conns {
		c.peer.Close(reason)
		c.left.Store(true)
	}
	clear(rm.conns)
	ctx, cancel := context.WithTimeout(context.Background(), rm.reg.opts.OpTimeout)
	defer cancel()
	if rm.relinquished.Load() {
		// Another node writes the room's log now (see Relinquish).
		if n := len(rm.queue); n > 0 || rm.inflight {
			rm.log.Warn("room moved: dropping updates not stored (their clients still have them)", "updates", n)
		}
	} else if err := rm.drainPersist(ctx); err != nil {
		rm.log.Error("shutdown: updates not stored", "err", err)
	} else if err := rm.compact(ctx, docstore.TriggerHibernate); err != nil {
		rm.log.Warn("shutdown: compaction failed", "err", err)
	}
	rm.reg.tryRemove(rm, true)
	if rm.loadErr == nil {
		rm.reg.opts.Metrics.RoomClosed()
	}
	// Joins that raced the shutdown get an error instead of hanging.
	for {
		select {
		case ev := <-rm.inbox:
			if ev.kind == evJoin {
				rm.reg.release(rm)
				ev.reply <- ErrShuttingDown
			}
		default:
			if rm.failing {
				rm.reg.storeErrors.Add(-1)
			}
			return
		}
	}
}

// metricsKind is the metrics label of a message kind.
func metricsKind(k yprotocol.Kind) metrics.Kind {
	switch k {
	case yprotocol.KindSyncStep1:
		return metrics.KindSyncStep1
	case yprotocol.KindSyncStep2:
		return metrics.KindSyncStep2
	case yprotocol.KindUpdate:
		return metrics.KindUpdate
	case yprotocol.KindAwareness:
		return metrics.KindAwareness
	case yprotocol.KindQueryAwareness:
		return metrics.KindQueryAwareness
	case yprotocol.KindPermissionDenied:
		return metrics.KindAuth
	}
	return metrics.KindOther
}

func abs(n int) int { return max(n, -n) }
