package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/rooms"
)

// Conn is a connection's handle on its room: *rooms.Conn when this node
// owns the room, a forwarded connection otherwise.
type Conn interface {
	ID() uint64
	Receive(ctx context.Context, frame []byte) error
	Leave()
}

// reasonNotOwner, in a closed message answering a join, says that the
// node asked does not own the room (any more): ask the leases again.
const reasonNotOwner = 1000

// Join connects peer to the room called room wherever it lives: in this
// node's registry if this node owns the room or can take its lease, or
// through the bus at the node that owns it. It has Registry.Join's
// contract; an error wrapping rooms.ErrTryAgain means the room is moving
// between nodes and the client should come back in a moment.
func (n *Node) Join(ctx context.Context, room string, peer rooms.Peer, o rooms.JoinOptions) (Conn, error) {
	var last error
	for attempt := range 4 {
		if attempt > 0 {
			// The owner is changing: give it a moment.
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		owner, err := n.ownerOf(ctx, room)
		switch {
		case errors.Is(err, errLeaseRace):
			last = err
			continue
		case err != nil:
			return nil, err
		case owner == n.instance:
			c, err := n.reg.Join(ctx, room, peer, o)
			n.joined(room)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		f, err := n.forward(ctx, room, owner, peer, o)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, errNotOwner) {
			return nil, err
		}
		last = err
	}
	return nil, fmt.Errorf("%w: room %q: %w", rooms.ErrTryAgain, room, last)
}

var errNotOwner = errors.New("cluster: the node asked does not own the room")

// ownerOf returns the instance that owns room, taking the lease if it is
// free. When it returns this node's instance, one join is counted in the
// lease; the caller ends it with joined.
func (n *Node) ownerOf(ctx context.Context, room string) (string, error) {
	for {
		n.mu.Lock()
		if n.closing {
			n.mu.Unlock()
			return "", rooms.ErrShuttingDown
		}
		l := n.owned[room]
		if l == nil {
			break
		}
		if l.releasing == nil {
			l.joining++
			n.mu.Unlock()
			return n.instance, nil
		}
		wait := l.releasing
		n.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	n.mu.Unlock()
	start := time.Now()
	owner, epoch, err := n.leases.acquire(ctx, room)
	if err != nil {
		if !errors.Is(err, errLeaseRace) {
			err = fmt.Errorf("%w: %w", rooms.ErrUnavailable, err)
		}
		return "", err
	}
	if owner != n.instance {
		return owner, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.owned[room]
	if l == nil {
		l = &lease{acquired: start}
		n.owned[room] = l
		n.log.Info("took the lease of a room", "room", room, "epoch", epoch)
		n.mx.Cluster(metrics.ClusterLeaseAcquired)
	}
	l.epoch = max(l.epoch, epoch)
	l.validUntil = start.Add(n.opts.LeaseTTL - n.opts.Heartbeat)
	l.joining++
	return n.instance, nil
}

// joined ends a join counted by ownerOf.
func (n *Node) joined(room string) {
	n.mu.Lock()
	if l := n.owned[room]; l != nil {
		l.joining--
	}
	n.mu.Unlock()
}

// holds reports whether this node may write room's log now.
func (n *Node) holds(room string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.owned[room]
	return l != nil && time.Now().Before(l.validUntil)
}

// forward is a client of this node in a room another node owns: its
// frames go to the owner over the bus, and the owner's frames for it come
// back and go to its peer.
type forward struct {
	n     *Node
	id    uint64
	room  string
	owner string
	peer  rooms.Peer

	mu     sync.Mutex // serialises publishing the client's frames
	seqOut uint64     // guarded by mu
	seqIn  uint64     // the bus goroutine's
	joined chan error // the owner's answer to the join; buffered
	gone   atomic.Bool
}

func (n *Node) forward(ctx context.Context, room, owner string, peer rooms.Peer, o rooms.JoinOptions) (*forward, error) {
	if !n.waitPeer(ctx, owner, n.opts.DeadAfter) {
		// It holds the lease but says nothing: dead, its lease expires.
		return nil, fmt.Errorf("%w: room %q: its owner %s is silent", rooms.ErrTryAgain, room, owner)
	}
	f := &forward{n: n, id: n.connIDs.Add(1), room: room, owner: owner, peer: peer, joined: make(chan error, 1)}
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return nil, rooms.ErrShuttingDown
	}
	n.forwards[f.id] = f
	n.mu.Unlock()
	if err := n.publish(owner, &message{Type: msgJoin, Conn: f.id, Room: room, ReadOnly: o.ReadOnly, User: o.User}); err != nil {
		f.forget()
		return nil, fmt.Errorf("%w: forwarding a join: %w", rooms.ErrTryAgain, err)
	}
	t := time.NewTimer(n.opts.JoinTimeout)
	defer t.Stop()
	select {
	case err := <-f.joined:
		if err != nil {
			f.forget()
			return nil, err
		}
		n.mx.Cluster(metrics.ClusterForwardedJoin)
		return f, nil
	case <-t.C:
		err := fmt.Errorf("%w: room %q: no answer from its owner %s within %v", rooms.ErrTryAgain, room, owner, n.opts.JoinTimeout)
		f.leave()
		return nil, err
	case <-ctx.Done():
		f.leave()
		return nil, ctx.Err()
	}
}

// ID identifies the connection in logs.
func (f *forward) ID() uint64 { return f.id }

// Receive sends a frame of the client to the owner.
func (f *forward) Receive(_ context.Context, frame []byte) error {
	if f.gone.Load() {
		return rooms.ErrClosed
	}
	f.mu.Lock()
	f.seqOut++
	err := f.n.publish(f.owner, &message{Type: msgFrame, Conn: f.id, Seq: f.seqOut, Payload: frame})
	f.mu.Unlock()
	if err != nil {
		f.fail(rooms.CloseMoved, err)
		return rooms.ErrClosed
	}
	f.n.mx.Forwarded()
	return nil
}

// Leave tells the owner the client is gone.
func (f *forward) Leave() { f.leave() }

func (f *forward) leave() {
	if f.forget() {
		_ = f.n.publish(f.owner, &message{Type: msgLeave, Conn: f.id})
	}
}

// forget removes the connection from the node; it reports whether it
// was there.
func (f *forward) forget() bool {
	if f.gone.Swap(true) {
		return false
	}
	f.n.mu.Lock()
	delete(f.n.forwards, f.id)
	f.n.mu.Unlock()
	return true
}

// fail ends the connection from this side: the client is closed with
// reason (and reconnects), the owner is told.
func (f *forward) fail(reason rooms.CloseReason, err error) {
	select {
	case f.joined <- err:
	default:
	}
	if f.forget() {
		_ = f.n.publish(f.owner, &message{Type: msgLeave, Conn: f.id})
		f.peer.Close(reason)
		f.n.mx.Cluster(metrics.ClusterResync)
	}
}

// onOwnerMessage handles a message from the owner, on the bus goroutine.
func (f *forward) onOwnerMessage(m message) {
	switch m.Type {
	case msgJoined:
		select {
		case f.joined <- nil:
		default:
		}
	case msgClosed:
		if m.Reason == reasonNotOwner {
			select {
			case f.joined <- errNotOwner:
			default:
			}
			f.forget()
			return
		}
		reason := rooms.CloseReason(m.Reason)
		if reason == rooms.CloseGoingAway {
			// The owner is going away, this node is not: the client
			// comes straight back and some node takes the room over.
			reason = rooms.CloseMoved
		}
		select {
		case f.joined <- fmt.Errorf("%w: the owner closed the connection (%v)", rooms.ErrTryAgain, reason):
		default:
		}
		if f.forget() {
			f.peer.Close(reason)
		}
	case msgOut:
		if m.Seq != f.seqIn+1 {
			f.n.log.Warn("frames from the owner lost: the client resyncs", "room", f.room, "conn", f.id, "want", f.seqIn+1, "got", m.Seq)
			f.n.mx.Cluster(metrics.ClusterGap)
			f.fail(rooms.CloseMoved, errBusLost)
			return
		}
		f.seqIn = m.Seq
		// The bus client reuses nothing it handed us, but peers may keep
		// the frame: it is ours.
		if !f.peer.Send(m.Payload) {
			f.peer.Close(rooms.CloseSlowConsumer)
			f.leave()
		}
	}
}

// remote is, at the owner, a client of another node: a rooms.Peer whose
// frames go back over the bus, fed by the frames the bus brings.
type remote struct {
	n      *Node
	key    remoteKey
	room   string
	o      rooms.JoinOptions
	frames chan []byte   // from the bus goroutine to run
	done   chan struct{} // closed by end
	told   bool          // end was asked to tell the forwarder; guarded by once
	once   sync.Once

	mu     sync.Mutex // serialises Send's publishing
	seqOut uint64     // guarded by mu
	seqIn  uint64     // the bus goroutine's
	closed atomic.Bool
}

// onJoin answers a forwarded join (bus goroutine): the join runs on the
// remote's own goroutine, since it waits for the room.
func (n *Node) onJoin(m message) {
	key := remoteKey{m.From, m.Conn}
	n.mu.Lock()
	l := n.owned[m.Room]
	if l == nil || l.releasing != nil || n.closing || n.remotes[key] != nil {
		n.mu.Unlock()
		_ = n.publish(m.From, &message{Type: msgClosed, Conn: m.Conn, Reason: reasonNotOwner})
		return
	}
	l.joining++
	r := &remote{n: n, key: key, room: m.Room, o: rooms.JoinOptions{ReadOnly: m.ReadOnly, User: m.User},
		frames: make(chan []byte, n.opts.RemoteQueue), done: make(chan struct{})}
	n.remotes[key] = r
	n.wg.Add(1)
	n.mu.Unlock()
	go r.run()
}

// onFrame queues a forwarded client's frame for its room (bus goroutine).
func (n *Node) onFrame(m message) {
	n.mu.Lock()
	r := n.remotes[remoteKey{m.From, m.Conn}]
	n.mu.Unlock()
	if r == nil {
		// Unknown here (this node dropped it): the forwarder must know.
		_ = n.publish(m.From, &message{Type: msgClosed, Conn: m.Conn, Reason: uint64(rooms.CloseMoved)})
		return
	}
	if m.Seq != r.seqIn+1 {
		n.log.Warn("frames from a forwarding node lost: the client resyncs", "room", r.room, "from", m.From, "conn", m.Conn, "want", r.seqIn+1, "got", m.Seq)
		n.mx.Cluster(metrics.ClusterGap)
		r.end(true)
		return
	}
	r.seqIn = m.Seq
	select {
	case r.frames <- append([]byte(nil), m.Payload...):
	default:
		n.log.Warn("forwarded connection's queue full: closing it", "room", r.room, "from", m.From, "conn", m.Conn)
		r.end(true)
	}
}

// run joins the room and feeds it the connection's frames until end.
func (r *remote) run() {
	defer r.n.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := r.n.reg.Join(ctx, r.room, r, r.o)
	r.n.joined(r.room)
	if err != nil {
		reason := rooms.CloseUnavailable
		switch {
		case errors.Is(err, rooms.ErrShuttingDown):
			reason = rooms.CloseMoved
		case errors.Is(err, context.Canceled):
			// ended before it joined
		}
		r.n.log.Info("forwarded join refused", "room", r.room, "from", r.key.from, "err", err)
		r.Close(reason)
		r.end(false)
		return
	}
	_ = r.n.publish(r.key.from, &message{Type: msgJoined, Conn: r.key.conn})
	defer r.end(false)
	defer conn.Leave()
	for {
		select {
		case <-r.done:
			return
		case f := <-r.frames:
			if f == nil { // the client left after the frames before
				r.end(false)
				return
			}
			if err := conn.Receive(ctx, f); err != nil {
				return
			}
		}
	}
}

// leaveAfterFrames ends the connection once the room has its frames
// queued before the leave, as on one node, where a connection's last
// frames reach the room before its leave: a client that writes and closes
// at once loses nothing. With the queue full, a goroutine waits for room
// in it (the bus goroutine must not).
func (r *remote) leaveAfterFrames() {
	select {
	case r.frames <- nil:
		return
	default:
	}
	// It ends with the connection at the latest (run ends it on exit).
	go func() {
		select {
		case r.frames <- nil:
		case <-r.done:
		}
	}()
}

// end removes the remote connection; its goroutine then leaves the room
// (which removes its presence). tell says the forwarder must be told.
func (r *remote) end(tell bool) {
	r.once.Do(func() {
		r.n.mu.Lock()
		if r.n.remotes[r.key] == r {
			delete(r.n.remotes, r.key)
		}
		r.n.mu.Unlock()
		close(r.done)
		if tell && !r.closed.Swap(true) {
			_ = r.n.publish(r.key.from, &message{Type: msgClosed, Conn: r.key.conn, Reason: uint64(rooms.CloseMoved)})
		}
	})
}

// Send implements rooms.Peer: the frame goes to the forwarding node. It
// does not block (a publish only copies into the bus client's buffer).
func (r *remote) Send(frame []byte) bool {
	if r.closed.Load() {
		return false
	}
	r.mu.Lock()
	r.seqOut++
	err := r.n.publish(r.key.from, &message{Type: msgOut, Conn: r.key.conn, Seq: r.seqOut, Payload: frame})
	r.mu.Unlock()
	return err == nil
}

// Close implements rooms.Peer: the forwarder closes its client with
// reason.
func (r *remote) Close(reason rooms.CloseReason) {
	if r.closed.Swap(true) {
		return
	}
	_ = r.n.publish(r.key.from, &message{Type: msgClosed, Conn: r.key.conn, Reason: uint64(reason)})
	// end takes only the node's mutex, which is never held while waiting
	// on a room, so the room's goroutine may call it.
	r.end(false)
}

// OnOwner runs fn (a REST write to room's document through the
// registry) if this node owns the room or can take its lease, holding the
// lease meanwhile. If another node owns the room, it returns an error
// wrapping rooms.ErrTryAgain: REST writes are not forwarded (yet).
func (n *Node) OnOwner(ctx context.Context, room string, fn func() error) error {
	owner, err := n.ownerOf(ctx, room)
	if errors.Is(err, errLeaseRace) {
		owner, err = n.ownerOf(ctx, room)
	}
	switch {
	case errors.Is(err, errLeaseRace):
		return fmt.Errorf("%w: room %q is changing owner", rooms.ErrTryAgain, room)
	case err != nil:
		return err
	case owner != n.instance:
		return fmt.Errorf("%w: room %q is live on node %s; send writes there or retry once it is idle", rooms.ErrTryAgain, room, owner)
	}
	defer n.joined(room)
	return fn()
}
