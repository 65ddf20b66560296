// Package yprotocol encodes and decodes the frames of the y-websocket wire
// protocol that stock Yjs providers (y-websocket's WebsocketProvider,
// y-partykit's YPartyKitProvider) speak, and reassembles y-partykit's
// batched frames. It is a pure codec: no I/O, no state beyond a
// Reassembler's current batch, integers in lib0's varUint encoding.
//
// # Frames
//
// A binary WebSocket frame holds one or more messages back to back. Each
// message is a varUint outer type followed by its payload:
//
//	0 sync       varUint sub-type, then
//	               0 SyncStep1: varByteArray state vector
//	               1 SyncStep2: varByteArray update (Yjs update format v1)
//	               2 Update:    varByteArray update
//	1 awareness  varByteArray holding varUint n, then n entries of
//	             varUint clientID, varUint clock, varString JSON state
//	             (the JSON text null marks a client as gone)
//	2 auth       varUint 0 (permission denied), varString reason
//	3 query      no payload; the peer answers with its awareness state
//
// The stock providers write one message per frame and, more to the point,
// read only the first message of every frame they receive (the rest is
// ignored), so a server must send each message in its own frame. Decode
// nevertheless reads every message of a frame. An outer type, sync sub-type
// or auth sub-type outside the table above cannot be skipped (the payload
// length depends on the type), so it ends decoding of the frame with an
// error wrapping ErrUnknownMessage; anything else that does not parse is an
// error wrapping ErrMalformed.
//
// # y-partykit batches
//
// YPartyKitProvider (y-partykit 0.0.33, src/chunking.ts) sends a frame of
// more than 1,000,000 bytes as a batch: a text frame
//
//	y-pk-batch#{"id":ID,"type":"start","size":SIZE,"count":COUNT}
//
// then COUNT binary frames holding consecutive slices of the original frame
// (1,000,000 bytes each, the last one shorter), then a text frame
//
//	y-pk-batch#{"id":ID,"type":"end","size":SIZE,"count":COUNT}
//
// ID is a short random base-36 string, SIZE the total byte length and
// COUNT the number of binary frames, repeated identically in the end marker.
// The y-partykit server checks that start and end agree and that the chunks
// add up, then handles the concatenation as one binary frame. The traffic
// is one-way: the y-partykit server never batches what it sends, and the
// provider ignores every text frame it receives, so a server must send large
// frames whole (there is no encoder here). Reassembler implements the
// receiving side.
//
// # Aliasing
//
// Byte slices in a decoded Message or AwarenessEntry alias the frame they
// were decoded from; copy them to keep them after the frame's buffer is
// reused. Append functions follow the append convention: they return dst
// extended with the encoding.
package yprotocol

import (
	"errors"
	"fmt"

	"github.com/collabd/collabd/lib0"
)

// Outer message types.
const (
	TypeSync           = 0
	TypeAwareness      = 1
	TypeAuth           = 2
	TypeQueryAwareness = 3
)

// Sync sub-types.
const (
	SyncStep1  = 0
	SyncStep2  = 1
	SyncUpdate = 2
)

// AuthPermissionDenied is the only auth sub-type.
const AuthPermissionDenied = 0

var (
	// ErrMalformed is wrapped by every error about bytes that do not parse:
	// an empty frame, a truncated message, a bad varint or length, a string
	// that is not UTF-8, trailing bytes inside an awareness payload.
	ErrMalformed = errors.New("yprotocol: malformed message")
	// ErrUnknownMessage is wrapped by errors about an outer type, sync
	// sub-type or auth sub-type the protocol does not define. The reference
	// servers ignore such messages; since the payload length is unknown, the
	// rest of the frame cannot be read.
	ErrUnknownMessage = errors.New("yprotocol: unknown message type")
)

// Kind identifies a decoded message.
type Kind uint8

// Message kinds.
const (
	KindSyncStep1        Kind = iota + 1 // Payload: encoded state vector
	KindSyncStep2                        // Payload: Yjs update (v1)
	KindUpdate                           // Payload: Yjs update (v1)
	KindAwareness                        // Payload: awareness update (see DecodeAwareness)
	KindPermissionDenied                 // Payload: UTF-8 reason
	KindQueryAwareness                   // no payload
)

var kindNames = [...]string{
	KindSyncStep1:        "sync step 1",
	KindSyncStep2:        "sync step 2",
	KindUpdate:           "update",
	KindAwareness:        "awareness",
	KindPermissionDenied: "permission denied",
	KindQueryAwareness:   "query awareness",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Message is one decoded message. Payload and Raw alias the frame.
type Message struct {
	Kind Kind
	// Payload is the message's content without its framing: the state
	// vector, the update, the awareness update (varUint n and the entries),
	// or the permission-denied reason. Nil for KindQueryAwareness.
	Payload []byte
	// Raw is the whole encoded message, outer type included, as it appeared
	// in the frame: relaying Raw relays the message unchanged.
	Raw []byte
}

// Reason returns the reason of a permission-denied message.
func (m Message) Reason() string {
	if m.Kind != KindPermissionDenied {
		return ""
	}
	return string(m.Payload)
}

// Decode calls fn for each message of frame, in order. It stops at the
// first error, either a decoding error (wrapping ErrMalformed or
// ErrUnknownMessage, after fn has seen the messages before it) or an error
// fn returns, which Decode returns unchanged. An empty frame is malformed.
//
// Decode allocates nothing but its errors; the Messages it passes alias
// frame. It checks
// the structure of awareness payloads (entries, UTF-8) but not the JSON in
// them, and treats state vectors and updates as opaque bytes.
func Decode(frame []byte, fn func(Message) error) error {
	if len(frame) == 0 {
		return fmt.Errorf("decode frame: %w: empty frame", ErrMalformed)
	}
	d := lib0.NewDecoder(frame)
	for i := 0; d.Remaining() > 0; i++ {
		start := d.Pos()
		m, err := readMessage(d)
		if err != nil {
			return fmt.Errorf("decode message %d at byte %d: %w", i, start, err)
		}
		m.Raw = d.Since(start)
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// readMessage reads one message (without Raw) from d.
func readMessage(d *lib0.Decoder) (Message, error) {
	typ, err := d.ReadVarUint()
	if err != nil {
		return Message{}, fmt.Errorf("%w: message type: %w", ErrMalformed, err)
	}
	switch typ {
	case TypeSync:
		sub, err := d.ReadVarUint()
		if err != nil {
			return Message{}, fmt.Errorf("%w: sync sub-type: %w", ErrMalformed, err)
		}
		var kind Kind
		switch sub {
		case SyncStep1:
			kind = KindSyncStep1
		case SyncStep2:
			kind = KindSyncStep2
		case SyncUpdate:
			kind = KindUpdate
		default:
			return Message{}, fmt.Errorf("%w: sync sub-type %d", ErrUnknownMessage, sub)
		}
		p, err := d.ReadVarBytes()
		if err != nil {
			return Message{}, fmt.Errorf("%w: %v payload: %w", ErrMalformed, kind, err)
		}
		return Message{Kind: kind, Payload: p}, nil
	case TypeAwareness:
		p, err := d.ReadVarBytes()
		if err != nil {
			return Message{}, fmt.Errorf("%w: awareness payload: %w", ErrMalformed, err)
		}
		if err := DecodeAwareness(p, func(AwarenessEntry) error { return nil }); err != nil {
			return Message{}, err
		}
		return Message{Kind: KindAwareness, Payload: p}, nil
	case TypeAuth:
		sub, err := d.ReadVarUint()
		if err != nil {
			return Message{}, fmt.Errorf("%w: auth sub-type: %w", ErrMalformed, err)
		}
		if sub != AuthPermissionDenied {
			return Message{}, fmt.Errorf("%w: auth sub-type %d", ErrUnknownMessage, sub)
		}
		reason, err := d.SkipVarString()
		if err != nil {
			return Message{}, fmt.Errorf("%w: permission-denied reason: %w", ErrMalformed, err)
		}
		return Message{Kind: KindPermissionDenied, Payload: reason}, nil
	case TypeQueryAwareness:
		return Message{Kind: KindQueryAwareness}, nil
	default:
		return Message{}, fmt.Errorf("%w %d", ErrUnknownMessage, typ)
	}
}

// AppendSyncStep1 appends a sync step 1 message carrying the encoded state
// vector sv.
func AppendSyncStep1(dst, sv []byte) []byte { return appendSync(dst, SyncStep1, sv) }

// AppendSyncStep2 appends a sync step 2 message carrying a Yjs update.
func AppendSyncStep2(dst, update []byte) []byte { return appendSync(dst, SyncStep2, update) }

// AppendUpdate appends a sync update message carrying a Yjs update.
func AppendUpdate(dst, update []byte) []byte { return appendSync(dst, SyncUpdate, update) }

func appendSync(dst []byte, sub uint64, p []byte) []byte {
	dst = append(dst, TypeSync, byte(sub))
	return appendVarBytes(dst, p)
}

// AppendPermissionDenied appends an auth message denying permission, with a
// human-readable reason (the providers log it).
func AppendPermissionDenied(dst []byte, reason string) []byte {
	dst = append(dst, TypeAuth, AuthPermissionDenied)
	dst = lib0.AppendVarUint(dst, uint64(len(reason)))
	return append(dst, reason...)
}

// AppendQueryAwareness appends a query-awareness message, which asks the
// peer for its full awareness state.
func AppendQueryAwareness(dst []byte) []byte { return append(dst, TypeQueryAwareness) }

// AppendAwarenessPayload appends an awareness message whose payload, an
// encoded awareness update (varUint n and n entries), is already at hand.
func AppendAwarenessPayload(dst, payload []byte) []byte {
	dst = append(dst, TypeAwareness)
	return appendVarBytes(dst, payload)
}

// AppendMessage appends m encoded from its Kind and Payload (Raw is
// ignored). For a message Decode returned, the result equals m.Raw unless
// the sender padded its varints (lib0 never does).
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	switch m.Kind {
	case KindSyncStep1:
		return AppendSyncStep1(dst, m.Payload), nil
	case KindSyncStep2:
		return AppendSyncStep2(dst, m.Payload), nil
	case KindUpdate:
		return AppendUpdate(dst, m.Payload), nil
	case KindAwareness:
		return AppendAwarenessPayload(dst, m.Payload), nil
	case KindPermissionDenied:
		return AppendPermissionDenied(dst, string(m.Payload)), nil
	case KindQueryAwareness:
		return AppendQueryAwareness(dst), nil
	}
	return dst, fmt.Errorf("yprotocol: append message: unknown kind %v", m.Kind)
}

func appendVarBytes(dst, b []byte) []byte {
	dst = lib0.AppendVarUint(dst, uint64(len(b)))
	return append(dst, b...)
}

// varUintLen is the length of v's varUint encoding.
func varUintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
