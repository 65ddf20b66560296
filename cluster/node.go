package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/rooms"
)

// Defaults for the zero values of Options.
const (
	DefaultHeartbeat   = time.Second
	DefaultDeadAfter   = 3 * time.Second
	DefaultLeaseTTL    = 4 * time.Second
	DefaultJoinTimeout = 3 * time.Second
	// DefaultRemoteQueue bounds the frames of one forwarded connection
	// waiting for the owner's room; a fuller queue closes the connection
	// (its client reconnects and resyncs).
	DefaultRemoteQueue = 1024
)

// Options configure a Node. The zero value of each field is its default,
// except the required ones.
type Options struct {
	// NodeID names the node in logs and metrics (letters, digits, - and
	// _). Required. The node's instance on the bus is NodeID plus a random
	// suffix, so that a restarted node is never taken for its previous
	// life.
	NodeID string
	// Cluster names the cluster (the same characters as NodeID); nodes
	// of one cluster must share it, and clusters sharing a bus must not.
	// Empty is "collabd".
	Cluster string
	// BusURL is the NATS server's URL (nats://host:port; several,
	// comma-separated, for a NATS cluster). Required.
	BusURL string
	// Pool reaches the PostgreSQL database of the document store, which
	// holds the leases (table room_leases). Required.
	Pool *pgxpool.Pool
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// Metrics counts bus traffic, forwarded frames and owner changes; nil
	// counts nothing.
	Metrics *metrics.Metrics
	// Heartbeat is how often the node announces itself on the bus and
	// renews its leases; a node not heard for DeadAfter is dead.
	Heartbeat, DeadAfter time.Duration
	// LeaseTTL is how long a lease lasts without renewal. The node stops
	// writing a room's log LeaseTTL-Heartbeat after its last successful
	// renewal (see the package comment on fencing).
	LeaseTTL time.Duration
	// JoinTimeout bounds a forwarded join's wait for the owner's answer.
	JoinTimeout time.Duration
	// RemoteQueue bounds the frames of one forwarded connection queued at
	// the owner.
	RemoteQueue int
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (o Options) withDefaults() (Options, error) {
	if !validName.MatchString(o.NodeID) {
		return o, fmt.Errorf("cluster: node ID %q: want 1 to 64 letters, digits, - or _", o.NodeID)
	}
	if o.Cluster == "" {
		o.Cluster = "collabd"
	}
	if !validName.MatchString(o.Cluster) {
		return o, fmt.Errorf("cluster: cluster name %q: want 1 to 64 letters, digits, - or _", o.Cluster)
	}
	if o.BusURL == "" {
		return o, errors.New("cluster: no bus URL")
	}
	if o.Pool == nil {
		return o, errors.New("cluster: the leases need the PostgreSQL store")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = DefaultDeadAfter
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.LeaseTTL < 2*o.Heartbeat {
		return o, fmt.Errorf("cluster: lease TTL %v must be at least two heartbeats (%v)", o.LeaseTTL, o.Heartbeat)
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = DefaultJoinTimeout
	}
	if o.RemoteQueue <= 0 {
		o.RemoteQueue = DefaultRemoteQueue
	}
	return o, nil
}

// lease is a room this node owns. Guarded by Node.mu.
type lease struct {
	epoch      int64
	validUntil time.Time // the node writes the room's log until then
	acquired   time.Time
	joining    int           // joins in flight to the local room
	releasing  chan struct{} // non-nil while the lease is being given up; closed after
}

// peerNode is what the node knows of another node. Guarded by Node.mu.
type peerNode struct {
	seen    time.Time
	session uint64
}

type remoteKey struct {
	from string
	conn uint64
}

// Node is one collabd process of a cluster. All its methods are safe for
// concurrent use.
type Node struct {
	opts     Options
	log      *slog.Logger
	mx       *metrics.Metrics
	instance string
	leases   leases
	reg      *rooms.Registry // set by Start

	nc       *nats.Conn
	subjects struct{ own, beat string }
	session  atomic.Uint64 // bumped at every reconnection to the bus
	connIDs  atomic.Uint64

	mu       sync.Mutex
	owned    map[string]*lease     // rooms this node owns
	forwards map[uint64]*forward   // this node's clients of rooms owned elsewhere
	remotes  map[remoteKey]*remote // other nodes' clients of rooms owned here
	peers    map[string]*peerNode  // other nodes heard on the bus
	closing  bool
	peersUp  chan struct{} // closed and replaced whenever a new peer is heard

	stop chan struct{}
	wg   sync.WaitGroup // the heartbeat loop and the remote connections' goroutines
}

// New connects to the bus and returns a node that does not serve yet:
// wrap the store with Store, make the registry with it, then Start.
func New(opts Options) (*Node, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	n := &Node{
		opts:     opts,
		mx:       opts.Metrics,
		instance: opts.NodeID + "-" + hex.EncodeToString(suffix[:]),
		owned:    make(map[string]*lease),
		forwards: make(map[uint64]*forward),
		remotes:  make(map[remoteKey]*remote),
		peers:    make(map[string]*peerNode),
		peersUp:  make(chan struct{}),
		stop:     make(chan struct{}),
	}
	n.log = opts.Logger.With("node", n.instance)
	n.mx.EnableCluster()
	n.leases = leases{pool: opts.Pool, node: n.instance, ttl: opts.LeaseTTL}
	n.subjects.own = opts.Cluster + ".node." + n.instance
	n.subjects.beat = opts.Cluster + ".beat"
	n.session.Store(1)
	nc, err := nats.Connect(opts.BusURL,
		nats.Name("collabd "+n.instance),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(200*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// No buffering while disconnected: a publish then fails at once,
		// and the connection it belongs to is closed and resyncs, rather
		// than arriving late after everyone gave up on it.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { n.busDown(err) }),
		nats.ReconnectHandler(func(*nats.Conn) { n.busUp() }),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to the bus %s: %w", opts.BusURL, err)
	}
	n.nc = nc
	return n, nil
}

// Instance is the node's name on the bus and in the leases.
func (n *Node) Instance() string { return n.instance }

// Start makes the node serve: it subscribes to its bus subjects and
// starts the heartbeat. reg must use the store returned by Store.
func (n *Node) Start(reg *rooms.Registry) error {
	n.reg = reg
	if _, err := n.nc.Subscribe(n.subjects.own, n.onMessage); err != nil {
		return fmt.Errorf("cluster: subscribing: %w", err)
	}
	if _, err := n.nc.Subscribe(n.subjects.beat, n.onMessage); err != nil {
		return fmt.Errorf("cluster: subscribing: %w", err)
	}
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("cluster: subscribing: %w", err)
	}
	n.beat()
	n.wg.Add(1)
	go n.heartbeatLoop()
	n.log.Info("cluster node started", "cluster", n.opts.Cluster, "bus", n.nc.ConnectedUrlRedacted())
	return nil
}

// publish sends m to the node whose instance is to ("" for everyone's
// heartbeat subject).
func (n *Node) publish(to string, m *message) error {
	subj := n.subjects.beat
	if to != "" {
		subj = n.opts.Cluster + ".node." + to
	}
	m.From = n.instance
	b := m.encode(make([]byte, 0, 32+len(m.Payload)+len(m.Room)+len(m.User)))
	err := n.nc.Publish(subj, b)
	n.mx.BusMessage(true, len(b), err)
	return err
}

func (n *Node) beat() {
	_ = n.publish("", &message{Type: msgBeat, Session: n.session.Load(), SentNano: uint64(time.Now().UnixNano())})
}

// heartbeatLoop announces the node, renews its leases, gives up the
// leases of rooms that hibernated, and buries nodes not heard from.
func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.beat()
		n.renew()
		n.releaseIdle()
		n.buryDead()
	}
}

// renew extends the node's leases; a room whose lease another node has
// taken leaves at once.
func (n *Node) renew() {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.Heartbeat)
	defer cancel()
	held, err := n.leases.renew(ctx)
	if err != nil {
		// Postgres is unreachable: nobody can take a lease meanwhile.
		// The rooms' appends stop at each lease's validUntil (Store) and
		// are retried like any failed append.
		n.log.Warn("renewing leases failed", "err", err)
		return
	}
	var lost []string
	n.mu.Lock()
	for room, l := range n.owned {
		if epoch, ok := held[room]; ok && epoch == l.epoch {
			l.validUntil = start.Add(n.opts.LeaseTTL - n.opts.Heartbeat)
			continue
		}
		if l.acquired.After(start) || l.releasing != nil {
			continue // taken after the statement began, or on its way out
		}
		delete(n.owned, room)
		lost = append(lost, room)
	}
	n.mu.Unlock()
	for _, room := range lost {
		n.log.Warn("lease lost to another node: the room moves", "room", room)
		n.mx.Cluster(metrics.ClusterLeaseLost)
		n.reg.Relinquish(room)
	}
}

// releaseIdle gives up the leases of rooms that left memory (hibernated).
func (n *Node) releaseIdle() {
	type rel struct {
		room string
		l    *lease
	}
	var rels []rel
	n.mu.Lock()
	for room, l := range n.owned {
		if l.joining == 0 && l.releasing == nil && !n.reg.Live(room) {
			l.releasing = make(chan struct{})
			rels = append(rels, rel{room, l})
		}
	}
	n.mu.Unlock()
	for _, r := range rels {
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.Heartbeat)
		err := n.leases.release(ctx, r.room, r.l.epoch)
		cancel()
		n.mu.Lock()
		if err != nil {
			n.log.Warn("releasing a lease failed; it expires", "room", r.room, "err", err)
		}
		// Released or not, the room is not here: forget it (an unreleased
		// lease expires, or our next join for the room takes it again).
		delete(n.owned, r.room)
		close(r.l.releasing)
		n.mu.Unlock()
		n.mx.Cluster(metrics.ClusterLeaseReleased)
	}
}

// buryDead treats nodes not heard for DeadAfter as dead.
func (n *Node) buryDead() {
	now := time.Now()
	var dead []string
	n.mu.Lock()
	for inst, p := range n.peers {
		if now.Sub(p.seen) > n.opts.DeadAfter {
			delete(n.peers, inst)
			dead = append(dead, inst)
		}
	}
	n.mu.Unlock()
	for _, inst := range dead {
		n.log.Warn("node silent: dropping its connections", "peer", inst, "after", n.opts.DeadAfter)
		n.mx.Cluster(metrics.ClusterNodeDead)
		n.dropPeer(inst)
	}
}

// dropPeer ends everything this node has going with the node inst: its
// clients in rooms owned here leave (their presence is removed at once),
// and this node's clients of rooms it owns reconnect.
func (n *Node) dropPeer(inst string) {
	n.dropWhere(func(from string) bool { return from == inst })
}

// dropWhere ends the remote connections from, and the forwarded
// connections to, the nodes for which match is true.
func (n *Node) dropWhere(match func(inst string) bool) {
	var fs []*forward
	var rs []*remote
	n.mu.Lock()
	for _, f := range n.forwards {
		if match(f.owner) {
			fs = append(fs, f)
		}
	}
	for k, r := range n.remotes {
		if match(k.from) {
			rs = append(rs, r)
		}
	}
	n.mu.Unlock()
	for _, f := range fs {
		f.fail(rooms.CloseMoved, errBusLost)
	}
	for _, r := range rs {
		r.end(false)
	}
}

var errBusLost = fmt.Errorf("%w: lost contact with the room's owner", rooms.ErrTryAgain)

// busDown: messages may be lost from now on, so no forwarded connection
// can be trusted: all of them end and their clients resync.
func (n *Node) busDown(err error) {
	n.log.Warn("bus disconnected: closing forwarded connections", "err", err)
	n.mx.Cluster(metrics.ClusterBusDown)
	n.mu.Lock()
	clear(n.peers)
	n.mu.Unlock()
	n.dropWhere(func(string) bool { return true })
}

// busUp: a new session, so that the other nodes know that whatever they
// had going with this node before is gone.
func (n *Node) busUp() {
	n.session.Add(1)
	n.log.Info("bus reconnected", "url", n.nc.ConnectedUrlRedacted())
	n.beat()
}

// onMessage handles every bus message, on the bus client's goroutine (one
// per subscription); it never blocks.
func (n *Node) onMessage(msg *nats.Msg) {
	m, err := decode(msg.Data)
	if err != nil {
		n.mx.BusMessage(false, len(msg.Data), err)
		n.log.Warn("dropping a bad bus message", "subject", msg.Subject, "err", err)
		return
	}
	n.mx.BusMessage(false, len(msg.Data), nil)
	if m.From == n.instance {
		return // our own heartbeat
	}
	switch m.Type {
	case msgBeat:
		n.onBeat(m)
	case msgJoin:
		n.onJoin(m)
	case msgFrame:
		n.onFrame(m)
	case msgLeave:
		n.mu.Lock()
		r := n.remotes[remoteKey{m.From, m.Conn}]
		n.mu.Unlock()
		if r != nil {
			r.leaveAfterFrames()
		}
	case msgOut, msgClosed, msgJoined:
		n.mu.Lock()
		f := n.forwards[m.Conn]
		n.mu.Unlock()
		if f == nil || f.owner != m.From {
			if m.Type == msgOut {
				// The owner thinks the connection lives: tell it.
				_ = n.publish(m.From, &message{Type: msgLeave, Conn: m.Conn})
			}
			return
		}
		f.onOwnerMessage(m)
	}
}

func (n *Node) onBeat(m message) {
	if m.SentNano > 0 {
		n.mx.BusLag(time.Since(time.Unix(0, int64(m.SentNano))))
	}
	n.mu.Lock()
	p := n.peers[m.From]
	restarted := p != nil && p.session != m.Session
	if p == nil {
		p = &peerNode{}
		n.peers[m.From] = p
		close(n.peersUp)
		n.peersUp = make(chan struct{})
	}
	p.seen, p.session = time.Now(), m.Session
	n.mu.Unlock()
	if restarted {
		// It reconnected to the bus: it dropped what it had with us.
		n.log.Info("node reconnected to the bus: dropping its old connections", "peer", m.From)
		n.dropPeer(m.From)
	}
}

// waitPeer waits until the node inst has been heard, for up to d.
func (n *Node) waitPeer(ctx context.Context, inst string, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		n.mu.Lock()
		_, ok := n.peers[inst]
		up := n.peersUp
		n.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-up:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// Shutdown hands the node's rooms over: it stops accepting joins, closes
// its forwarded connections (their clients reconnect, to any node),
// closes every local room (its connections, local and remote, with 1001;
// each room stores what it holds and compacts), then releases every lease
// so that another node may take the rooms at once, and leaves the bus.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.closing = true
	fs := make([]*forward, 0, len(n.forwards))
	for _, f := range n.forwards {
		fs = append(fs, f)
	}
	n.mu.Unlock()
	for _, f := range fs {
		f.fail(rooms.CloseGoingAway, rooms.ErrShuttingDown)
	}
	var errs []error
	if err := n.reg.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	// The rooms are stored: whoever takes them next loads all of it.
	if err := n.leases.releaseAll(ctx); err != nil {
		errs = append(errs, err)
	}
	close(n.stop)
	n.dropWhere(func(string) bool { return true })
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("cluster: waiting for remote connections: %w", ctx.Err()))
	}
	if err := n.nc.Drain(); err != nil {
		n.nc.Close()
	}
	return errors.Join(errs...)
}

// Ready reports an error while the node is not connected to the bus.
func (n *Node) Ready() error {
	if !n.nc.IsConnected() {
		return fmt.Errorf("cluster: bus not connected (%s)", n.nc.Status())
	}
	return nil
}
