package lib0

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
)

// golden is lib0/testdata/golden.json, written by tools/golden/lib0.mjs from
// the real lib0 npm package.
type golden struct {
	Lib0                   string         `json:"lib0"`
	VarUint                []goldenNumber `json:"varUint"`
	VarUintNonMinimal      []goldenNumber `json:"varUintNonMinimal"`
	VarInt                 []goldenNumber `json:"varInt"`
	VarString              []goldenString `json:"varString"`
	VarStringLoneSurrogate []goldenString `json:"varStringLoneSurrogate"`
	Any                    []goldenAny    `json:"any"`
	AnyDecodeOnly          []goldenAny    `json:"anyDecodeOnly"`
	Reject                 []goldenReject `json:"reject"`
	Stricter               []goldenReject `json:"stricter"`
}

type goldenNumber struct {
	Value string `json:"value"`
	Hex   string `json:"hex"`
}

type goldenString struct {
	Value string `json:"value"`
	Hex   string `json:"hex"`
}

type goldenAny struct {
	Name      string     `json:"name"`
	Value     typedValue `json:"value"`
	Hex       string     `json:"hex"`
	Canonical bool       `json:"canonical"`
}

type goldenReject struct {
	Reader string `json:"reader"`
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Why    string `json:"why"`
}

// typedValue is the generator's notation for a JavaScript value.
type typedValue struct {
	T string          `json:"t"`
	V json.RawMessage `json:"v"`
}

func loadGolden(tb testing.TB) *golden {
	tb.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		tb.Fatalf("read golden vectors: %v (regenerate with: node tools/golden/lib0.mjs)", err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatalf("parse golden vectors: %v", err)
	}
	return &g
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// goValue converts the generator's notation into the Go value ReadAny
// returns for it.
func (tv typedValue) goValue() (any, error) {
	switch tv.T {
	case "undefined":
		return Undefined{}, nil
	case "null":
		return nil, nil
	case "bool":
		var b bool
		err := json.Unmarshal(tv.V, &b)
		return b, err
	case "number":
		var s string
		if err := json.Unmarshal(tv.V, &s); err != nil {
			return nil, err
		}
		return strconv.ParseFloat(s, 64) // accepts "NaN", "Infinity", "-0"
	case "bigint":
		var s string
		if err := json.Unmarshal(tv.V, &s); err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return BigInt(n), err
	case "string":
		var s string
		err := json.Unmarshal(tv.V, &s)
		return s, err
	case "bytes":
		var s string
		if err := json.Unmarshal(tv.V, &s); err != nil {
			return nil, err
		}
		return hex.DecodeString(s)
	case "array":
		var elems []typedValue
		if err := json.Unmarshal(tv.V, &elems); err != nil {
			return nil, err
		}
		arr := make([]any, 0, len(elems))
		for _, el := range elems {
			v, err := el.goValue()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case "object":
		var pairs [][2]json.RawMessage
		if err := json.Unmarshal(tv.V, &pairs); err != nil {
			return nil, err
		}
		obj := make(map[string]any, len(pairs))
		for _, p := range pairs {
			var k string
			var val typedValue
			if err := json.Unmarshal(p[0], &k); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(p[1], &val); err != nil {
				return nil, err
			}
			v, err := val.goValue()
			if err != nil {
				return nil, err
			}
			obj[k] = v
		}
		return obj, nil
	}
	return nil, fmt.Errorf("unknown typed value %q", tv.T)
}

// sameAny compares decoded any values the way JavaScript's Object.is would
// for numbers (NaN equals NaN, 0 and -0 differ) and structurally otherwise.
func sameAny(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return false
		}
		if math.IsNaN(x) || math.IsNaN(y) {
			return math.IsNaN(x) && math.IsNaN(y)
		}
		return x == y && math.Signbit(x) == math.Signbit(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameAny(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !sameAny(xv, yv) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func TestGoldenVarUint(t *testing.T) {
	g := loadGolden(t)
	check := func(t *testing.T, c goldenNumber, canonical bool) {
		want, err := strconv.ParseUint(c.Value, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		in := mustHex(t, c.Hex)
		d := NewDecoder(in)
		got, err := d.ReadVarUint()
		if err != nil || got != want || d.Remaining() != 0 {
			t.Errorf("ReadVarUint(%s) = %d, %v, %d bytes left; want %d", c.Hex, got, err, d.Remaining(), want)
		}
		if canonical {
			if enc := AppendVarUint(nil, want); !bytes.Equal(enc, in) {
				t.Errorf("AppendVarUint(%d) = %x, want %s", want, enc, c.Hex)
			}
			var e Encoder
			e.WriteVarUint(want)
			if !bytes.Equal(e.Bytes(), in) {
				t.Errorf("WriteVarUint(%d) = %x, want %s", want, e.Bytes(), c.Hex)
			}
		}
	}
	for _, c := range g.VarUint {
		t.Run(c.Value, func(t *testing.T) { check(t, c, true) })
	}
	for _, c := range g.VarUintNonMinimal {
		t.Run("non-minimal "+c.Hex, func(t *testing.T) { check(t, c, false) })
	}
}

func TestGoldenVarInt(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.VarInt {
		t.Run(c.Value, func(t *testing.T) {
			f, err := strconv.ParseFloat(c.Value, 64)
			if err != nil {
				t.Fatal(err)
			}
			want, wantNegZero := int64(f), f == 0 && math.Signbit(f)
			in := mustHex(t, c.Hex)
			d := NewDecoder(in)
			got, negZero, err := d.ReadVarInt()
			if err != nil || got != want || negZero != wantNegZero || d.Remaining() != 0 {
				t.Errorf("ReadVarInt(%s) = %d, %v, %v, %d bytes left; want %d, %v", c.Hex, got, negZero, err, d.Remaining(), want, wantNegZero)
			}
			if enc := AppendVarInt(nil, want, math.Signbit(f)); !bytes.Equal(enc, in) {
				t.Errorf("AppendVarInt(%d, %v) = %x, want %s", want, math.Signbit(f), enc, c.Hex)
			}
			if !wantNegZero {
				var e Encoder
				e.WriteVarInt(want)
				if !bytes.Equal(e.Bytes(), in) {
					t.Errorf("WriteVarInt(%d) = %x, want %s", want, e.Bytes(), c.Hex)
				}
			}
		})
	}
}

func TestGoldenVarString(t *testing.T) {
	g := loadGolden(t)
	cases := append(append([]goldenString(nil), g.VarString...), g.VarStringLoneSurrogate...)
	for i, c := range cases {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			in := mustHex(t, c.Hex)
			d := NewDecoder(in)
			got, err := d.ReadVarString()
			if err != nil || got != c.Value || d.Remaining() != 0 {
				t.Errorf("ReadVarString(%.40s) = %.40q, %v, %d bytes left; want %.40q", c.Hex, got, err, d.Remaining(), c.Value)
			}
			d.Reset(in)
			raw, err := d.SkipVarString()
			if err != nil || string(raw) != c.Value {
				t.Errorf("SkipVarString(%.40s) = %.40q, %v; want %.40q", c.Hex, raw, err, c.Value)
			}
			var e Encoder
			e.WriteVarString(c.Value)
			if !bytes.Equal(e.Bytes(), in) {
				t.Errorf("WriteVarString(%.40q) = %.40x, want %.40s", c.Value, e.Bytes(), c.Hex)
			}
		})
	}
}

func TestGoldenAny(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Any {
		t.Run(c.Name, func(t *testing.T) {
			want, err := c.Value.goValue()
			if err != nil {
				t.Fatal(err)
			}
			in := mustHex(t, c.Hex)
			d := NewDecoder(in)
			got, err := d.ReadAny()
			if err != nil || !sameAny(got, want) || d.Remaining() != 0 {
				t.Errorf("ReadAny(%.60s) = %#v, %v, %d bytes left; want %#v", c.Hex, got, err, d.Remaining(), want)
			}
			d.Reset(in)
			if raw, err := d.SkipAny(); err != nil || !bytes.Equal(raw, in) {
				t.Errorf("SkipAny(%.60s) = %x, %v; want all input", c.Hex, raw, err)
			}
			var e Encoder
			if err := e.WriteAny(want); err != nil {
				t.Fatalf("WriteAny(%#v): %v", want, err)
			}
			if c.Canonical && !bytes.Equal(e.Bytes(), in) {
				t.Errorf("WriteAny(%#v) = %x, want %s", want, e.Bytes(), c.Hex)
			}
			// Object keys are written in a different order than JavaScript's
			// for some objects; the value must survive either way.
			back, err := NewDecoder(e.Bytes()).ReadAny()
			if err != nil || !sameAny(back, want) {
				t.Errorf("ReadAny(WriteAny(%#v)) = %#v, %v", want, back, err)
			}
		})
	}
	for _, c := range g.AnyDecodeOnly {
		t.Run(c.Name, func(t *testing.T) {
			want, err := c.Value.goValue()
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder(mustHex(t, c.Hex))
			got, err := d.ReadAny()
			if err != nil || !sameAny(got, want) || d.Remaining() != 0 {
				t.Errorf("ReadAny(%s) = %#v, %v, %d bytes left; want %#v", c.Hex, got, err, d.Remaining(), want)
			}
		})
	}
}

// readWith runs the decoder method the generator names.
func readWith(reader string, in []byte) (any, error) {
	d := NewDecoder(in)
	switch reader {
	case "varUint":
		return d.ReadVarUint()
	case "varInt":
		v, _, err := d.ReadVarInt()
		return v, err
	case "varString":
		return d.ReadVarString()
	case "varBytes":
		return d.ReadVarBytes()
	case "any":
		return d.ReadAny()
	}
	return nil, fmt.Errorf("unknown reader %q", reader)
}

// TestGoldenReject: every input the real lib0 throws on is an error here too.
func TestGoldenReject(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Reject {
		t.Run(c.Reader+" "+c.Name, func(t *testing.T) {
			in := mustHex(t, c.Hex)
			got, err := readWith(c.Reader, in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("read %s %s = %#v, %v; want an error wrapping ErrMalformed", c.Reader, c.Hex, got, err)
			}
			if c.Reader == "any" {
				if _, err := NewDecoder(in).SkipAny(); !errors.Is(err, ErrMalformed) {
					t.Errorf("SkipAny(%s) error = %v, want ErrMalformed", c.Hex, err)
				}
			}
		})
	}
}

// TestGoldenStricter: input lib0 accepts but collabd rejects on purpose
// (integers beyond 2^53, lib0 reading a missing varInt as 0, the nesting
// limit).
func TestGoldenStricter(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Stricter {
		t.Run(c.Reader+" "+c.Name, func(t *testing.T) {
			got, err := readWith(c.Reader, mustHex(t, c.Hex))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("read %s %.40s = %#v, %v; want an error (%s)", c.Reader, c.Hex, got, err, c.Why)
			}
		})
	}
}
