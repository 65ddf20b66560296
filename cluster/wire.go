package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The bus messages between nodes. Each is one bus message:
//
//	type byte | from string | conn uvarint | rest by type
//
// where a string is a uvarint length and its bytes, and from is the
// sending node's instance (its subject on the bus). conn is the forwarding
// node's id of the client connection (0 in a heartbeat).
//
//	join   forwarder -> owner   flags byte (1 read-only) | room string | user string
//	frame  forwarder -> owner   seq uvarint | the client's frame (to the end)
//	leave  forwarder -> owner   (nothing)
//	out    owner -> forwarder   seq uvarint | a frame for the client (to the end)
//	closed owner -> forwarder   reason uvarint
//	joined owner -> forwarder   (nothing)
//	beat   everyone             session uvarint | sent unix nanoseconds uvarint
//
// seq counts the frames of one connection in one direction from 1; a
// receiver that sees a number other than the next one has lost a message
// and closes the connection, whose client then resyncs from the owner.
type msgType byte

const (
	msgJoin msgType = iota + 1
	msgFrame
	msgLeave
	msgOut
	msgClosed
	msgJoined
	msgBeat
)

func (t msgType) String() string {
	switch t {
	case msgJoin:
		return "join"
	case msgFrame:
		return "frame"
	case msgLeave:
		return "leave"
	case msgOut:
		return "out"
	case msgClosed:
		return "closed"
	case msgJoined:
		return "joined"
	case msgBeat:
		return "beat"
	}
	return fmt.Sprintf("type %d", byte(t))
}

// Limits of a decoded message's strings: a room name is at most 256 bytes
// (server.MaxRoomNameLength), the others are short too.
const maxWireString = 1024

// message is a decoded bus message. Payload aliases the buffer decoded.
type message struct {
	Type     msgType
	From     string
	Conn     uint64
	ReadOnly bool   // join
	Room     string // join
	User     string // join
	Seq      uint64 // frame, out
	Payload  []byte // frame, out
	Reason   uint64 // closed
	Session  uint64 // beat
	SentNano uint64 // beat
}

// ErrBadMessage is wrapped by errors of decode.
var ErrBadMessage = errors.New("cluster: bad bus message")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encode appends m to b.
func (m *message) encode(b []byte) []byte {
	b = append(b, byte(m.Type))
	b = appendString(b, m.From)
	b = binary.AppendUvarint(b, m.Conn)
	switch m.Type {
	case msgJoin:
		var flags byte
		if m.ReadOnly {
			flags = 1
		}
		b = append(b, flags)
		b = appendString(b, m.Room)
		b = appendString(b, m.User)
	case msgFrame, msgOut:
		b = binary.AppendUvarint(b, m.Seq)
		b = append(b, m.Payload...)
	case msgClosed:
		b = binary.AppendUvarint(b, m.Reason)
	case msgBeat:
		b = binary.AppendUvarint(b, m.Session)
		b = binary.AppendUvarint(b, m.SentNano)
	}
	return b
}

// reader decodes the fields of a message; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrBadMessage, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("truncated or overlong " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte1(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("missing " + what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) string(what string) string {
	n := r.uvarint(what + " length")
	if r.err != nil {
		return ""
	}
	if n > maxWireString || n > uint64(len(r.b)) {
		r.fail(what + " longer than the message or the limit")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// decode parses one bus message. Every malformed input is an error
// wrapping ErrBadMessage; nothing is allocated beyond the strings.
func decode(b []byte) (message, error) {
	r := reader{b: b}
	var m message
	m.Type = msgType(r.byte1("type"))
	m.From = r.string("sender")
	m.Conn = r.uvarint("connection")
	switch m.Type {
	case msgJoin:
		flags := r.byte1("flags")
		if flags&^1 != 0 {
			r.fail("unknown join flags")
		}
		m.ReadOnly = flags&1 != 0
		m.Room = r.string("room")
		m.User = r.string("user")
	case msgFrame, msgOut:
		m.Seq = r.uvarint("sequence number")
		m.Payload = r.b
		r.b = nil
	case msgLeave, msgJoined:
	case msgClosed:
		m.Reason = r.uvarint("reason")
	case msgBeat:
		m.Session = r.uvarint("session")
		m.SentNano = r.uvarint("time")
	default:
		if r.err == nil {
			r.fail(fmt.Sprintf("unknown type %d", byte(m.Type)))
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail(fmt.Sprintf("%d bytes after the %s message", len(r.b), m.Type))
	}
	if r.err == nil && m.From == "" {
		r.fail("no sender")
	}
	if r.err != nil {
		return message{}, r.err
	}
	return m, nil
}
