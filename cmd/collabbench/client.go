package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/yprotocol"
)

// role says what a connection does.
type role uint8

const (
	roleReader role = iota // handshakes, sends presence, receives
	roleWriter             // a reader that also sends document updates
	roleIdle               // handshakes and stays open, sends nothing
)

func (r role) String() string {
	switch r {
	case roleWriter:
		return "writer"
	case roleIdle:
		return "idle"
	}
	return "reader"
}

// room is one document under load and what the tool knows about it.
// Everything but sendNs is set before any connection opens and read-only
// afterwards.
type room struct {
	name    string
	urls    []string // one per server (-url list); client k of the room uses urls[k % len]
	turn    int
	updates [][]byte         // the updates the writers send, in order
	index   map[string]int32 // update bytes -> index in updates
	merged  mergeIndex       // finds updates inside merged relays
	// sendNs[i] is when update i was handed to the writer's socket (the
	// bench clock, > 0), 0 if it was never sent, -1 if sending failed.
	sendNs  []atomic.Int64
	writers []*client
	members []*client          // every connection of the room
	byYID   map[uint64]*client // clients that send presence, by Yjs client ID

	expected int // updates successfully sent; set once the pacer is done
}

// writerOf returns the client that sends update i.
func (rm *room) writerOf(i int) *client {
	return rm.writers[(i/rm.turn)%len(rm.writers)]
}

// awView is what a client last saw of another client's presence.
type awView struct {
	clock uint64
	state uint64 // maphash of the JSON state
	null  bool
}

// client is one WebSocket connection speaking the y-websocket protocol.
type client struct {
	b    *bench
	n    int
	slot int // the client's index among its room's members
	room *room
	role role
	yid  uint64 // Yjs client ID of its presence
	ws   *websocket.Conn
	// hpPre is the document-name prefix of every message when the tool
	// speaks Hocuspocus (see hocuspocus.go), nil for y-websocket.
	hpPre   []byte
	hpBuf   []byte // a write's Hocuspocus message, guarded by writeMu
	writeMu sync.Mutex

	synced   chan struct{} // closed when the server's SyncStep2 arrived
	syncOnce sync.Once
	closing  atomic.Bool // the tool is closing the connection

	// Presence sender state, owned by the client's presence goroutine (and
	// read by others only after it has ended). awSendNs[clock] is when that
	// clock was sent (bench clock).
	awClock  uint64
	awState  []byte
	awSendNs []atomic.Int64

	frames   atomic.Int64 // frames received
	updates  atomic.Int64 // update messages received that belong to the room
	presence atomic.Int64 // awareness messages received

	mu           sync.Mutex // guards the fields below; the read loop holds it per frame
	got          []uint64   // bitset of the room's updates received
	gotN         int
	dups         int // updates received more than once
	unknown      int // updates that are none of the room's
	mergedRelays int // merged updates that held some of the room's
	noop         int // empty updates (no structs, no deletions)
	sync2        int // SyncStep2 messages received
	denied       int // permission-denied messages received
	fanout       hist
	echo         hist
	awLat        hist
	awEntries    int // presence entries of other clients received
	view         map[uint64]awView
	closeErr     error // why the connection ended, unless the tool closed it
}

// emptyUpdate is the Yjs update with nothing in it, what an empty document
// answers to a SyncStep1 (Y.encodeStateAsUpdate of an empty doc).
var emptyUpdate = []byte{0, 0}

// emptyStateVector is the encoded state vector of an empty document.
var emptyStateVector = []byte{0}

func (c *client) write(ctx context.Context, frame []byte) error {
	if c.hpPre != nil {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		c.hpBuf = hpWrap(c.hpBuf[:0], c.hpPre, frame)
		frame = c.hpBuf
	}
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

// readLoop reads frames until the connection ends.
func (c *client) readLoop(ctx context.Context) {
	var buf bytes.Buffer
	var reply, unwrapped []byte
	for {
		_, r, err := c.ws.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			if !c.closing.Load() {
				c.mu.Lock()
				c.closeErr = err
				c.mu.Unlock()
			}
			return
		}
		now := c.b.now()
		c.frames.Add(1)
		frame := buf.Bytes()
		if c.hpPre != nil {
			unwrapped, err = hpUnwrap(unwrapped[:0], frame, c.room.name)
			if err != nil {
				c.mu.Lock()
				if errors.Is(err, errHPDenied) {
					c.denied++
				} else if c.closeErr == nil {
					c.closeErr = err
				}
				c.mu.Unlock()
				continue
			}
			if unwrapped == nil {
				continue
			}
			frame = unwrapped
		}
		if reply = c.handle(frame, now, reply[:0]); len(reply) > 0 {
			// Answer as a stock client does: its SyncStep2 (our document
			// is empty as far as the server is concerned: the writers'
			// updates reach it as updates).
			if err := c.write(ctx, reply); err != nil && !c.closing.Load() {
				c.mu.Lock()
				c.closeErr = fmt.Errorf("answering sync step 1: %w", err)
				c.mu.Unlock()
				return
			}
		}
	}
}

// handle handles one frame received at now and returns the frame to send
// back, if any, appended to reply.
func (c *client) handle(frame []byte, now int64, reply []byte) []byte {
	rm := c.room
	winStart, winEnd := c.b.winStart.Load(), c.b.winEnd.Load()
	inWindow := func(t int64) bool { return t > 0 && t >= winStart && t < winEnd }
	c.mu.Lock()
	defer c.mu.Unlock()
	err := yprotocol.Decode(frame, func(m yprotocol.Message) error {
		switch m.Kind {
		case yprotocol.KindSyncStep1:
			reply = yprotocol.AppendSyncStep2(reply, emptyUpdate)
		case yprotocol.KindSyncStep2:
			c.sync2++
			c.syncOnce.Do(func() { close(c.synced) })
		case yprotocol.KindUpdate:
			idx, ok := rm.index[string(m.Payload)]
			if ok {
				c.deliver(idx, now, inWindow)
				return nil
			}
			if bytes.Equal(m.Payload, emptyUpdate) {
				c.noop++
				return nil
			}
			parts := rm.merged.contained(rm.updates, m.Payload)
			if len(parts) == 0 {
				c.unknown++
				return nil
			}
			c.mergedRelays++
			for _, idx := range parts {
				c.deliver(idx, now, inWindow)
			}
		case yprotocol.KindAwareness:
			c.presence.Add(1)
			return yprotocol.DecodeAwareness(m.Payload, func(e yprotocol.AwarenessEntry) error {
				if e.ClientID == c.yid {
					return nil
				}
				src := rm.byYID[e.ClientID]
				if src == nil {
					return nil
				}
				c.awEntries++
				null := e.IsNull()
				v, seen := c.view[e.ClientID]
				// The y-protocols rule: a newer clock wins; an equal clock
				// with a null state removes.
				if !seen || e.Clock > v.clock || (e.Clock == v.clock && null && !v.null) {
					v = awView{clock: e.Clock, null: null}
					if !null {
						v.state = maphash.Bytes(c.b.hashSeed, e.State)
					}
					c.view[e.ClientID] = v
				}
				if e.Clock < uint64(len(src.awSendNs)) {
					if sent := src.awSendNs[e.Clock].Load(); inWindow(sent) {
						c.awLat.add(now - sent)
					}
				}
				return nil
			})
		case yprotocol.KindPermissionDenied:
			c.denied++
		}
		return nil
	})
	if err != nil && c.closeErr == nil {
		c.closeErr = fmt.Errorf("decoding a frame from the server: %w", err)
	}
	return reply
}

// deliver records the arrival at now of the room's update idx. c.mu is
// held.
func (c *client) deliver(idx int32, now int64, inWindow func(int64) bool) {
	rm := c.room
	c.updates.Add(1)
	w, bit := idx/64, uint64(1)<<(idx%64)
	if c.got[w]&bit != 0 {
		c.dups++
		return
	}
	c.got[w] |= bit
	c.gotN++
	if sent := rm.sendNs[idx].Load(); inWindow(sent) {
		if rm.writerOf(int(idx)) == c {
			c.echo.add(now - sent)
		} else {
			c.fanout.add(now - sent)
		}
	}
}

// sendAwareness sends the next presence state: a cursor that moves. The
// client's final clock and state only advance when the write succeeds.
func (c *client) sendAwareness(ctx context.Context) error {
	clock := c.awClock + 1
	pos := clock * 7 % 1000
	state := fmt.Appendf(nil, `{"user":{"name":"bench-%d","color":"#%06x"},"cursor":{"anchor":%d,"head":%d}}`,
		c.n, c.yid&0xffffff, pos, pos+clock%3)
	frame := yprotocol.AppendAwareness(nil, []yprotocol.AwarenessEntry{{ClientID: c.yid, Clock: clock, State: state}})
	if clock < uint64(len(c.awSendNs)) {
		c.awSendNs[clock].Store(c.b.now())
	}
	if err := c.write(ctx, frame); err != nil {
		return err
	}
	c.awClock, c.awState = clock, state
	return nil
}

// complete reports whether c has received every update sent to its room
// and the final presence state of every other presence sender of it.
func (c *client) complete() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return true // nothing more will arrive
	}
	if c.gotN < c.room.expected {
		return false
	}
	return c.awMismatchesLocked() == 0
}

// awMismatchesLocked counts the presence senders of the room, other than
// c, whose final state c has not seen. Call it only once the presence
// goroutines have ended (it reads their final clocks and states).
func (c *client) awMismatchesLocked() int {
	n := 0
	for id, src := range c.room.byYID {
		if src == c || src.awClock == 0 {
			continue
		}
		v, ok := c.view[id]
		if !ok || v.null || v.clock != src.awClock || v.state != maphash.Bytes(c.b.hashSeed, src.awState) {
			n++
		}
	}
	return n
}
