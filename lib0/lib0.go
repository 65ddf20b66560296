// Package lib0 implements the binary encoding that Yjs and y-protocols use
// (the lib0 npm package): variable-length unsigned and signed integers,
// length-prefixed byte arrays and strings, and the self-describing "any"
// encoding of JSON-like values.
//
// Decoding never panics and never allocates more than the input justifies:
// every length prefix is checked against the bytes that remain before
// anything is allocated, integers are limited to 53 bits as in JavaScript,
// and nested "any" values have a depth limit. Every error wraps ErrMalformed
// (or ErrUnexpectedEOF, which itself wraps ErrMalformed).
//
// Encoder and Decoder are plain values owned by one goroutine.
package lib0

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

var (
	// ErrMalformed is wrapped by every decoding error.
	ErrMalformed = errors.New("lib0: malformed input")
	// ErrUnexpectedEOF reports input that ends inside a value.
	ErrUnexpectedEOF = fmt.Errorf("%w: unexpected end of input", ErrMalformed)
	// ErrIntegerOverflow reports an integer beyond JavaScript's safe range.
	ErrIntegerOverflow = fmt.Errorf("%w: integer out of range", ErrMalformed)
	// ErrInvalidUTF8 reports a string that is not valid UTF-8; lib0 decodes
	// strings with a fatal TextDecoder, so Yjs rejects these too.
	ErrInvalidUTF8 = fmt.Errorf("%w: string is not valid UTF-8", ErrMalformed)
	// ErrTooDeep reports nesting beyond MaxDepth.
	ErrTooDeep = fmt.Errorf("%w: nesting too deep", ErrMalformed)
)

// MaxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER (2^53-1), the
// largest integer the lib0 encoding carries without loss.
const MaxSafeInteger = 1<<53 - 1

// MaxDepth bounds the nesting of arrays and objects in the any encoding.
const MaxDepth = 256

// Encoder appends encoded values to a byte slice. The zero value is ready.
type Encoder struct {
	Buf []byte
}

// Bytes returns the encoded bytes (aliasing the encoder's buffer).
func (e *Encoder) Bytes() []byte { return e.Buf }

// WriteUint8 appends one byte.
func (e *Encoder) WriteUint8(b byte) { e.Buf = append(e.Buf, b) }

// WriteVarUint appends v as a lib0 varUint (7 bits per byte, low first).
func (e *Encoder) WriteVarUint(v uint64) { e.Buf = AppendVarUint(e.Buf, v) }

// WriteVarInt appends v as a lib0 varInt: the first byte holds a continue
// bit, a sign bit and 6 bits of magnitude; later bytes hold 7 bits each.
func (e *Encoder) WriteVarInt(v int64) { e.Buf = AppendVarInt(e.Buf, v, v < 0) }

// WriteVarBytes appends a varUint length and the bytes.
func (e *Encoder) WriteVarBytes(b []byte) {
	e.Buf = AppendVarUint(e.Buf, uint64(len(b)))
	e.Buf = append(e.Buf, b...)
}

// WriteVarString appends a varUint byte length and the UTF-8 bytes.
func (e *Encoder) WriteVarString(s string) {
	e.Buf = AppendVarUint(e.Buf, uint64(len(s)))
	e.Buf = append(e.Buf, s...)
}

// WriteFloat32 appends a big-endian IEEE 754 single.
func (e *Encoder) WriteFloat32(f float32) {
	e.Buf = binary.BigEndian.AppendUint32(e.Buf, math.Float32bits(f))
}

// WriteFloat64 appends a big-endian IEEE 754 double.
func (e *Encoder) WriteFloat64(f float64) {
	e.Buf = binary.BigEndian.AppendUint64(e.Buf, math.Float64bits(f))
}

// WriteBigInt64 appends a big-endian two's complement 64-bit integer.
func (e *Encoder) WriteBigInt64(v int64) {
	e.Buf = binary.BigEndian.AppendUint64(e.Buf, uint64(v))
}

// AppendVarUint appends v as a lib0 varUint.
func AppendVarUint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// AppendVarInt appends a lib0 varInt. negative marks the sign separately so
// that JavaScript's -0 can be written (AppendVarInt(b, 0, true)).
func AppendVarInt(b []byte, v int64, negative bool) []byte {
	var mag uint64
	if v < 0 {
		mag = uint64(-v)
	} else {
		mag = uint64(v)
	}
	first := byte(mag & 0x3f)
	if negative {
		first |= 0x40
	}
	if mag > 0x3f {
		first |= 0x80
	}
	b = append(b, first)
	mag >>= 6
	for mag > 0 {
		c := byte(mag & 0x7f)
		if mag > 0x7f {
			c |= 0x80
		}
		b = append(b, c)
		mag >>= 7
	}
	return b
}

// Decoder reads lib0 values from a byte slice. Byte slices it returns alias
// the input; copy them to keep them beyond the input's lifetime.
type Decoder struct {
	buf []byte
	pos int
}

// NewDecoder returns a decoder reading b from the start.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Reset points the decoder at b from the start.
func (d *Decoder) Reset(b []byte) { d.buf, d.pos = b, 0 }

// Pos is the number of bytes consumed so far.
func (d *Decoder) Pos() int { return d.pos }

// Remaining is the number of bytes not yet consumed.
func (d *Decoder) Remaining() int { return len(d.buf) - d.pos }

// Rest returns the bytes not yet consumed, without consuming them.
func (d *Decoder) Rest() []byte { return d.buf[d.pos:] }

// Since returns the input consumed since position start.
func (d *Decoder) Since(start int) []byte { return d.buf[start:d.pos] }

// ReadUint8 reads one byte.
func (d *Decoder) ReadUint8() (byte, error) {
	if d.pos >= len(d.buf) {
		return 0, ErrUnexpectedEOF
	}
	b := d.buf[d.pos]
	d.pos++
	return b, nil
}

// ReadVarUint reads a lib0 varUint of at most 53 bits.
func (d *Decoder) ReadVarUint() (uint64, error) {
	// Fast path: one byte.
	if d.pos < len(d.buf) && d.buf[d.pos] < 0x80 {
		v := uint64(d.buf[d.pos])
		d.pos++
		return v, nil
	}
	var v uint64
	var shift uint
	for d.pos < len(d.buf) {
		c := d.buf[d.pos]
		d.pos++
		if shift >= 56 {
			return 0, ErrIntegerOverflow
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if v > MaxSafeInteger {
				return 0, ErrIntegerOverflow
			}
			return v, nil
		}
		shift += 7
	}
	return 0, ErrUnexpectedEOF
}

// ReadVarInt reads a lib0 varInt of at most 53 bits of magnitude. negZero
// is true for JavaScript's -0 (a zero with the sign bit set).
func (d *Decoder) ReadVarInt() (v int64, negZero bool, err error) {
	if d.pos >= len(d.buf) {
		return 0, false, ErrUnexpectedEOF
	}
	c := d.buf[d.pos]
	d.pos++
	mag := uint64(c & 0x3f)
	neg := c&0x40 != 0
	shift := uint(6)
	for c&0x80 != 0 {
		if d.pos >= len(d.buf) {
			return 0, false, ErrUnexpectedEOF
		}
		c = d.buf[d.pos]
		d.pos++
		if shift >= 55 {
			return 0, false, ErrIntegerOverflow
		}
		mag |= uint64(c&0x7f) << shift
		shift += 7
	}
	if mag > MaxSafeInteger {
		return 0, false, ErrIntegerOverflow
	}
	if neg {
		return -int64(mag), mag == 0, nil
	}
	return int64(mag), false, nil
}

// ReadBytes reads exactly n raw bytes.
func (d *Decoder) ReadBytes(n int) ([]byte, error) {
	if n < 0 || n > len(d.buf)-d.pos {
		return nil, ErrUnexpectedEOF
	}
	b := d.buf[d.pos : d.pos+n : d.pos+n]
	d.pos += n
	return b, nil
}

// ReadVarBytes reads a varUint length and that many bytes. The length is
// checked against the remaining input before anything else happens.
func (d *Decoder) ReadVarBytes() ([]byte, error) {
	n, err := d.ReadVarUint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.buf)-d.pos) {
		return nil, ErrUnexpectedEOF
	}
	return d.ReadBytes(int(n))
}

// ReadVarString reads a length-prefixed UTF-8 string. Invalid UTF-8 is an
// error, as it is for lib0's fatal TextDecoder.
func (d *Decoder) ReadVarString() (string, error) {
	b, err := d.ReadVarBytes()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", ErrInvalidUTF8
	}
	return string(b), nil
}

// SkipVarString is ReadVarString without the copy: it validates the string
// and returns its bytes, aliasing the input.
func (d *Decoder) SkipVarString() ([]byte, error) {
	b, err := d.ReadVarBytes()
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, ErrInvalidUTF8
	}
	return b, nil
}

// ReadFloat32 reads a big-endian IEEE 754 single.
func (d *Decoder) ReadFloat32() (float32, error) {
	b, err := d.ReadBytes(4)
	if err != nil {
		return 0, err
	}
	return math.Float32frombits(binary.BigEndian.Uint32(b)), nil
}

// ReadFloat64 reads a big-endian IEEE 754 double.
func (d *Decoder) ReadFloat64() (float64, error) {
	b, err := d.ReadBytes(8)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// ReadBigInt64 reads a big-endian two's complement 64-bit integer.
func (d *Decoder) ReadBigInt64() (int64, error) {
	b, err := d.ReadBytes(8)
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
