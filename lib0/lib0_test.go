package lib0

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestVarUintRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 1<<14 - 1, 1 << 14, 1<<21 - 1, 1 << 21, 1 << 28, 1 << 32, 1<<35 + 7, MaxSafeInteger - 1, MaxSafeInteger} {
		b := AppendVarUint([]byte{0xaa}, v)
		d := NewDecoder(b[1:])
		got, err := d.ReadVarUint()
		if err != nil || got != v || d.Remaining() != 0 {
			t.Errorf("ReadVarUint(AppendVarUint(%d) = %x) = %d, %v, %d left", v, b[1:], got, err, d.Remaining())
		}
		if b[0] != 0xaa {
			t.Errorf("AppendVarUint overwrote dst")
		}
	}
}

func TestReadVarUintErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrUnexpectedEOF},
		{"continuation then end", []byte{0x80}, ErrUnexpectedEOF},
		{"seven continuation bytes", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrUnexpectedEOF},
		{"2^53", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10}, ErrIntegerOverflow},
		{"2^56-1", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrIntegerOverflow},
		{"nine bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, ErrIntegerOverflow},
		{"max uint64", AppendVarUint(nil, math.MaxUint64), ErrIntegerOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewDecoder(tt.in).ReadVarUint()
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrMalformed) {
				t.Errorf("ReadVarUint(%x) = %d, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestVarInt(t *testing.T) {
	tests := []struct {
		v       int64
		neg     bool
		want    []byte
		negZero bool
	}{
		{0, false, []byte{0x00}, false},
		{0, true, []byte{0x40}, true},
		{1, false, []byte{0x01}, false},
		{-1, true, []byte{0x41}, false},
		{63, false, []byte{0x3f}, false},
		{64, false, []byte{0x80, 0x01}, false},
		{-64, true, []byte{0xc0, 0x01}, false},
		{MaxSafeInteger, false, nil, false},
		{-MaxSafeInteger, true, nil, false},
	}
	for _, tt := range tests {
		b := AppendVarInt(nil, tt.v, tt.neg)
		if tt.want != nil && !bytes.Equal(b, tt.want) {
			t.Errorf("AppendVarInt(%d, %v) = %x, want %x", tt.v, tt.neg, b, tt.want)
		}
		d := NewDecoder(b)
		got, negZero, err := d.ReadVarInt()
		if err != nil || got != tt.v || negZero != tt.negZero || d.Remaining() != 0 {
			t.Errorf("ReadVarInt(%x) = %d, %v, %v; want %d, %v", b, got, negZero, err, tt.v, tt.negZero)
		}
	}
}

func TestReadVarIntErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrUnexpectedEOF},
		{"continuation then end", []byte{0xc0}, ErrUnexpectedEOF},
		{"magnitude 2^53", AppendVarInt(nil, 1<<53, false), ErrIntegerOverflow},
		{"magnitude -2^53", AppendVarInt(nil, -(1 << 53), true), ErrIntegerOverflow},
		{"min int64", AppendVarInt(nil, math.MinInt64, true), ErrIntegerOverflow},
		{"nine bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, ErrIntegerOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := NewDecoder(tt.in).ReadVarInt()
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrMalformed) {
				t.Errorf("ReadVarInt(%x) = %d, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFixedWidth(t *testing.T) {
	var e Encoder
	e.WriteUint8(7)
	e.WriteFloat32(1.5)
	e.WriteFloat64(-0.1)
	e.WriteBigInt64(math.MinInt64)
	e.WriteVarBytes([]byte{1, 2, 3})
	want := []byte{7, 0x3f, 0xc0, 0, 0, 0xbf, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a, 0x80, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3}
	if !bytes.Equal(e.Bytes(), want) {
		t.Fatalf("encoded %x, want %x", e.Bytes(), want)
	}
	d := NewDecoder(e.Bytes())
	if b, err := d.ReadUint8(); b != 7 || err != nil {
		t.Errorf("ReadUint8 = %d, %v", b, err)
	}
	if f, err := d.ReadFloat32(); f != 1.5 || err != nil {
		t.Errorf("ReadFloat32 = %v, %v", f, err)
	}
	if f, err := d.ReadFloat64(); f != -0.1 || err != nil {
		t.Errorf("ReadFloat64 = %v, %v", f, err)
	}
	if n, err := d.ReadBigInt64(); n != math.MinInt64 || err != nil {
		t.Errorf("ReadBigInt64 = %v, %v", n, err)
	}
	if b, err := d.ReadVarBytes(); !bytes.Equal(b, []byte{1, 2, 3}) || err != nil {
		t.Errorf("ReadVarBytes = %x, %v", b, err)
	}
	if d.Remaining() != 0 || d.Pos() != len(want) {
		t.Errorf("Pos = %d, Remaining = %d after reading everything", d.Pos(), d.Remaining())
	}
	// Every fixed-width reader fails cleanly at the end of input.
	for name, read := range map[string]func() error{
		"ReadUint8":    func() error { _, err := d.ReadUint8(); return err },
		"ReadFloat32":  func() error { _, err := d.ReadFloat32(); return err },
		"ReadFloat64":  func() error { _, err := d.ReadFloat64(); return err },
		"ReadBigInt64": func() error { _, err := d.ReadBigInt64(); return err },
		"ReadVarBytes": func() error { _, err := d.ReadVarBytes(); return err },
	} {
		if err := read(); !errors.Is(err, ErrUnexpectedEOF) {
			t.Errorf("%s at end of input: %v, want ErrUnexpectedEOF", name, err)
		}
	}
}

func TestDecoderPositions(t *testing.T) {
	in := []byte{0x02, 'h', 'i', 0x81, 0x01, 0xff}
	d := NewDecoder(in)
	start := d.Pos()
	if s, err := d.ReadVarString(); s != "hi" || err != nil {
		t.Fatalf("ReadVarString = %q, %v", s, err)
	}
	if got := d.Since(start); !bytes.Equal(got, in[:3]) {
		t.Errorf("Since = %x, want %x", got, in[:3])
	}
	if got := d.Rest(); !bytes.Equal(got, in[3:]) || d.Remaining() != 3 {
		t.Errorf("Rest = %x, Remaining = %d", got, d.Remaining())
	}
	if v, err := d.ReadVarUint(); v != 129 || err != nil {
		t.Errorf("ReadVarUint = %d, %v", v, err)
	}
	if _, err := d.ReadBytes(2); !errors.Is(err, ErrUnexpectedEOF) {
		t.Errorf("ReadBytes past the end: %v", err)
	}
	if _, err := d.ReadBytes(-1); !errors.Is(err, ErrUnexpectedEOF) {
		t.Errorf("ReadBytes(-1): %v", err)
	}
	if d.Pos() != 5 {
		t.Errorf("a failed ReadBytes moved the position to %d", d.Pos())
	}
	d.Reset(in[3:])
	if d.Pos() != 0 || d.Remaining() != 3 {
		t.Errorf("after Reset: Pos = %d, Remaining = %d", d.Pos(), d.Remaining())
	}
}

func TestReadBytesAliasesWithoutSpareCapacity(t *testing.T) {
	in := []byte{1, 2, 3, 4}
	b, err := NewDecoder(in).ReadBytes(2)
	if err != nil {
		t.Fatal(err)
	}
	if cap(b) != 2 {
		t.Errorf("cap = %d; appending to a returned slice must not overwrite the input", cap(b))
	}
	b[0] = 9
	if in[0] != 9 {
		t.Error("ReadBytes copied; it is documented to alias the input")
	}
}

func TestReadVarString(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
		err  error
	}{
		{"empty string", []byte{0}, "", nil},
		{"BOM is kept", []byte{3, 0xef, 0xbb, 0xbf}, "\ufeff", nil},
		{"length beyond input", []byte{4, 'a'}, "", ErrUnexpectedEOF},
		{"huge length", AppendVarUint(nil, MaxSafeInteger), "", ErrUnexpectedEOF},
		{"invalid UTF-8", []byte{1, 0xff}, "", ErrInvalidUTF8},
		{"surrogate", []byte{3, 0xed, 0xa0, 0x80}, "", ErrInvalidUTF8},
		{"overlong", []byte{2, 0xc0, 0x80}, "", ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewDecoder(tt.in).ReadVarString()
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("ReadVarString(%x) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
			raw, err := NewDecoder(tt.in).SkipVarString()
			if string(raw) != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("SkipVarString(%x) = %q, %v; want %q, %v", tt.in, raw, err, tt.want, tt.err)
			}
		})
	}
}

func TestReadCount(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		minSize int
		want    int
		err     error
	}{
		{"zero", []byte{0}, 4, 0, nil},
		{"fits", []byte{2, 1, 1, 1, 1}, 2, 2, nil},
		{"too many", []byte{3, 1, 1, 1, 1, 1}, 2, 0, ErrUnexpectedEOF},
		{"huge", AppendVarUint(nil, MaxSafeInteger), 1, 0, ErrUnexpectedEOF},
		{"minSize 0 counts as 1", []byte{2, 1}, 0, 0, ErrUnexpectedEOF},
		{"negative minSize counts as 1", []byte{1, 1}, -3, 1, nil},
		{"truncated count", []byte{0x80}, 1, 0, ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewDecoder(tt.in).ReadCount(tt.minSize)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("ReadCount(%x, %d) = %d, %v; want %d, %v", tt.in, tt.minSize, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestWriteAnyGoTypes(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want []byte
	}{
		{"int", int(-5), []byte{tagInteger, 0x45}},
		{"int8", int8(-128), []byte{tagInteger, 0xc0, 0x02}},
		{"int16", int16(300), []byte{tagInteger, 0xac, 0x04}},
		{"int32", int32(math.MaxInt32), []byte{tagInteger, 0xbf, 0xff, 0xff, 0xff, 0x0f}},
		{"int64 beyond int32", int64(1 << 31), []byte{tagFloat32, 0x4f, 0, 0, 0}},
		{"uint", uint(7), []byte{tagInteger, 7}},
		{"uint8", uint8(255), []byte{tagInteger, 0xbf, 0x03}},
		{"uint16", uint16(64), []byte{tagInteger, 0x80, 0x01}},
		{"uint32", uint32(1), []byte{tagInteger, 1}},
		{"uint64", uint64(MaxSafeInteger), []byte{tagFloat64, 0x43, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"float32", float32(0.5), []byte{tagFloat32, 0x3f, 0, 0, 0}},
		{"float64 integral", float64(3), []byte{tagInteger, 3}},
		{"negative zero", math.Copysign(0, -1), []byte{tagInteger, 0x40}},
		{"NaN", math.NaN(), []byte{tagFloat64, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}},
		{"NaN with another payload", math.Float64frombits(0xfff0000000000abc), []byte{tagFloat64, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}},
		{"+Inf", math.Inf(1), []byte{tagFloat32, 0x7f, 0x80, 0, 0}},
		{"BigInt", BigInt(-1), []byte{tagBigInt, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"nil bytes", []byte(nil), []byte{tagBytes, 0}},
		{"nil slice", []any(nil), []byte{tagArray, 0}},
		{"nil map", map[string]any(nil), []byte{tagObject, 0}},
		{"sorted keys", map[string]any{"b": true, "a": false}, []byte{tagObject, 2, 1, 'a', tagFalse, 1, 'b', tagTrue}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoder
			if err := e.WriteAny(tt.v); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.Bytes(), tt.want) {
				t.Errorf("WriteAny(%#v) = %x, want %x", tt.v, e.Bytes(), tt.want)
			}
		})
	}
}

func TestWriteAnyRejects(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"struct", struct{}{}},
		{"string slice", []string{"a"}},
		{"typed map", map[string]string{"a": "b"}},
		{"nested failure", []any{1, "x", map[string]any{"k": []any{complex(1, 2)}}}},
		{"too deep", nestArrays(MaxDepth+1, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Encoder{Buf: []byte{1, 2}}
			if err := e.WriteAny(tt.v); err == nil {
				t.Fatalf("WriteAny(%T) succeeded", tt.v)
			}
			if !bytes.Equal(e.Bytes(), []byte{1, 2}) {
				t.Errorf("a failed WriteAny left %x in the buffer", e.Bytes())
			}
		})
	}
}

func nestArrays(depth int, leaf any) any {
	v := leaf
	for range depth {
		v = []any{v}
	}
	return v
}

func TestAnyDepthLimit(t *testing.T) {
	var e Encoder
	if err := e.WriteAny(nestArrays(MaxDepth, "leaf")); err != nil {
		t.Fatalf("WriteAny at MaxDepth: %v", err)
	}
	if v, err := NewDecoder(e.Bytes()).ReadAny(); err != nil || !sameAny(v, nestArrays(MaxDepth, "leaf")) {
		t.Fatalf("ReadAny at MaxDepth: %v", err)
	}
	if _, err := NewDecoder(e.Bytes()).SkipAny(); err != nil {
		t.Fatalf("SkipAny at MaxDepth: %v", err)
	}
	deeper := append([]byte{tagArray, 1}, e.Bytes()...)
	if _, err := NewDecoder(deeper).ReadAny(); !errors.Is(err, ErrTooDeep) {
		t.Errorf("ReadAny beyond MaxDepth: %v, want ErrTooDeep", err)
	}
	if _, err := NewDecoder(deeper).SkipAny(); !errors.Is(err, ErrTooDeep) {
		t.Errorf("SkipAny beyond MaxDepth: %v, want ErrTooDeep", err)
	}
	objects := []byte(strings.Repeat(string([]byte{tagObject, 1, 0}), MaxDepth+1) + string([]byte{tagNull}))
	if _, err := NewDecoder(objects).ReadAny(); !errors.Is(err, ErrTooDeep) {
		t.Errorf("ReadAny of objects beyond MaxDepth: %v, want ErrTooDeep", err)
	}
}

func TestReadAnyErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrUnexpectedEOF},
		{"unknown tag", []byte{115}, ErrMalformed},
		{"count beyond input", []byte{tagArray, 3, tagNull, tagNull}, ErrUnexpectedEOF},
		{"object count beyond input", []byte{tagObject, 2, 0, tagNull, 0}, ErrUnexpectedEOF},
		{"key not UTF-8", []byte{tagObject, 1, 1, 0xfe, tagNull}, ErrInvalidUTF8},
		{"integer overflow", append([]byte{tagInteger}, AppendVarInt(nil, 1<<53, false)...), ErrIntegerOverflow},
		{"truncated bytes", []byte{tagBytes, 2, 1}, ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := NewDecoder(tt.in).ReadAny(); !errors.Is(err, tt.want) {
				t.Errorf("ReadAny(%x) = %#v, %v; want %v", tt.in, v, err, tt.want)
			}
			if _, err := NewDecoder(tt.in).SkipAny(); !errors.Is(err, tt.want) {
				t.Errorf("SkipAny(%x) = %v; want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestSkipAnyStopsAtValueEnd(t *testing.T) {
	var e Encoder
	if err := e.WriteAny(map[string]any{"a": []any{1.5, "x", nil}}); err != nil {
		t.Fatal(err)
	}
	value := append([]byte(nil), e.Bytes()...)
	e.WriteUint8(0xee)
	d := NewDecoder(e.Bytes())
	raw, err := d.SkipAny()
	if err != nil || !bytes.Equal(raw, value) || d.Remaining() != 1 {
		t.Errorf("SkipAny = %x, %v, %d left; want %x, 1 left", raw, err, d.Remaining(), value)
	}
}
