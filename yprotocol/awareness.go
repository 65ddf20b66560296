package yprotocol

import (
	"fmt"

	"github.com/collabd/collabd/lib0"
)

// AwarenessEntry is one client's entry in an awareness update.
type AwarenessEntry struct {
	// ClientID is the Yjs client ID (Y.Doc.clientID) the state belongs to.
	ClientID uint64
	// Clock orders the states of one client; a higher clock is newer.
	Clock uint64
	// State is the JSON text of the client's state as sent, aliasing the
	// payload it was decoded from. The JSON null (see IsNull) marks the
	// client as gone. Appending an entry with a nil State writes null.
	State []byte
}

// IsNull reports whether State is the JSON null (allowing the whitespace
// JSON allows around it), the marker of a removed client. A nil State
// counts as null.
func (e AwarenessEntry) IsNull() bool {
	if e.State == nil {
		return true
	}
	s := e.State
	for len(s) > 0 && isJSONSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isJSONSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return string(s) == "null"
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

var nullState = []byte("null")

// DecodeAwareness calls fn for each entry of an awareness update (the
// Payload of a KindAwareness message), in order, and stops at the first
// error: a decoding error wrapping ErrMalformed, or fn's error unchanged.
// Bytes after the last entry are an error. It checks that every state is
// UTF-8, not that it is JSON. Entries alias payload; decoding does not
// allocate.
func DecodeAwareness(payload []byte, fn func(AwarenessEntry) error) error {
	d := lib0.NewDecoder(payload)
	// An entry is at least 3 bytes: client ID, clock, string length.
	n, err := d.ReadCount(3)
	if err != nil {
		return fmt.Errorf("%w: awareness entry count: %w", ErrMalformed, err)
	}
	for i := range n {
		var e AwarenessEntry
		if e.ClientID, err = d.ReadVarUint(); err != nil {
			return fmt.Errorf("%w: awareness entry %d client ID: %w", ErrMalformed, i, err)
		}
		if e.Clock, err = d.ReadVarUint(); err != nil {
			return fmt.Errorf("%w: awareness entry %d clock: %w", ErrMalformed, i, err)
		}
		if e.State, err = d.SkipVarString(); err != nil {
			return fmt.Errorf("%w: awareness entry %d state: %w", ErrMalformed, i, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if d.Remaining() != 0 {
		return fmt.Errorf("%w: %d bytes after the last awareness entry", ErrMalformed, d.Remaining())
	}
	return nil
}

// AppendAwarenessUpdate appends the awareness update (the payload of an
// awareness message) listing entries in order.
func AppendAwarenessUpdate(dst []byte, entries []AwarenessEntry) []byte {
	dst = lib0.AppendVarUint(dst, uint64(len(entries)))
	for _, e := range entries {
		state := e.State
		if state == nil {
			state = nullState
		}
		dst = lib0.AppendVarUint(dst, e.ClientID)
		dst = lib0.AppendVarUint(dst, e.Clock)
		dst = appendVarBytes(dst, state)
	}
	return dst
}

// AppendAwareness appends an awareness message listing entries in order, as
// y-protocols' encodeAwarenessUpdate does for a list of clients.
func AppendAwareness(dst []byte, entries []AwarenessEntry) []byte {
	n := varUintLen(uint64(len(entries)))
	for _, e := range entries {
		state := len(e.State)
		if e.State == nil {
			state = len(nullState)
		}
		n += varUintLen(e.ClientID) + varUintLen(e.Clock) + varUintLen(uint64(state)) + state
	}
	dst = append(dst, TypeAwareness)
	dst = lib0.AppendVarUint(dst, uint64(n))
	return AppendAwarenessUpdate(dst, entries)
}
