package yprotocol

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// batchFrames splits msg the way y-partykit's sendChunked does, with a
// chunk size small enough for tests.
func batchFrames(id string, msg []byte, chunkSize int) []frameIn {
	count := (len(msg) + chunkSize - 1) / chunkSize
	frames := []frameIn{marker(id, "start", len(msg), count)}
	for i := 0; i < len(msg); i += chunkSize {
		frames = append(frames, frameIn{data: msg[i:min(i+chunkSize, len(msg))]})
	}
	return append(frames, marker(id, "end", len(msg), count))
}

type frameIn struct {
	text bool
	data []byte
}

func marker(id, typ string, size, count int) frameIn {
	return frameIn{text: true, data: fmt.Appendf(nil, `y-pk-batch#{"id":%q,"type":%q,"size":%d,"count":%d}`, id, typ, size, count)}
}

func text(s string) frameIn { return frameIn{text: true, data: []byte(s)} }
func bin(b ...byte) frameIn { return frameIn{data: b} }

func TestReassembler(t *testing.T) {
	msg := []byte("0123456789abcdefghij")
	tests := []struct {
		name   string
		max    int
		frames []frameIn
		want   [][]byte // completed frames, in order
		err    error    // error from the last frame
	}{
		{name: "plain binary frames pass through", frames: []frameIn{bin(1, 2), bin(3)}, want: [][]byte{{1, 2}, {3}}},
		{name: "batch", frames: batchFrames("x1", msg, 7), want: [][]byte{msg}},
		{name: "batch between plain frames", frames: append(append([]frameIn{bin(1)}, batchFrames("k", msg, 20)...), bin(2)), want: [][]byte{{1}, msg, {2}}},
		{name: "two batches", frames: append(batchFrames("a", msg, 3), batchFrames("b", msg[:4], 3)...), want: [][]byte{msg, msg[:4]}},
		{name: "empty batch", frames: []frameIn{marker("e", "start", 0, 0), marker("e", "end", 0, 0)}, want: [][]byte{{}}},
		{name: "empty id", frames: batchFrames("", msg, 10), want: [][]byte{msg}},
		{name: "unknown fields ignored", frames: []frameIn{text(`y-pk-batch#{"id":"a","type":"start","size":1,"count":1,"v":2}`), bin(7), marker("a", "end", 1, 1)}, want: [][]byte{{7}}},
		{name: "at the size limit", max: 20, frames: batchFrames("m", msg, 8), want: [][]byte{msg}},

		{name: "over the size limit", max: 19, frames: batchFrames("m", msg, 8)[:1], err: ErrTooLarge},
		{name: "default size limit", frames: []frameIn{marker("m", "start", DefaultMaxBatchSize+1, 34)}, err: ErrTooLarge},
		{name: "text frame that is not a marker", frames: []frameIn{text("hello")}, err: ErrBatch},
		{name: "sentinel without #", frames: []frameIn{text(`y-pk-batch{"id":"a"}`)}, err: ErrBatch},
		{name: "longer sentinel", frames: []frameIn{text(`y-pk-batchx#{"id":"a","type":"start","size":1,"count":1}`)}, err: ErrBatch},
		{name: "marker not JSON", frames: []frameIn{text("y-pk-batch#{")}, err: ErrBatch},
		{name: "marker with trailing text", frames: []frameIn{text(`y-pk-batch#{"id":"a","type":"start","size":1,"count":1}#x`)}, err: ErrBatch},
		{name: "unknown marker type", frames: []frameIn{text(`y-pk-batch#{"id":"a","type":"middle","size":1,"count":1}`)}, err: ErrBatch},
		{name: "no id", frames: []frameIn{text(`y-pk-batch#{"type":"start","size":1,"count":1}`)}, err: ErrBatch},
		{name: "numeric id", frames: []frameIn{text(`y-pk-batch#{"id":5,"type":"start","size":1,"count":1}`)}, err: ErrBatch},
		{name: "no size", frames: []frameIn{text(`y-pk-batch#{"id":"a","type":"start","count":1}`)}, err: ErrBatch},
		{name: "negative size", frames: []frameIn{marker("a", "start", -1, 1)}, err: ErrBatch},
		{name: "fractional size", frames: []frameIn{text(`y-pk-batch#{"id":"a","type":"start","size":1.5,"count":1}`)}, err: ErrBatch},
		{name: "negative count", frames: []frameIn{marker("a", "start", 1, -1)}, err: ErrBatch},
		{name: "huge marker", frames: []frameIn{text(`y-pk-batch#{"id":"` + string(bytes.Repeat([]byte("a"), 2000)) + `","type":"start","size":1,"count":1}`)}, err: ErrBatch},
		{name: "end without start", frames: []frameIn{marker("a", "end", 1, 1)}, err: ErrBatch},
		{name: "start inside a batch", frames: []frameIn{marker("a", "start", 2, 1), marker("b", "start", 2, 1)}, err: ErrBatch},
		{name: "end of another batch", frames: []frameIn{marker("a", "start", 1, 1), bin(1), marker("b", "end", 1, 1)}, err: ErrBatch},
		{name: "end with another size", frames: []frameIn{marker("a", "start", 2, 1), bin(1), marker("a", "end", 1, 1)}, err: ErrBatch},
		{name: "end with another count", frames: []frameIn{marker("a", "start", 1, 1), bin(1), marker("a", "end", 1, 2)}, err: ErrBatch},
		{name: "too few chunks", frames: []frameIn{marker("a", "start", 2, 2), bin(1, 2), marker("a", "end", 2, 2)}, err: ErrBatch},
		{name: "too few bytes", frames: []frameIn{marker("a", "start", 3, 1), bin(1, 2), marker("a", "end", 3, 1)}, err: ErrBatch},
		{name: "too many chunks", frames: []frameIn{marker("a", "start", 3, 1), bin(1), bin(2)}, err: ErrBatch},
		{name: "too many bytes", frames: []frameIn{marker("a", "start", 2, 2), bin(1, 2, 3)}, err: ErrBatch},
		{name: "plain text inside a batch", frames: []frameIn{marker("a", "start", 2, 1), text("hi")}, err: ErrBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reassembler{MaxSize: tt.max}
			var got [][]byte
			for i, f := range tt.frames {
				msg, ok, err := r.Feed(f.text, f.data)
				last := i == len(tt.frames)-1
				if err != nil {
					if !last || tt.err == nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if !errors.Is(err, tt.err) {
						t.Fatalf("frame %d: error %v, want %v", i, err, tt.err)
					}
					if r.InProgress() {
						t.Error("Reassembler still in a batch after an error")
					}
					return
				}
				if ok {
					got = append(got, msg)
				} else if msg != nil {
					t.Errorf("frame %d: msg %x with ok false", i, msg)
				}
			}
			if tt.err != nil {
				t.Fatalf("no error, want %v", tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("completed %d frames, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) || got[i] == nil {
					t.Errorf("frame %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
			if r.InProgress() {
				t.Error("batch still in progress at the end")
			}
		})
	}
}

func TestReassemblerRecoversAfterError(t *testing.T) {
	var r Reassembler
	if _, _, err := r.Feed(true, []byte("nope")); err == nil {
		t.Fatal("no error for a stray text frame")
	}
	for _, f := range batchFrames("ok", []byte("abc"), 2) {
		msg, ok, err := r.Feed(f.text, f.data)
		if err != nil {
			t.Fatal(err)
		}
		if ok && string(msg) != "abc" {
			t.Fatalf("got %q", msg)
		}
	}
}

func TestReassemblerCopiesChunks(t *testing.T) {
	var r Reassembler
	chunk := []byte{1, 2, 3}
	r.Feed(true, marker("c", "start", 6, 2).data)
	r.Feed(false, chunk)
	chunk[0] = 9 // the transport reuses its buffer
	r.Feed(false, chunk)
	msg, ok, err := r.Feed(true, marker("c", "end", 6, 2).data)
	if err != nil || !ok || !bytes.Equal(msg, []byte{1, 2, 3, 9, 2, 3}) {
		t.Fatalf("got %x, %v, %v", msg, ok, err)
	}
}

// TestReassemblerMemory: a start marker alone does not make the Reassembler
// allocate what it announces.
func TestReassemblerMemory(t *testing.T) {
	r := Reassembler{MaxSize: 1 << 30}
	if _, _, err := r.Feed(true, marker("big", "start", 1<<30, 1074).data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Feed(false, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if c := cap(r.buf); c > 64<<10 {
		t.Errorf("after one byte of a 1 GiB batch the buffer holds %d bytes", c)
	}
}
