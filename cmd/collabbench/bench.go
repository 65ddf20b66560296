package main

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/yprotocol"
)

// bench is one run. The rooms and clients are set up before any goroutine
// starts; the counters below are atomics.
type bench struct {
	cfg      *config
	log      io.Writer
	epoch    time.Time
	hashSeed maphash.Seed
	rng      *rand.Rand

	rooms  []*room
	active []*client
	idle   []*client

	// The measured window, in bench-clock nanoseconds (see now). Updates and
	// presence states sent inside it are timed.
	winStart, winEnd atomic.Int64

	readers    sync.WaitGroup // read loops
	senders    sync.WaitGroup // pacers and presence goroutines
	sendErrors atomic.Int64
	lateMax    atomic.Int64 // worst delay of a pacer behind its schedule, ns
}

// now returns the bench clock: monotonic nanoseconds since the start, > 0.
func (b *bench) now() int64 { return int64(time.Since(b.epoch)) + 1 }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "collabbench: "+format+"\n", args...)
}

// runBench runs the whole benchmark and returns its report. Errors that
// stop the run early come with a nil report.
func runBench(ctx context.Context, cfg *config, logw io.Writer) (*report, error) {
	seed := cfg.seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	b := &bench{
		cfg:      cfg,
		log:      logw,
		epoch:    time.Now(),
		hashSeed: maphash.MakeSeed(),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	b.winStart.Store(math.MaxInt64)
	b.winEnd.Store(math.MaxInt64)
	rep := newReport(cfg)

	pid := cfg.pid
	var srv *serverProc
	if cfg.serverCmd != "" {
		var err error
		srv, err = startServer(ctx, cfg.serverCmd, cfg.serverLog, cfg.healthURL(), 20*time.Second)
		if err != nil {
			return nil, err
		}
		pid = srv.pid()
		defer func() {
			if err := srv.stop(20 * time.Second); err != nil {
				b.logf("server: %v", err)
			}
		}()
	}
	rep.Server.PID = pid
	sample := func() procSample {
		if pid == 0 {
			return procSample{}
		}
		s, err := readProc(pid)
		if err != nil {
			b.logf("sampling the server: %v", err)
			rep.Errors = append(rep.Errors, "sampling the server: "+err.Error())
		}
		return s
	}

	if err := b.setup(); err != nil {
		return nil, err
	}
	rep.Updates.Generated = 0
	for _, rm := range b.rooms {
		rep.Updates.Generated += len(rm.updates)
	}

	// Connections run until the end; their reads end when this is cancelled
	// (after the closing handshakes) at the latest.
	connCtx, cancelConns := context.WithCancel(context.Background())
	defer cancelConns()

	sBefore := sample()
	t0 := time.Now()
	b.logf("connecting %d active clients over %d rooms", len(b.active), cfg.rooms)
	failed := b.connectAll(ctx, connCtx, b.active)
	if len(b.idle) > 0 {
		b.logf("connecting %d idle clients", len(b.idle))
		failed += b.connectAll(ctx, connCtx, b.idle)
	}
	rep.Connect.Seconds = time.Since(t0).Seconds()
	rep.Connect.Failed = failed
	if failed > 0 {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%d connections failed to open or sync", failed))
	}
	sleepCtx(ctx, cfg.settle)
	sConnected := sample()

	// Load: the pacers and presence senders stop by themselves at the end
	// of the window.
	start := time.Now().Add(50 * time.Millisecond)
	winStart := start.Add(cfg.warmup)
	winEnd := winStart.Add(cfg.duration)
	b.winStart.Store(int64(winStart.Sub(b.epoch)))
	b.winEnd.Store(int64(winEnd.Sub(b.epoch)))
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	b.startLoad(loadCtx, connCtx, start, winEnd)
	b.logf("load running: warmup %v, measuring %v", cfg.warmup, cfg.duration)

	rep.Machine.LoadAvgStart = loadAvg()
	sleepUntil(ctx, winStart)
	sW0, selfW0, framesW0, updW0, awW0 := sample(), selfCPU(), b.sumFrames(), b.sumUpdates(), b.sumPresence()
	mW0, merr0 := readMachine()
	sleepUntil(ctx, winEnd)
	sW1, selfW1, framesW1, updW1, awW1 := sample(), selfCPU(), b.sumFrames(), b.sumUpdates(), b.sumPresence()
	mW1, merr1 := readMachine()
	rep.Machine.LoadAvgEnd = loadAvg()
	window := cfg.duration
	if ctx.Err() != nil {
		window = max(time.Since(winStart), time.Millisecond)
	}
	b.senders.Wait()

	// Drain: wait for everything sent to arrive everywhere.
	for _, rm := range b.rooms {
		rm.expected = 0
		for i := range rm.sendNs {
			if rm.sendNs[i].Load() > 0 {
				rm.expected++
			}
		}
	}
	drainStart := time.Now()
	b.logf("draining (up to %v)", cfg.drain)
	for !b.allComplete() && time.Since(drainStart) < cfg.drain && ctx.Err() == nil {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	rep.DrainSeconds = time.Since(drainStart).Seconds()
	sEnd := sample()

	b.collect(rep)
	rep.Updates.WindowDelivered = updW1 - updW0
	rep.Updates.DeliveredPerSec = float64(updW1-updW0) / window.Seconds()
	rep.Presence.WindowDelivered = awW1 - awW0
	rep.Window.Seconds = window.Seconds()
	rep.Window.FramesDelivered = framesW1 - framesW0
	rep.Window.FramesPerSec = float64(framesW1-framesW0) / window.Seconds()
	rep.Bench.CPUSeconds = (selfW1 - selfW0).Seconds()
	if merr0 == nil && merr1 == nil {
		busy := (mW1.Busy - mW0.Busy).Seconds()
		rep.Machine.BusyCores = busy / window.Seconds()
		rep.Machine.StealCores = (mW1.Steal - mW0.Steal).Seconds() / window.Seconds()
		other := busy - rep.Bench.CPUSeconds
		if pid != 0 {
			other -= (sW1.CPU - sW0.CPU).Seconds()
		}
		rep.Machine.OtherCores = max(other, 0) / window.Seconds()
	}
	rep.Bench.PacerLateMaxMs = ms(b.lateMax.Load())
	rep.Bench.SendErrors = b.sendErrors.Load()
	if pid != 0 {
		rep.Server.CPUSeconds = (sW1.CPU - sW0.CPU).Seconds()
		rep.Server.CPUPercent = 100 * rep.Server.CPUSeconds / window.Seconds()
		if n := framesW1 - framesW0; n > 0 {
			rep.Server.CPUPerMsgUs = float64((sW1.CPU - sW0.CPU).Microseconds()) / float64(n)
		}
		rep.Server.RSSBeforeKB = sBefore.RSS >> 10
		rep.Server.RSSConnectedKB = sConnected.RSS >> 10
		rep.Server.RSSEndKB = sEnd.RSS >> 10
		rep.Server.ThreadsEnd = sEnd.Threads
		if n := len(b.active) + len(b.idle) - failed; n > 0 {
			rep.Server.RSSPerConnBytes = float64(sConnected.RSS-sBefore.RSS) / float64(n)
		}
	}

	b.closeAll()
	cancelConns()
	b.readers.Wait()
	rep.finish(cfg)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("interrupted: %w", err)
	}
	return rep, nil
}

// setup creates the rooms and clients and generates the updates.
func (b *bench) setup() error {
	cfg := b.cfg
	prefix := cfg.roomPrefix
	if prefix == "" {
		prefix = fmt.Sprintf("bench-%08x", b.rng.Uint32())
	}
	nRooms := max(cfg.rooms, cfg.idleRooms)
	ids := map[uint64]bool{}
	newYID := func() uint64 {
		for {
			// Yjs client IDs are random uint32s.
			id := uint64(b.rng.Uint32())
			if id != 0 && !ids[id] {
				ids[id] = true
				return id
			}
		}
	}
	for i := range nRooms {
		name := fmt.Sprintf("%s-%d", prefix, i)
		b.rooms = append(b.rooms, &room{
			name:  name,
			urls:  cfg.roomURLs(name),
			turn:  cfg.turn,
			index: map[string]int32{},
			byYID: map[uint64]*client{},
		})
	}
	total := cfg.warmup + cfg.duration
	awSlots := int(math.Ceil(cfg.awarenessRate*total.Seconds())) + 2
	for i := range cfg.clients {
		rm := b.rooms[i%cfg.rooms]
		c := b.newClient(i, rm, roleReader)
		c.yid = newYID()
		if cfg.rate > 0 && len(rm.writers) < cfg.writers {
			c.role = roleWriter
			rm.writers = append(rm.writers, c)
		}
		if cfg.awarenessRate > 0 {
			c.awSendNs = make([]atomic.Int64, awSlots)
			rm.byYID[c.yid] = c
		}
		b.active = append(b.active, c)
	}
	idleRooms := cfg.idleRooms
	if idleRooms == 0 {
		idleRooms = cfg.rooms
	}
	for i := range cfg.idle {
		rm := b.rooms[i%idleRooms]
		c := b.newClient(cfg.clients+i, rm, roleIdle)
		c.yid = newYID()
		b.idle = append(b.idle, c)
	}

	if cfg.rate == 0 || cfg.clients == 0 {
		return nil
	}
	perRoom := int(math.Ceil(cfg.rate*total.Seconds())) + 1
	t0 := time.Now()
	tr, err := loadTrace(cfg.tracePath)
	if err != nil {
		return err
	}
	b.logf("trace: %s (loaded in %v)", tr.describe(), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	for _, rm := range b.rooms[:cfg.rooms] {
		var wids []uint64
		for _, w := range rm.writers {
			wids = append(wids, w.yid)
		}
		g, err := newGenerator(tr, wids, cfg.turn)
		if err != nil {
			return err
		}
		rm.updates = make([][]byte, 0, perRoom)
		for range perRoom {
			u, err := g.nextUpdate()
			if err != nil {
				return fmt.Errorf("room %s: %w", rm.name, err)
			}
			if _, dup := rm.index[string(u)]; dup {
				return fmt.Errorf("room %s: update %d has the same bytes as an earlier one; cannot match deliveries", rm.name, len(rm.updates))
			}
			rm.index[string(u)] = int32(len(rm.updates))
			rm.updates = append(rm.updates, u)
		}
		rm.sendNs = make([]atomic.Int64, perRoom)
	}
	for _, c := range b.active {
		c.got = make([]uint64, (len(c.room.updates)+63)/64)
	}
	for _, c := range b.idle {
		c.got = make([]uint64, (len(c.room.updates)+63)/64)
	}
	b.logf("generated %d updates per room for %d rooms in %v", perRoom, cfg.rooms, time.Since(t0).Round(time.Millisecond))
	return nil
}

func (b *bench) newClient(n int, rm *room, r role) *client {
	c := &client{b: b, n: n, slot: len(rm.members), room: rm, role: r, synced: make(chan struct{}), view: map[uint64]awView{}}
	if b.cfg != nil && b.cfg.protocol == protoHocuspocus {
		c.hpPre = hpPrefix(rm.name)
	}
	rm.members = append(rm.members, c)
	return c
}

// connectAll opens the clients' connections, dialParallel at a time, each
// completing the sync handshake, and returns how many failed.
func (b *bench) connectAll(ctx, connCtx context.Context, clients []*client) int {
	var failed atomic.Int64
	sem := make(chan struct{}, b.cfg.dialParallel)
	var wg sync.WaitGroup
	for _, c := range clients {
		if ctx.Err() != nil {
			failed.Add(1)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := b.connect(ctx, connCtx, c); err != nil {
				if failed.Add(1) <= 5 {
					b.logf("client %d (%s): %v", c.n, c.room.name, err)
				}
				c.mu.Lock()
				if c.closeErr == nil {
					c.closeErr = err
				}
				c.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// connect dials, starts the read loop and does what a stock y-websocket
// client does on open: send SyncStep1 (and its presence, if it has one);
// it then waits for the server's SyncStep2. The read loop answers the
// server's SyncStep1.
func (b *bench) connect(ctx, connCtx context.Context, c *client) error {
	dctx, cancel := context.WithTimeout(ctx, b.cfg.connTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, c.room.urls[c.slot%len(c.room.urls)], nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial: %w (HTTP %s)", err, resp.Status)
		}
		return fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(256 << 20)
	c.ws = ws
	b.readers.Go(func() { c.readLoop(connCtx) })
	if c.hpPre != nil {
		if err := c.ws.Write(connCtx, websocket.MessageBinary, hpAuth(c.hpPre, b.cfg.token)); err != nil {
			return fmt.Errorf("sending the hocuspocus auth message: %w", err)
		}
	}
	if err := c.write(connCtx, yprotocol.AppendSyncStep1(nil, emptyStateVector)); err != nil {
		return fmt.Errorf("sending sync step 1: %w", err)
	}
	if c.awSendNs != nil {
		if err := c.sendAwareness(connCtx); err != nil {
			return fmt.Errorf("sending presence: %w", err)
		}
	}
	select {
	case <-c.synced:
		return nil
	case <-dctx.Done():
		c.mu.Lock()
		cerr := c.closeErr
		c.mu.Unlock()
		if cerr != nil {
			return fmt.Errorf("no sync step 2: %w", cerr)
		}
		return errors.New("no sync step 2 in time")
	}
}

// startLoad starts a pacer per room with writers and a presence goroutine
// per active client; they run until end (or until ctx ends).
func (b *bench) startLoad(ctx, connCtx context.Context, start, end time.Time) {
	cfg := b.cfg
	if cfg.rate > 0 {
		interval := time.Duration(float64(time.Second) / cfg.rate)
		active := b.rooms[:cfg.rooms]
		for k, rm := range active {
			if len(rm.writers) == 0 {
				continue
			}
			// Stagger the rooms over one interval so that their updates do
			// not all arrive at the same instant.
			offset := time.Duration(int64(interval) * int64(k) / int64(len(active)))
			b.senders.Go(func() { b.pace(ctx, connCtx, rm, start.Add(offset), interval, end) })
		}
	}
	if cfg.awarenessRate > 0 {
		interval := time.Duration(float64(time.Second) / cfg.awarenessRate)
		for _, c := range b.active {
			if c.ws == nil {
				continue
			}
			phase := time.Duration(b.rng.Int64N(int64(interval)))
			b.senders.Go(func() { b.presenceLoop(ctx, connCtx, c, start.Add(phase), interval, end) })
		}
	}
}

// pace sends a room's updates on schedule: update i at first + i*interval,
// by the writer whose turn it is. A late pacer sends at once and catches up.
func (b *bench) pace(ctx, connCtx context.Context, rm *room, first time.Time, interval time.Duration, end time.Time) {
	var frame []byte
	for i, u := range rm.updates {
		due := first.Add(time.Duration(i) * interval)
		if !due.Before(end) || !sleepUntil(ctx, due) {
			return
		}
		late := int64(time.Since(due))
		for cur := b.lateMax.Load(); late > cur && !b.lateMax.CompareAndSwap(cur, late); cur = b.lateMax.Load() {
		}
		w := rm.writerOf(i)
		if w.ws == nil {
			rm.sendNs[i].Store(-1)
			b.sendErrors.Add(1)
			continue
		}
		frame = yprotocol.AppendUpdate(frame[:0], u)
		rm.sendNs[i].Store(b.now())
		if err := w.write(connCtx, frame); err != nil {
			rm.sendNs[i].Store(-1)
			if b.sendErrors.Add(1) <= 3 {
				b.logf("room %s: sending update %d: %v", rm.name, i, err)
			}
		}
	}
}

// presenceLoop sends a client's presence on schedule.
func (b *bench) presenceLoop(ctx, connCtx context.Context, c *client, first time.Time, interval time.Duration, end time.Time) {
	for k := 0; ; k++ {
		due := first.Add(time.Duration(k) * interval)
		if !due.Before(end) || !sleepUntil(ctx, due) {
			return
		}
		if c.awClock+1 >= uint64(len(c.awSendNs)) {
			return // bounded by the slots allocated for the run
		}
		if err := c.sendAwareness(connCtx); err != nil {
			if b.sendErrors.Add(1) <= 3 {
				b.logf("client %d: sending presence: %v", c.n, err)
			}
			return
		}
	}
}

func (b *bench) allComplete() bool {
	for _, rm := range b.rooms {
		for _, c := range rm.members {
			if !c.complete() {
				return false
			}
		}
	}
	return true
}

func (b *bench) sumFrames() (n int64) {
	for _, rm := range b.rooms {
		for _, c := range rm.members {
			n += c.frames.Load()
		}
	}
	return n
}

func (b *bench) sumUpdates() (n int64) {
	for _, rm := range b.rooms {
		for _, c := range rm.members {
			n += c.updates.Load()
		}
	}
	return n
}

func (b *bench) sumPresence() (n int64) {
	for _, rm := range b.rooms {
		for _, c := range rm.members {
			n += c.presence.Load()
		}
	}
	return n
}

// closeAll closes every connection with a normal closure, dialParallel at
// a time.
func (b *bench) closeAll() {
	sem := make(chan struct{}, max(b.cfg.dialParallel, 64))
	var wg sync.WaitGroup
	for _, rm := range b.rooms {
		for _, c := range rm.members {
			if c.ws == nil {
				continue
			}
			c.closing.Store(true)
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				_ = c.ws.Close(websocket.StatusNormalClosure, "benchmark done")
			})
		}
	}
	wg.Wait()
}

// collect gathers the per-client results into rep.
func (b *bench) collect(rep *report) {
	var fanout, echo, aw hist
	closes := map[string]int{}
	for _, rm := range b.rooms {
		for i := range rm.sendNs {
			switch v := rm.sendNs[i].Load(); {
			case v > 0:
				rep.Updates.Sent++
				if v >= b.winStart.Load() && v < b.winEnd.Load() {
					rep.Updates.SentInWindow++
				}
			case v < 0:
				rep.Updates.SendFailed++
			}
		}
		for _, c := range rm.members {
			c.mu.Lock()
			fanout.merge(&c.fanout)
			echo.merge(&c.echo)
			aw.merge(&c.awLat)
			rep.Updates.Delivered += c.gotN
			rep.Updates.Duplicates += c.dups
			rep.Updates.Unknown += c.unknown
			rep.Updates.MergedRelays += c.mergedRelays
			rep.Updates.NoopRelays += c.noop
			rep.Connect.SyncStep2 += c.sync2
			rep.Connect.PermissionDenied += c.denied
			rep.Presence.EntriesDelivered += c.awEntries
			if c.closeErr != nil {
				rep.Connect.ClosedEarly++
				closes[closeReason(c.closeErr)]++
				if len(rm.updates) > 0 {
					rep.Updates.UndeliveredToClosed += rm.expected - c.gotN
				}
			} else {
				rep.Updates.Undelivered += rm.expected - c.gotN
				if b.cfg.awarenessRate > 0 {
					rep.Presence.ViewsChecked += len(rm.byYID)
					if _, ok := rm.byYID[c.yid]; ok {
						rep.Presence.ViewsChecked--
					}
					rep.Presence.FinalMismatches += c.awMismatchesLocked()
				}
			}
			c.mu.Unlock()
		}
	}
	for _, c := range b.active {
		if c.awSendNs != nil {
			rep.Presence.Sent += int(c.awClock)
		}
	}
	if len(closes) > 0 {
		rep.Connect.CloseReasons = closes
	}
	rep.Fanout = fanout.summary()
	rep.Echo = echo.summary()
	rep.Presence.Latency = aw.summary()
	rep.Clients, rep.Idle = len(b.active), len(b.idle)
	rep.Machine.GoMaxProcs = runtime.GOMAXPROCS(0)
}

// closeReason summarizes why the server ended a connection.
func closeReason(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		var ce websocket.CloseError
		if errors.As(err, &ce) && ce.Reason != "" {
			return fmt.Sprintf("%d %s", code, ce.Reason)
		}
		return fmt.Sprintf("%d", code)
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// sleepUntil sleeps until t or until ctx ends; it reports whether t was
// reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	return sleepCtx(ctx, time.Until(t))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
