// Command counter is a complete program that embeds collabd: the stock
// server (same flags, same COLLABD_* settings, the Yjs documents and the
// built-in chat, poll and cursors) plus a party of its own, "counter".
//
//	go run ./examples/counter --addr 127.0.0.1:8080
//
// In the browser, with partysocket:
//
//	const ws = new PartySocket({ host: 'localhost:8080', party: 'counter', room: 'r1' })
//	ws.onmessage = (e) => console.log(JSON.parse(e.data).count)
//	ws.send('inc')
//
// and curl localhost:8080/parties/counter/r1 answers {"count": N}.
package main

import (
	"strconv"

	"github.com/collabd/collabd"
	"github.com/collabd/collabd/parties"
	"github.com/collabd/collabd/party"
)

// counter counts "inc" messages per room, in the room's storage, and
// tells everyone the new count.
type counter struct {
	party.Base
	room  *party.Room
	count int
}

func (c *counter) OnStart() error {
	v, _, err := c.room.Storage().Get("count")
	c.count, _ = strconv.Atoi(string(v))
	return err
}

func (c *counter) OnConnect(conn *party.Conn, _ party.ConnInfo) {
	conn.SendJSON(map[string]int{"count": c.count})
}

func (c *counter) OnMessage(m party.Message, conn *party.Conn) {
	if m.String() != "inc" || conn.ReadOnly() {
		conn.SendJSON(map[string]string{"error": `send "inc" (with write access)`})
		return
	}
	if err := c.room.Storage().Put("count", []byte(strconv.Itoa(c.count+1))); err != nil {
		conn.SendJSON(map[string]string{"error": "not stored, try again"})
		return
	}
	c.count++
	c.room.Broadcast(party.JSON(map[string]int{"count": c.count}))
}

func (c *counter) OnRequest(*party.Request) *party.Response {
	return party.JSONResponse(200, map[string]int{"count": c.count})
}

func main() {
	collabd.Main(collabd.Options{Parties: func(reg *party.Registry) error {
		if err := parties.Register(reg); err != nil {
			return err
		}
		return reg.Register("counter", func(r *party.Room) party.Server { return &counter{room: r} })
	}})
}
