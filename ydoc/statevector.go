package ydoc

import (
	"fmt"
	"slices"

	"github.com/collabd/collabd/lib0"
)

// StateVector maps a client id to the number of clocks of that client a
// document holds (its next expected clock).
type StateVector map[uint64]uint64

// Encode returns the state vector in Yjs's encoding (as SyncStep1 carries
// it): a count, then (client, clock) pairs, clients in descending order.
func (sv StateVector) Encode() []byte {
	var e lib0.Encoder
	sv.write(&e)
	return e.Buf
}

func (sv StateVector) write(e *lib0.Encoder) {
	clients := make([]uint64, 0, len(sv))
	for c := range sv {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	e.WriteVarUint(uint64(len(clients)))
	for i := len(clients) - 1; i >= 0; i-- {
		e.WriteVarUint(clients[i])
		e.WriteVarUint(sv[clients[i]])
	}
}

// DecodeStateVector decodes an encoded state vector. An empty input is an
// empty state vector (Yjs treats a missing state vector so).
func DecodeStateVector(b []byte) (StateVector, error) {
	if len(b) == 0 {
		return StateVector{}, nil
	}
	d := lib0.NewDecoder(b)
	n, err := d.ReadCount(2)
	if err != nil {
		return nil, fmt.Errorf("%w: count: %w", ErrInvalidStateVector, err)
	}
	sv := make(StateVector, n)
	for range n {
		c, err := d.ReadVarUint()
		if err != nil {
			return nil, fmt.Errorf("%w: client: %w", ErrInvalidStateVector, clientErr(err))
		}
		k, err := d.ReadVarUint()
		if err != nil {
			return nil, fmt.Errorf("%w: clock: %w", ErrInvalidStateVector, err)
		}
		sv[c] = k
	}
	return sv, nil
}

// EncodeStateVector returns the document's encoded state vector.
func (d *Doc) EncodeStateVector() []byte { return d.StateVector().Encode() }
