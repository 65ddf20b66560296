// Command testparty is collabd with the built-in parties and a party for
// the end-to-end tests (e2e/party_test.go), registered through the
// embedding API as a developer's own main would: "probe", which echoes,
// panics on request, sets alarms and counts its starts in its storage. It
// is not part of the stock binary.
package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/collabd/collabd"
	"github.com/collabd/collabd/parties"
	"github.com/collabd/collabd/party"
)

func main() {
	collabd.Main(collabd.Options{Parties: func(reg *party.Registry) error {
		if err := parties.Register(reg); err != nil {
			return err
		}
		if err := reg.RegisterYjs("doc"); err != nil {
			return err
		}
		return reg.Register("probe", func(r *party.Room) party.Server { return &probe{room: r} })
	}})
}

// probe's messages (text): "panic" panics; "alarm:MS" sets the alarm MS
// milliseconds ahead; "put:K=V" stores; "get:K" answers "value:V"; any
// other text is broadcast as "echo:TEXT" to everyone; binary is echoed to
// the sender. On connect it sends {"type":"hello",...} with what it knows
// of the connection; on the alarm it stores "fired" and broadcasts
// "alarm". GET answers {"starts", "fired"}.
type probe struct {
	party.Base
	room   *party.Room
	starts int
}

func (p *probe) OnStart() error {
	v, _, err := p.room.Storage().Get("starts")
	if err != nil {
		return err
	}
	p.starts, _ = strconv.Atoi(string(v))
	p.starts++
	return p.room.Storage().Put("starts", []byte(strconv.Itoa(p.starts)))
}

func (p *probe) OnConnect(c *party.Conn, info party.ConnInfo) {
	c.Tag("probe")
	c.SendJSON(map[string]any{"type": "hello", "id": c.ID(), "user": c.User(), "readonly": c.ReadOnly(),
		"query": info.URL.Query().Get("q"), "starts": p.starts, "conns": len(p.room.Connections("probe"))})
}

func (p *probe) OnMessage(m party.Message, c *party.Conn) {
	if m.Binary {
		c.Send(m)
		return
	}
	s := m.String()
	switch {
	case s == "panic":
		panic("probe asked to panic")
	case strings.HasPrefix(s, "alarm:"):
		ms, _ := strconv.Atoi(strings.TrimPrefix(s, "alarm:"))
		if err := p.room.SetAlarm(time.Now().Add(time.Duration(ms) * time.Millisecond)); err != nil {
			c.Send(party.Text("error:" + err.Error()))
			return
		}
		c.Send(party.Text("alarm-set"))
	case strings.HasPrefix(s, "put:"):
		k, v, _ := strings.Cut(strings.TrimPrefix(s, "put:"), "=")
		if err := p.room.Storage().Put(k, []byte(v)); err != nil {
			c.Send(party.Text("error:" + err.Error()))
			return
		}
		c.Send(party.Text("stored"))
	case strings.HasPrefix(s, "get:"):
		v, _, err := p.room.Storage().Get(strings.TrimPrefix(s, "get:"))
		if err != nil {
			c.Send(party.Text("error:" + err.Error()))
			return
		}
		c.Send(party.Text("value:" + string(v)))
	default:
		p.room.Broadcast(party.Text("echo:" + s))
	}
}

func (p *probe) OnAlarm() {
	_ = p.room.Storage().Put("fired", []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	p.room.Broadcast(party.Text("alarm"))
}

func (p *probe) OnRequest(req *party.Request) *party.Response {
	fired, _, _ := p.room.Storage().Get("fired")
	b, _ := json.Marshal(map[string]any{"starts": p.starts, "fired": string(fired), "method": req.Method, "body": string(req.Body)})
	return &party.Response{Status: 200, Body: b, Header: map[string][]string{"Content-Type": {"application/json"}}}
}
