package cluster

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var wireCases = []message{
	{Type: msgJoin, From: "n1-0a0b0c0d", Conn: 7, ReadOnly: true, Room: "notes/ünïcode", User: "ada"},
	{Type: msgJoin, From: "n1", Conn: 1},
	{Type: msgFrame, From: "n2", Conn: 1 << 40, Seq: 3, Payload: []byte{0, 2, 1, 9}},
	{Type: msgFrame, From: "n2", Conn: 1, Seq: 1},
	{Type: msgLeave, From: "n3", Conn: 99},
	{Type: msgOut, From: "n3", Conn: 99, Seq: 1 << 33, Payload: bytes.Repeat([]byte{1}, 300)},
	{Type: msgClosed, From: "n1", Conn: 5, Reason: reasonNotOwner},
	{Type: msgJoined, From: "n1", Conn: 5},
	{Type: msgBeat, From: "n1", Session: 4, SentNano: 1765000000000000000},
}

func TestWireRoundTrip(t *testing.T) {
	for _, want := range wireCases {
		got, err := decode(want.encode(nil))
		if err != nil {
			t.Fatalf("%v: %v", want.Type, err)
		}
		if len(got.Payload) == 0 {
			got.Payload = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %v: got %+v, want %+v", want.Type, got, want)
		}
	}
}

func TestWireBad(t *testing.T) {
	good := wireCases[0].encode(nil)
	cases := map[string][]byte{
		"empty":        {},
		"unknown type": {99, 1, 'n', 0},
		"no sender":    {byte(msgLeave), 0, 1},
		"truncated":    good[:len(good)-2],
		"trailing":     append(append([]byte(nil), wireCases[4].encode(nil)...), 0),
		"bad flags":    {byte(msgJoin), 1, 'n', 1, 2, 0, 0},
		"long string":  {byte(msgJoin), 0xff, 0xff, 0x03, 'n'},
		"overlong int": {byte(msgLeave), 1, 'n', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, b := range cases {
		if _, err := decode(b); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: got %v, want ErrBadMessage", name, err)
		}
	}
}

// FuzzDecode: decode never panics, and what it accepts encodes back to
// the same bytes.
func FuzzDecode(f *testing.F) {
	for _, m := range wireCases {
		f.Add(m.encode(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		if again := m.encode(nil); !bytes.Equal(again, b) {
			// Varints have one shortest form; decode accepts only what
			// encode writes, except non-minimal varints.
			m2, err := decode(again)
			if err != nil || !reflect.DeepEqual(m2.Type, m.Type) || m2.Conn != m.Conn || m2.Room != m.Room {
				t.Fatalf("re-encoding %x gave %x (%v)", b, again, err)
			}
		}
	})
}
