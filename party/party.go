// Package party runs parties: small servers, one instance per room, that
// a developer writes in Go the way PartyKit's guides write them in
// TypeScript. A party is registered by name with a Factory; the first
// connection, HTTP request or alarm of a room makes its instance, whose
// callbacks (OnStart, OnConnect, OnMessage, OnClose, OnError, OnRequest,
// OnAlarm) then get the room's connections, messages and requests. The
// instance has the room's storage (keys to bytes, durable, in the
// docstore the server uses) and may broadcast, tag connections, keep state
// per connection and set an alarm that outlives a restart.
//
// A chat room in a few lines:
//
//	type chat struct {
//		party.Base
//		room *party.Room
//	}
//
//	func (c *chat) OnMessage(m party.Message, from *party.Conn) {
//		c.room.Broadcast(m, from.ID())
//	}
//
//	reg.Register("chat", func(r *party.Room) party.Server { return &chat{room: r} })
//
// Like package rooms, this package has no network in it: the transport
// (package server) upgrades /parties/{party}/{room}, checks access and
// limits, and hands each connection to Registry.Connect as a Peer; plain
// HTTP requests to the same path arrive through Registry.Request.
//
// # Concurrency contract
//
// As in PartyKit, one goroutine at a time runs inside a room's callbacks:
// every room has one goroutine and an inbox, and every callback of its
// instance, every function passed to Room.After, runs on it, in the order
// the events arrived. A party's fields need no locks as long as only its
// callbacks touch them. Room and Conn methods are for those callbacks,
// except Room.After, Room.Name and Room.Party, which are safe anywhere.
// Different rooms run in parallel.
//
// A callback that blocks holds up its room only. Storage calls block
// until the store has committed (that is what makes a Put durable when it
// returns), so a party that writes on every message of a busy room should
// gather its writes (the built-in poll writes a storm of votes in one
// Write).
//
// # Lifecycle
//
// A room whose connections have all gone, with no request and no Room.After
// timer pending, hibernates after Options.IdleTimeout: its instance is
// dropped (in-memory fields and per-connection state go; storage stays).
// The next connection, request or alarm makes a new instance, and OnStart
// runs again. A callback that panics is recovered and logged with the
// room; the room closes its connections with 1011 (internal error) and is
// dropped, so the next connection starts it afresh; other rooms carry on.
// A failing OnStart does the same.
package party

import (
	"encoding/json"
	"net/textproto"
	"net/url"
)

// Server is a party's instance for one room. Embed Base to implement the
// callbacks you do not need. All of them run on the room's goroutine (see
// the package comment).
type Server interface {
	// OnStart runs once when the instance starts, before any other
	// callback: on the room's first event and again after every
	// hibernation or failure. Its storage is ready. An error fails the
	// room (its connections are closed with 1011).
	OnStart() error
	// OnConnect runs when a connection joins. Tag it, send it a welcome,
	// or close it (read-only connections are the party's to refuse
	// writes to: see ConnInfo.ReadOnly).
	OnConnect(c *Conn, info ConnInfo)
	// OnMessage runs for every text or binary message of a connection.
	OnMessage(m Message, from *Conn)
	// OnClose runs when a connection has left (closed by either side).
	OnClose(c *Conn)
	// OnError runs when the transport closes a connection for an error of
	// its own (a rate limit, a message over the size limit, a slow
	// reader), before OnClose.
	OnError(c *Conn, err error)
	// OnRequest answers a plain HTTP request to /parties/{party}/{room};
	// nil answers 404.
	OnRequest(req *Request) *Response
	// OnAlarm runs when the alarm set with Room.SetAlarm is due, also
	// after a restart of the server.
	OnAlarm()
}

// Factory makes a party's instance for a room. It runs on the room's
// goroutine, before OnStart.
type Factory func(room *Room) Server

// Base implements every callback of Server as doing nothing (OnRequest
// answers 404). Embed it in a party.
type Base struct{}

func (Base) OnStart() error               { return nil }
func (Base) OnConnect(*Conn, ConnInfo)    {}
func (Base) OnMessage(Message, *Conn)     {}
func (Base) OnClose(*Conn)                {}
func (Base) OnError(*Conn, error)         {}
func (Base) OnRequest(*Request) *Response { return nil }
func (Base) OnAlarm()                     {}

// Message is one WebSocket message: text (UTF-8) or binary.
type Message struct {
	Data   []byte
	Binary bool
}

// Text is a text message.
func Text(s string) Message { return Message{Data: []byte(s)} }

// Binary is a binary message.
func Binary(b []byte) Message { return Message{Data: b, Binary: true} }

// JSON is a text message holding v as JSON. It panics if v cannot be
// encoded (a party's own types always can).
func JSON(v any) Message {
	b, err := json.Marshal(v)
	if err != nil {
		panic("party.JSON: " + err.Error())
	}
	return Message{Data: b}
}

// String returns the message's data as a string.
func (m Message) String() string { return string(m.Data) }

// ConnInfo is what the request that opened a connection carried.
type ConnInfo struct {
	// ID is the connection's ID: partysocket's _pk query parameter (its
	// id option, kept across its reconnections), or a random UUID.
	ID string
	// URL is the request's URL (path and query).
	URL *url.URL
	// Header holds the request's headers.
	Header textproto.MIMEHeader
	// User is the verified token's subject, "" without a token.
	User string
	// ReadOnly: the token grants read access only, or the client asked
	// for ?readonly=1. The party decides what a read-only connection may
	// not do (the built-in parties refuse its posts and votes).
	ReadOnly bool
	// RemoteAddr is the client's address.
	RemoteAddr string
}

// Request is a plain HTTP request to /parties/{party}/{room}, read in full
// (its body is bounded by the server's --max-body-size).
type Request struct {
	Method string
	URL    *url.URL
	Header textproto.MIMEHeader
	Body   []byte
	// User and ReadOnly as in ConnInfo. A request other than GET or HEAD
	// needs write access before it reaches the party.
	User     string
	ReadOnly bool
}

// Response is OnRequest's answer.
type Response struct {
	Status int // 0 means 200
	Header textproto.MIMEHeader
	Body   []byte
}

// JSONResponse is a response with v as its JSON body.
func JSONResponse(status int, v any) *Response {
	b, err := json.Marshal(v)
	if err != nil {
		return &Response{Status: 500, Body: []byte(`{"error":"encoding the response failed"}`),
			Header: textproto.MIMEHeader{"Content-Type": {"application/json"}}}
	}
	return &Response{Status: status, Body: append(b, '\n'), Header: textproto.MIMEHeader{"Content-Type": {"application/json"}}}
}
