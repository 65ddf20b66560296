package yprotocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/collabd/collabd/lib0"
)

func decodeAll(frame []byte) ([]Message, error) {
	var ms []Message
	err := Decode(frame, func(m Message) error {
		ms = append(ms, m)
		return nil
	})
	return ms, err
}

func TestDecodeErrors(t *testing.T) {
	long := lib0.AppendVarUint(nil, lib0.MaxSafeInteger)
	tests := []struct {
		name  string
		frame []byte
		want  error
		valid int // messages delivered before the error
	}{
		{"empty frame", nil, ErrMalformed, 0},
		{"truncated type", []byte{0x80}, ErrMalformed, 0},
		{"type overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformed, 0},
		{"unknown type", []byte{4}, ErrUnknownMessage, 0},
		{"unknown type after a message", []byte{3, 0x7f}, ErrUnknownMessage, 1},
		{"large unknown type", []byte{0x80, 0x01}, ErrUnknownMessage, 0},
		{"sync without sub-type", []byte{0}, ErrMalformed, 0},
		{"unknown sync sub-type", []byte{0, 3, 0}, ErrUnknownMessage, 0},
		{"sync without payload", []byte{0, 0}, ErrMalformed, 0},
		{"sync payload truncated", []byte{0, 2, 5, 1, 2}, ErrMalformed, 0},
		{"sync payload length huge", append([]byte{0, 1}, long...), ErrMalformed, 0},
		{"awareness without payload", []byte{1}, ErrMalformed, 0},
		{"awareness payload truncated", []byte{1, 4, 1, 1}, ErrMalformed, 0},
		{"awareness count beyond payload", []byte{1, 4, 2, 1, 1, 0}, ErrMalformed, 0},
		{"awareness entry truncated", []byte{1, 3, 1, 1, 1}, ErrMalformed, 0},
		{"awareness state not UTF-8", []byte{1, 5, 1, 1, 1, 1, 0xff}, ErrMalformed, 0},
		{"awareness trailing bytes", []byte{1, 2, 0, 0}, ErrMalformed, 0},
		{"awareness count huge", append([]byte{1, byte(len(long))}, long...), ErrMalformed, 0},
		{"auth without sub-type", []byte{2}, ErrMalformed, 0},
		{"unknown auth sub-type", []byte{2, 1, 0}, ErrUnknownMessage, 0},
		{"reason truncated", []byte{2, 0, 3, 'a'}, ErrMalformed, 0},
		{"reason not UTF-8", []byte{2, 0, 1, 0xc0}, ErrMalformed, 0},
		{"second message truncated", []byte{3, 0, 2, 1}, ErrMalformed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := decodeAll(tt.frame)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%x) error = %v, want %v", tt.frame, err, tt.want)
			}
			other := ErrMalformed
			if tt.want == ErrMalformed {
				other = ErrUnknownMessage
			}
			if errors.Is(err, other) {
				t.Errorf("error %v wraps both sentinels", err)
			}
			if len(ms) != tt.valid {
				t.Errorf("fn saw %d messages before the error, want %d", len(ms), tt.valid)
			}
			if !strings.HasPrefix(err.Error(), "decode ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

func TestDecodeStopsOnCallbackError(t *testing.T) {
	frame := AppendQueryAwareness(AppendQueryAwareness(nil))
	stop := errors.New("stop")
	calls := 0
	err := Decode(frame, func(Message) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("Decode = %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func TestDecodeAliasesFrame(t *testing.T) {
	frame := AppendUpdate(AppendSyncStep1(nil, []byte{1, 2}), []byte{3, 4, 5})
	ms, err := decodeAll(frame)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Decode = %d messages, %v", len(ms), err)
	}
	if !bytes.Equal(ms[0].Raw, frame[:5]) || !bytes.Equal(ms[1].Raw, frame[5:]) {
		t.Errorf("Raw = %x, %x; want %x, %x", ms[0].Raw, ms[1].Raw, frame[:5], frame[5:])
	}
	ms[1].Payload[0] = 9
	if frame[8] != 9 {
		t.Error("Payload does not alias the frame")
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	frame := AppendSyncStep1(nil, []byte{1, 2})
	frame = AppendAwareness(frame, []AwarenessEntry{{ClientID: 1, Clock: 2, State: []byte(`{"a":1}`)}, {ClientID: 3, Clock: 4}})
	frame = AppendPermissionDenied(frame, "no")
	frame = AppendQueryAwareness(frame)
	n := 0
	count := func(Message) error { n++; return nil }
	allocs := testing.AllocsPerRun(100, func() {
		if err := Decode(frame, count); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocated %v times per frame", allocs)
	}
}

func TestEncoders(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"sync step 1", AppendSyncStep1(nil, []byte{0}), []byte{0, 0, 1, 0}},
		{"sync step 2", AppendSyncStep2(nil, []byte{0, 0}), []byte{0, 1, 2, 0, 0}},
		{"update", AppendUpdate(nil, nil), []byte{0, 2, 0}},
		{"update appends", AppendUpdate([]byte{9}, []byte{7}), []byte{9, 0, 2, 1, 7}},
		{"long update", AppendUpdate(nil, make([]byte, 200))[:4], []byte{0, 2, 0xc8, 0x01}},
		{"permission denied", AppendPermissionDenied(nil, "ro"), []byte{2, 0, 2, 'r', 'o'}},
		{"query awareness", AppendQueryAwareness(nil), []byte{3}},
		{"awareness, nil state is null", AppendAwareness(nil, []AwarenessEntry{{ClientID: 300, Clock: 1}}),
			[]byte{1, 9, 1, 0xac, 0x02, 1, 4, 'n', 'u', 'l', 'l'}},
		{"awareness, empty", AppendAwareness(nil, nil), []byte{1, 1, 0}},
		{"awareness payload", AppendAwarenessPayload(nil, []byte{0}), []byte{1, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Errorf("got %x, want %x", tt.got, tt.want)
			}
		})
	}
}

func TestAppendAwarenessLongPayload(t *testing.T) {
	// A payload over 127 bytes needs a two-byte length; the precomputed
	// length must match what is written.
	state := []byte(`"` + strings.Repeat("x", 300) + `"`)
	entries := []AwarenessEntry{{ClientID: 1 << 32, Clock: 1 << 20, State: state}, {ClientID: 5, Clock: 0, State: nil}}
	frame := AppendAwareness(nil, entries)
	ms, err := decodeAll(frame)
	if err != nil || len(ms) != 1 || ms[0].Kind != KindAwareness {
		t.Fatalf("Decode = %v, %v", ms, err)
	}
	if got := AppendAwarenessUpdate(nil, entries); !bytes.Equal(got, ms[0].Payload) {
		t.Error("AppendAwareness and AppendAwarenessUpdate disagree")
	}
}

func TestAppendMessageUnknownKind(t *testing.T) {
	if got, err := AppendMessage([]byte{1}, Message{Kind: 0}); err == nil || !bytes.Equal(got, []byte{1}) {
		t.Errorf("AppendMessage(kind 0) = %x, %v; want an error and dst unchanged", got, err)
	}
}

func TestIsNull(t *testing.T) {
	tests := []struct {
		state string
		nilSt bool
		want  bool
	}{
		{nilSt: true, want: true},
		{state: "null", want: true},
		{state: " \tnull\r\n", want: true},
		{state: "", want: false},
		{state: "nul", want: false},
		{state: "nullx", want: false},
		{state: `"null"`, want: false},
		{state: "{}", want: false},
	}
	for _, tt := range tests {
		e := AwarenessEntry{State: []byte(tt.state)}
		if tt.nilSt {
			e.State = nil
		}
		if got := e.IsNull(); got != tt.want {
			t.Errorf("IsNull(%q, nil=%v) = %v, want %v", tt.state, tt.nilSt, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	if KindSyncStep2.String() != "sync step 2" || Kind(0).String() != "Kind(0)" || Kind(99).String() != "Kind(99)" {
		t.Errorf("Kind.String: %v %v %v", KindSyncStep2, Kind(0), Kind(99))
	}
	if (Message{Kind: KindUpdate, Payload: []byte("x")}).Reason() != "" {
		t.Error("Reason of a non-auth message")
	}
}

// TestAwarenessClientIDRange: client IDs up to 2^53-1 (what y-protocols,
// with JavaScript numbers, decodes) round-trip; 2^53 is malformed.
func TestAwarenessClientIDRange(t *testing.T) {
	for _, id := range []uint64{1 << 32, 1<<53 - 1} {
		b := AppendAwarenessUpdate(nil, []AwarenessEntry{{ClientID: id, Clock: 1<<53 - 1, State: []byte("{}")}})
		var got []AwarenessEntry
		if err := DecodeAwareness(b, func(e AwarenessEntry) error { got = append(got, e); return nil }); err != nil {
			t.Fatalf("client %d: %v", id, err)
		}
		if len(got) != 1 || got[0].ClientID != id || got[0].Clock != 1<<53-1 {
			t.Fatalf("client %d: decoded %+v", id, got)
		}
	}
	b := AppendAwarenessUpdate(nil, []AwarenessEntry{{ClientID: 1 << 53, Clock: 1, State: []byte("{}")}})
	err := DecodeAwareness(b, func(AwarenessEntry) error { return nil })
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "client ID") {
		t.Fatalf("client 2^53: %v", err)
	}
}
