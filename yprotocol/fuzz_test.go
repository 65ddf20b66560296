package yprotocol

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecode(f *testing.F) {
	g := loadGolden(f)
	for _, fr := range g.Frames {
		if len(fr.Hex) < 8192 {
			f.Add(mustHex(f, fr.Hex))
		}
	}
	for _, fr := range g.ClientFrames {
		f.Add(mustHex(f, fr.Hex))
	}
	f.Add([]byte{})
	f.Add([]byte{4})
	f.Add([]byte{2, 1, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var rebuilt []byte
		n := 0
		err := Decode(frame, func(m Message) error {
			n++
			if len(m.Raw) == 0 || len(m.Payload) > len(m.Raw) {
				t.Fatalf("message %d: Raw %d bytes, Payload %d bytes", n, len(m.Raw), len(m.Payload))
			}
			// Each message re-encodes to something that decodes to the same
			// message.
			enc, err := AppendMessage(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			var again []Message
			if err := Decode(enc, func(m2 Message) error { again = append(again, m2); return nil }); err != nil {
				t.Fatalf("re-encoded message does not decode: %v", err)
			}
			if len(again) != 1 || again[0].Kind != m.Kind || !bytes.Equal(again[0].Payload, m.Payload) || !bytes.Equal(again[0].Raw, enc) {
				t.Fatalf("message %v changed on re-encoding", m.Kind)
			}
			if m.Kind == KindAwareness {
				var entries []AwarenessEntry
				if err := DecodeAwareness(m.Payload, func(e AwarenessEntry) error { entries = append(entries, e); return nil }); err != nil {
					t.Fatalf("Decode accepted an awareness payload DecodeAwareness rejects: %v", err)
				}
				a := AppendAwareness(nil, entries)
				if b := AppendAwarenessPayload(nil, AppendAwarenessUpdate(nil, entries)); !bytes.Equal(a, b) {
					t.Fatalf("AppendAwareness %x != AppendAwarenessPayload %x", a, b)
				}
			}
			rebuilt = append(rebuilt, m.Raw...)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownMessage) {
				t.Fatalf("error wraps neither sentinel: %v", err)
			}
			if !bytes.HasPrefix(frame, rebuilt) {
				t.Fatal("messages before the error are not a prefix of the frame")
			}
			return
		}
		if !bytes.Equal(rebuilt, frame) {
			t.Fatalf("messages' Raw bytes do not add up to the frame")
		}
	})
}

func FuzzDecodeAwareness(f *testing.F) {
	g := loadGolden(f)
	for _, fr := range g.Frames {
		for _, m := range fr.Messages {
			if m.Kind == "awareness" {
				f.Add(mustHex(f, m.Payload))
			}
		}
	}
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		var entries []AwarenessEntry
		err := DecodeAwareness(payload, func(e AwarenessEntry) error { entries = append(entries, e); return nil })
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(entries) > len(payload)/3 {
			t.Fatalf("%d entries from %d bytes", len(entries), len(payload))
		}
		enc := AppendAwarenessUpdate(nil, entries)
		var again []AwarenessEntry
		if err := DecodeAwareness(enc, func(e AwarenessEntry) error { again = append(again, e); return nil }); err != nil {
			t.Fatalf("re-encoded update does not decode: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d entries after re-encoding, want %d", len(again), len(entries))
		}
		for i := range again {
			a, b := again[i], entries[i]
			if a.ClientID != b.ClientID || a.Clock != b.Clock || !bytes.Equal(a.State, b.State) {
				t.Fatalf("entry %d changed on re-encoding", i)
			}
		}
	})
}

func FuzzReassembler(f *testing.F) {
	// Each input is a sequence of frames: a byte whose low bit says text or
	// binary and whose other bits give the length, then that many bytes.
	seed := func(frames []frameIn) []byte {
		var b []byte
		for _, fr := range frames {
			n := min(len(fr.data), 127)
			flag := byte(n << 1)
			if fr.text {
				flag |= 1
			}
			b = append(append(b, flag), fr.data[:n]...)
		}
		return b
	}
	f.Add(seed(batchFrames("a", []byte("hello world"), 4)))
	f.Add(seed([]frameIn{bin(1, 2, 3), marker("z", "start", 3, 1), bin(1, 2, 3), marker("z", "end", 3, 1)}))
	f.Add(seed([]frameIn{marker("z", "end", 0, 0)}))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := Reassembler{MaxSize: 1 << 12}
		for len(in) > 0 {
			n := min(int(in[0]>>1), len(in)-1)
			isText, data := in[0]&1 == 1, in[1:1+n]
			in = in[1+n:]
			msg, ok, err := r.Feed(isText, data)
			switch {
			case err != nil:
				if !errors.Is(err, ErrBatch) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("error wraps neither sentinel: %v", err)
				}
				if r.InProgress() || ok || msg != nil {
					t.Fatal("error left state or a message behind")
				}
			case ok:
				if len(msg) > 1<<12 {
					t.Fatalf("message of %d bytes over MaxSize", len(msg))
				}
			case msg != nil:
				t.Fatal("message without ok")
			}
			if len(r.buf) > 1<<12 || cap(r.buf) > 1<<12 {
				t.Fatalf("buffer of %d/%d bytes over MaxSize", len(r.buf), cap(r.buf))
			}
		}
	})
}
