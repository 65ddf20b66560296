// Package chat is the built-in chat party: a room's recent messages are
// kept in its storage and sent to every connection that joins, new
// messages are broadcast, and joins and leaves are announced.
//
// Connect with partysocket: new PartySocket({host, party: "chat", room,
// query: {name: "Ada"}}) (name: up to 64 characters; default "anonymous";
// a token's user is sent along as user). Messages are JSON text.
//
// Client to server:
//
//	{"type": "message", "text": "hello"}   post (1 to MaxText characters)
//	{"type": "name", "name": "Ada"}        rename this connection
//
// Server to client:
//
//	{"type": "history", "messages": [MESSAGE, ...]}   on connect, oldest first
//	{"type": "message", "message": MESSAGE}           a new message, to everyone (the sender too)
//	{"type": "join", "id": CONN, "name": NAME}        someone joined (to the others)
//	{"type": "leave", "id": CONN, "name": NAME}       someone left
//	{"type": "error", "error": "..."}                 this client's mistake; nothing else changed
//
// where MESSAGE is {"id": SEQ, "conn": CONN, "user": USER, "name": NAME,
// "text": TEXT, "time": RFC 3339}. A connection may post Options.Rate
// messages a second (burst Options.Burst); over it, its posts are refused
// with an error message until it slows down. Read-only connections (a
// read token, ?readonly=1) receive everything and may not post.
package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/collabd/collabd/party"
)

// Defaults of Options.
const (
	DefaultHistory = 100
	DefaultMaxText = 2000
	DefaultRate    = 5
	DefaultBurst   = 10
	maxName        = 64
)

// Options configure the chat party; the zero value of each is its
// default.
type Options struct {
	History int     // messages kept and sent on connect
	MaxText int     // longest message, in characters
	Rate    float64 // posts a second per connection
	Burst   int
}

// New returns the chat party's factory.
func New(opts Options) party.Factory {
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.MaxText <= 0 {
		opts.MaxText = DefaultMaxText
	}
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	return func(r *party.Room) party.Server { return &chat{room: r, opts: opts} }
}

// Message is a chat message as stored and sent.
type Message struct {
	ID   uint64    `json:"id"`
	Conn string    `json:"conn"`
	User string    `json:"user,omitempty"`
	Name string    `json:"name"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

type chat struct {
	party.Base
	room    *party.Room
	opts    Options
	history []Message // oldest first, at most opts.History
	next    uint64
}

// member is a connection's state.
type member struct {
	name    string
	limiter *rate.Limiter
}

const keyPrefix = "msg/"

func key(id uint64) string { return keyPrefix + fmt.Sprintf("%020d", id) }

func (c *chat) OnStart() error {
	ps, err := c.room.Storage().List(keyPrefix, 0)
	if err != nil {
		return err
	}
	c.next = 1
	for _, p := range ps {
		var m Message
		if err := json.Unmarshal(p.Value, &m); err != nil {
			c.room.Logger().Warn("skipping a stored chat message that does not decode", "key", p.Key, "err", err)
			continue
		}
		c.history = append(c.history, m)
		c.next = max(c.next, m.ID+1)
	}
	if n := len(c.history) - c.opts.History; n > 0 {
		c.history = c.history[n:]
	}
	return nil
}

func (c *chat) OnConnect(conn *party.Conn, info party.ConnInfo) {
	name := cleanName(info.URL.Query().Get("name"))
	conn.SetState(&member{name: name, limiter: rate.NewLimiter(rate.Limit(c.opts.Rate), c.opts.Burst)})
	conn.SendJSON(map[string]any{"type": "history", "messages": nonNil(c.history)})
	c.room.Broadcast(party.JSON(map[string]any{"type": "join", "id": conn.ID(), "name": name}), conn.ID())
}

func (c *chat) OnClose(conn *party.Conn) {
	if m, ok := conn.State().(*member); ok {
		c.room.Broadcast(party.JSON(map[string]any{"type": "leave", "id": conn.ID(), "name": m.name}))
	}
}

// request is what a client sends.
type request struct {
	Type string `json:"type"`
	Text string `json:"text"`
	Name string `json:"name"`
}

// parse decodes and checks a client's message.
func parse(data []byte, maxText int) (request, error) {
	var r request
	if err := json.Unmarshal(data, &r); err != nil {
		return r, errors.New("not a JSON object: " + err.Error())
	}
	switch r.Type {
	case "message":
		if strings.TrimSpace(r.Text) == "" {
			return r, errors.New("empty message")
		}
		if n := utf8.RuneCountInString(r.Text); n > maxText {
			return r, fmt.Errorf("message of %d characters, more than %d", n, maxText)
		}
	case "name":
		if strings.TrimSpace(r.Name) == "" {
			return r, errors.New("empty name")
		}
	default:
		return r, fmt.Errorf("unknown type %s (want message or name)", strconv.Quote(r.Type))
	}
	return r, nil
}

func (c *chat) OnMessage(m party.Message, conn *party.Conn) {
	mem, _ := conn.State().(*member)
	if mem == nil {
		return
	}
	if m.Binary {
		sendError(conn, "binary messages are not understood: send JSON text")
		return
	}
	req, err := parse(m.Data, c.opts.MaxText)
	if err != nil {
		sendError(conn, err.Error())
		return
	}
	switch req.Type {
	case "name":
		mem.name = cleanName(req.Name)
	case "message":
		if conn.ReadOnly() {
			sendError(conn, "read-only connection: posting is not allowed")
			return
		}
		if !mem.limiter.Allow() {
			sendError(conn, "too many messages: slow down")
			return
		}
		c.post(conn, mem, req.Text)
	}
}

// post stores a message (with the removal of the one it pushes out of the
// history, in one write) and then broadcasts it.
func (c *chat) post(conn *party.Conn, mem *member, text string) {
	msg := Message{ID: c.next, Conn: conn.ID(), User: conn.User(), Name: mem.name, Text: text, Time: time.Now().UTC().Truncate(time.Millisecond)}
	b, err := json.Marshal(msg)
	if err != nil {
		sendError(conn, "the message could not be encoded")
		return
	}
	var batch party.Batch
	batch.Put(key(msg.ID), b)
	drop := len(c.history) + 1 - c.opts.History
	for i := 0; i < drop; i++ {
		batch.Delete(key(c.history[i].ID))
	}
	if err := c.room.Storage().Write(&batch); err != nil {
		c.room.Logger().Warn("storing a chat message failed", "err", err)
		sendError(conn, "the message could not be stored; try again")
		return
	}
	c.next++
	if drop > 0 {
		c.history = c.history[drop:]
	}
	c.history = append(c.history, msg)
	c.room.Broadcast(party.JSON(map[string]any{"type": "message", "message": msg}))
}

func sendError(conn *party.Conn, msg string) {
	conn.SendJSON(map[string]string{"type": "error", "error": msg})
}

// cleanName trims a name to maxName characters without control
// characters; empty becomes "anonymous".
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > maxName {
		s = string([]rune(s)[:maxName])
	}
	if s == "" {
		return "anonymous"
	}
	return s
}

func nonNil(ms []Message) []Message {
	if ms == nil {
		return []Message{}
	}
	return ms
}
