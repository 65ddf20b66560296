package yprotocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// BatchSentinel starts the text frames that delimit a y-partykit batch.
const BatchSentinel = "y-pk-batch"

// BatchChunkSize is the size of y-partykit's batch chunks; the provider
// batches frames longer than this.
const BatchChunkSize = 1_000_000

// DefaultMaxBatchSize is the limit on a reassembled frame when
// Reassembler.MaxSize is zero.
const DefaultMaxBatchSize = 32 << 20

// maxMarkerSize bounds a batch marker's text; real markers are under 100
// bytes.
const maxMarkerSize = 1024

var (
	// ErrBatch is wrapped by errors about a y-pk-batch sequence that is
	// malformed or out of order.
	ErrBatch = errors.New("yprotocol: bad y-pk-batch sequence")
	// ErrTooLarge is wrapped by the error about a batch announcing more
	// bytes than the Reassembler's MaxSize.
	ErrTooLarge = errors.New("yprotocol: batched message too large")
)

// batchMarker is the JSON after "y-pk-batch#".
type batchMarker struct {
	ID    *string `json:"id"`
	Type  string  `json:"type"`
	Size  *int64  `json:"size"`
	Count *int64  `json:"count"`
}

// Reassembler turns the frames a y-partykit provider sends into whole binary
// frames, undoing its batching of frames over BatchChunkSize (see the
// package documentation). Feed it every frame a connection receives, in
// order. It is owned by the connection's read loop and not safe for
// concurrent use; the zero value is ready.
//
// Unlike y-partykit's own server, which drops an unfinished batch when a new
// one starts and ignores stray end markers, the Reassembler treats every
// departure from start, COUNT chunks, end as an error. After an error it is
// back at its initial state; the caller is expected to close the connection.
type Reassembler struct {
	// MaxSize is the largest frame a batch may announce, in bytes; 0 means
	// DefaultMaxBatchSize. Memory held for a batch grows with the chunks
	// received, never beyond the announced size.
	MaxSize int

	active bool
	id     string
	size   int64 // announced total size
	count  int64 // announced number of chunks
	chunks int64 // chunks received
	buf    []byte
}

// InProgress reports whether a batch has started and not yet ended.
func (r *Reassembler) InProgress() bool { return r.active }

// Reset drops any unfinished batch.
func (r *Reassembler) Reset() {
	r.active, r.id, r.size, r.count, r.chunks, r.buf = false, "", 0, 0, 0, nil
}

// Feed takes one frame, text or binary, and returns a complete binary frame
// when one is available (ok is true): an ordinary binary frame outside a
// batch, returned as is, or the reassembled frame when a batch's end marker
// arrives, which the caller then owns. Start markers and chunks return ok
// false. Errors wrap ErrBatch or ErrTooLarge.
func (r *Reassembler) Feed(text bool, frame []byte) (msg []byte, ok bool, err error) {
	if !text {
		if !r.active {
			return frame, true, nil
		}
		return nil, false, r.chunk(frame)
	}
	m, err := parseMarker(frame)
	if err != nil {
		r.Reset()
		return nil, false, err
	}
	switch m.Type {
	case "start":
		return nil, false, r.start(m)
	default: // "end"
		msg, err := r.end(m)
		return msg, err == nil, err
	}
}

func (r *Reassembler) start(m batchMarker) error {
	if r.active {
		id := r.id
		r.Reset()
		return fmt.Errorf("%w: start of batch %q before batch %q ended", ErrBatch, *m.ID, id)
	}
	limit := int64(r.MaxSize)
	if limit <= 0 {
		limit = DefaultMaxBatchSize
	}
	if *m.Size > limit {
		return fmt.Errorf("%w: batch %q announces %d bytes, limit %d", ErrTooLarge, *m.ID, *m.Size, limit)
	}
	r.active, r.id, r.size, r.count, r.chunks, r.buf = true, *m.ID, *m.Size, *m.Count, 0, nil
	return nil
}

func (r *Reassembler) chunk(b []byte) error {
	if r.chunks >= r.count {
		err := fmt.Errorf("%w: batch %q: more than the announced %d chunks", ErrBatch, r.id, r.count)
		r.Reset()
		return err
	}
	need := int64(len(r.buf)) + int64(len(b))
	if need > r.size {
		err := fmt.Errorf("%w: batch %q: chunks exceed the announced %d bytes", ErrBatch, r.id, r.size)
		r.Reset()
		return err
	}
	if need > int64(cap(r.buf)) {
		// Grow with the data received, never past the announced size.
		n := min(max(2*int64(cap(r.buf)), need, 64<<10), r.size)
		buf := make([]byte, len(r.buf), n)
		copy(buf, r.buf)
		r.buf = buf
	}
	r.buf = append(r.buf, b...)
	r.chunks++
	return nil
}

func (r *Reassembler) end(m batchMarker) ([]byte, error) {
	if !r.active {
		return nil, fmt.Errorf("%w: end of batch %q that did not start", ErrBatch, *m.ID)
	}
	defer r.Reset()
	switch {
	case *m.ID != r.id:
		return nil, fmt.Errorf("%w: end of batch %q inside batch %q", ErrBatch, *m.ID, r.id)
	case *m.Size != r.size || *m.Count != r.count:
		return nil, fmt.Errorf("%w: batch %q ends with size %d, count %d but started with size %d, count %d",
			ErrBatch, r.id, *m.Size, *m.Count, r.size, r.count)
	case r.chunks != r.count || int64(len(r.buf)) != r.size:
		return nil, fmt.Errorf("%w: batch %q: received %d chunks, %d bytes; announced %d chunks, %d bytes",
			ErrBatch, r.id, r.chunks, len(r.buf), r.count, r.size)
	}
	msg := r.buf
	if msg == nil {
		msg = []byte{}
	}
	return msg, nil
}

// parseMarker parses a "y-pk-batch#{...}" text frame.
func parseMarker(frame []byte) (batchMarker, error) {
	var m batchMarker
	rest, found := bytes.CutPrefix(frame, []byte(BatchSentinel+"#"))
	if !found {
		return m, fmt.Errorf("%w: text frame %.40q is not a %s marker", ErrBatch, frame, BatchSentinel)
	}
	if len(frame) > maxMarkerSize {
		return m, fmt.Errorf("%w: marker of %d bytes", ErrBatch, len(frame))
	}
	if err := json.Unmarshal(rest, &m); err != nil {
		return m, fmt.Errorf("%w: marker %q: %w", ErrBatch, frame, err)
	}
	switch {
	case m.Type != "start" && m.Type != "end":
		return m, fmt.Errorf("%w: marker %q: type is not start or end", ErrBatch, frame)
	case m.ID == nil:
		return m, fmt.Errorf("%w: marker %q: no id", ErrBatch, frame)
	case m.Size == nil || *m.Size < 0:
		return m, fmt.Errorf("%w: marker %q: no valid size", ErrBatch, frame)
	case m.Count == nil || *m.Count < 0:
		return m, fmt.Errorf("%w: marker %q: no valid count", ErrBatch, frame)
	}
	return m, nil
}
