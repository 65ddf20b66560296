package lib0

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"unicode/utf8"
)

// addGoldenSeeds seeds a fuzz target with every golden vector read by reader
// ("" for all of them).
func addGoldenSeeds(f *testing.F, reader string) {
	g := loadGolden(f)
	add := func(r, h string) {
		if reader == "" || reader == r {
			f.Add(mustHex(f, h))
		}
	}
	for _, c := range g.VarUint {
		add("varUint", c.Hex)
	}
	for _, c := range g.VarUintNonMinimal {
		add("varUint", c.Hex)
	}
	for _, c := range g.VarInt {
		add("varInt", c.Hex)
	}
	for _, c := range g.VarString {
		add("varString", c.Hex)
	}
	for _, c := range g.Any {
		add("any", c.Hex)
	}
	for _, c := range g.AnyDecodeOnly {
		add("any", c.Hex)
	}
	for _, c := range g.Reject {
		add(c.Reader, c.Hex)
	}
	for _, c := range g.Stricter {
		add(c.Reader, c.Hex)
	}
}

// allocBound is how many bytes decoding n bytes of input may allocate. Go
// values are bigger than their encoding (an empty object is 2 bytes of input
// and a map header plus an interface slot), so the factor is generous; what
// it catches is allocation driven by a length or count the input merely
// claims.
func allocBound(n int) uint64 { return 64*uint64(n) + 64<<10 }

// allocated returns the bytes fn allocated on the heap.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func FuzzReadAny(f *testing.F) {
	addGoldenSeeds(f, "any")
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		var err error
		d := NewDecoder(data)
		if n := allocated(func() { v, err = d.ReadAny() }); n > allocBound(len(data)) {
			t.Fatalf("ReadAny of %d bytes allocated %d bytes", len(data), n)
		}
		// SkipAny accepts exactly what ReadAny accepts and consumes as much.
		s := NewDecoder(data)
		raw, skipErr := s.SkipAny()
		if (err == nil) != (skipErr == nil) {
			t.Fatalf("ReadAny error %v, SkipAny error %v", err, skipErr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !errors.Is(skipErr, ErrMalformed) {
				t.Fatalf("errors do not wrap ErrMalformed: %v, %v", err, skipErr)
			}
			return
		}
		if s.Pos() != d.Pos() || !bytes.Equal(raw, data[:d.Pos()]) {
			t.Fatalf("ReadAny consumed %d bytes, SkipAny %d", d.Pos(), s.Pos())
		}
		// Encoding the value and decoding it again is stable: the same
		// value, and from then on the same bytes.
		var e1 Encoder
		if err := e1.WriteAny(v); err != nil {
			t.Fatalf("WriteAny(ReadAny(%x)): %v", data, err)
		}
		d2 := NewDecoder(e1.Bytes())
		v2, err := d2.ReadAny()
		if err != nil || d2.Remaining() != 0 {
			t.Fatalf("ReadAny(WriteAny(v)) = %v, %d bytes left", err, d2.Remaining())
		}
		if !sameAny(v, v2) {
			t.Fatalf("value changed on re-encoding: %#v -> %#v", v, v2)
		}
		var e2 Encoder
		if err := e2.WriteAny(v2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e1.Bytes(), e2.Bytes()) {
			t.Fatalf("encoding not stable: %x -> %x", e1.Bytes(), e2.Bytes())
		}
	})
}

func FuzzVarUint(f *testing.F) {
	addGoldenSeeds(f, "varUint")
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(data)
		v, err := d.ReadVarUint()
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if v > MaxSafeInteger || d.Pos() == 0 || d.Pos() > 8 {
			t.Fatalf("ReadVarUint(%x) = %d after %d bytes", data, v, d.Pos())
		}
		enc := AppendVarUint(nil, v)
		if len(enc) > d.Pos() {
			t.Fatalf("minimal encoding %x longer than input %x", enc, data[:d.Pos()])
		}
		if got, err := NewDecoder(enc).ReadVarUint(); got != v || err != nil {
			t.Fatalf("round trip %d -> %x -> %d, %v", v, enc, got, err)
		}
	})
}

func FuzzVarInt(f *testing.F) {
	addGoldenSeeds(f, "varInt")
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(data)
		v, negZero, err := d.ReadVarInt()
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if v > MaxSafeInteger || v < -MaxSafeInteger || (negZero && v != 0) {
			t.Fatalf("ReadVarInt(%x) = %d, %v", data, v, negZero)
		}
		enc := AppendVarInt(nil, v, v < 0 || negZero)
		if len(enc) > d.Pos() {
			t.Fatalf("minimal encoding %x longer than input %x", enc, data[:d.Pos()])
		}
		got, gotNegZero, err := NewDecoder(enc).ReadVarInt()
		if got != v || gotNegZero != negZero || err != nil {
			t.Fatalf("round trip %d -> %x -> %d, %v, %v", v, enc, got, gotNegZero, err)
		}
	})
}

func FuzzVarString(f *testing.F) {
	addGoldenSeeds(f, "varString")
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(data)
		var s string
		var err error
		if n := allocated(func() { s, err = d.ReadVarString() }); n > allocBound(len(data)) {
			t.Fatalf("ReadVarString of %d bytes allocated %d bytes", len(data), n)
		}
		raw, skipErr := NewDecoder(data).SkipVarString()
		if (err == nil) != (skipErr == nil) || string(raw) != s {
			t.Fatalf("ReadVarString = %q, %v; SkipVarString = %q, %v", s, err, raw, skipErr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("ReadVarString returned invalid UTF-8 %q", s)
		}
		var e Encoder
		e.WriteVarString(s)
		if got, err := NewDecoder(e.Bytes()).ReadVarString(); got != s || err != nil {
			t.Fatalf("round trip %q -> %q, %v", s, got, err)
		}
	})
}

// TestReadAnyNestedCountsDoNotAmplify: every level of nested containers
// claims as many elements as the remaining input could hold. Reserving room
// for each claim would allocate depth × input; found by FuzzReadAny.
func TestReadAnyNestedCountsDoNotAmplify(t *testing.T) {
	const pad = 64 << 10
	var in []byte
	for range MaxDepth {
		in = append(in, tagArray)
		in = AppendVarUint(in, pad/2)
	}
	in = append(in, tagObject)
	in = AppendVarUint(in, pad/4)
	for len(in) < pad {
		in = append(in, tagNull)
	}
	for _, read := range []func(*Decoder) error{
		func(d *Decoder) error { _, err := d.ReadAny(); return err },
		func(d *Decoder) error { _, err := d.SkipAny(); return err },
	} {
		var err error
		if n := allocated(func() { err = read(NewDecoder(in)) }); n > allocBound(len(in)) {
			t.Errorf("decoding %d bytes allocated %d bytes", len(in), n)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("error = %v, want ErrMalformed", err)
		}
	}
}
