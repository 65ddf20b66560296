// Package cursors is the built-in cursors party: each connection's
// pointer position and name are relayed to the others, and removed the
// moment the connection leaves. Nothing is stored: positions are only
// worth something while their owner is here.
//
// Connect with partysocket: new PartySocket({host, party: "cursors",
// room}). Messages are JSON text.
//
// Client to server:
//
//	{"type": "cursor", "x": 0.25, "y": 0.5, "name": "Ada", "color": "#f783ac"}
//	{"type": "hide"}                   remove this connection's cursor (the pointer left the page)
//
// Server to client:
//
//	{"type": "sync", "cursors": {CONN: CURSOR, ...}}   on connect: everyone else's
//	{"type": "cursor", "id": CONN, ...CURSOR}          someone moved (never echoed to the mover)
//	{"type": "remove", "id": CONN}                     someone's cursor went (hide, or they left)
//	{"type": "error", "error": "..."}                  this client's mistake; nothing else changed
//
// where CURSOR is {"x", "y", "name", "color"}: x and y finite numbers
// (the app's coordinates, fractions of the page for example), name up to
// 64 characters, color up to 32. Read-only connections see the others'
// cursors and show none of their own.
package cursors

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/collabd/collabd/party"
)

// Cursor is a connection's pointer.
type Cursor struct {
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Name  string  `json:"name,omitempty"`
	Color string  `json:"color,omitempty"`
}

// Request is a client's message.
type Request struct {
	Type string `json:"type"`
	Cursor
}

// Parse decodes and checks a client's message.
func Parse(data []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return r, errors.New("not a JSON object: " + err.Error())
	}
	switch r.Type {
	case "cursor":
		switch {
		case math.IsNaN(r.X) || math.IsInf(r.X, 0) || math.IsNaN(r.Y) || math.IsInf(r.Y, 0):
			return r, errors.New("x and y must be finite numbers")
		case utf8.RuneCountInString(r.Name) > 64:
			return r, errors.New("name longer than 64 characters")
		case len(r.Color) > 32:
			return r, errors.New("color longer than 32 bytes")
		}
	case "hide":
	default:
		return r, fmt.Errorf("unknown type %s (want cursor or hide)", strconv.Quote(r.Type))
	}
	return r, nil
}

// New returns the cursors party's factory.
func New() party.Factory {
	return func(r *party.Room) party.Server { return &cursors{room: r, at: map[string]Cursor{}} }
}

type cursors struct {
	party.Base
	room *party.Room
	at   map[string]Cursor // connection ID -> its cursor
}

func (p *cursors) OnConnect(c *party.Conn, _ party.ConnInfo) {
	c.SendJSON(map[string]any{"type": "sync", "cursors": p.at})
}

func (p *cursors) OnMessage(m party.Message, c *party.Conn) {
	if m.Binary {
		c.SendJSON(map[string]string{"type": "error", "error": "binary messages are not understood: send JSON text"})
		return
	}
	req, err := Parse(m.Data)
	if err != nil {
		c.SendJSON(map[string]string{"type": "error", "error": err.Error()})
		return
	}
	if c.ReadOnly() {
		return
	}
	switch req.Type {
	case "cursor":
		p.at[c.ID()] = req.Cursor
		p.room.Broadcast(party.JSON(struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Cursor
		}{"cursor", c.ID(), req.Cursor}), c.ID())
	case "hide":
		p.remove(c.ID())
	}
}

func (p *cursors) OnClose(c *party.Conn) { p.remove(c.ID()) }

func (p *cursors) remove(id string) {
	if _, ok := p.at[id]; !ok {
		return
	}
	delete(p.at, id)
	p.room.Broadcast(party.JSON(map[string]string{"type": "remove", "id": id}))
}
