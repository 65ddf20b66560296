package lib0

import (
	"fmt"
	"math"
	"sort"
)

// Type tags of the any encoding (lib0 writes 127 minus a table index).
const (
	tagUndefined = 127
	tagNull      = 126
	tagInteger   = 125
	tagFloat32   = 124
	tagFloat64   = 123
	tagBigInt    = 122
	tagFalse     = 121
	tagTrue      = 120
	tagString    = 119
	tagObject    = 118
	tagArray     = 117
	tagBytes     = 116
)

// maxPrealloc bounds the room ReadAny reserves for an array or object
// before decoding its elements. The count is checked against the remaining
// input, but nested containers would each reserve room for the same
// remaining bytes (quadratic in the input); beyond this, slices and maps
// grow with the elements actually decoded.
const maxPrealloc = 8

// Undefined is JavaScript's undefined as a decoded any value.
type Undefined struct{}

// BigInt is a JavaScript BigInt (lib0 carries 64 bits of it).
type BigInt int64

// ReadAny decodes one any-encoded value into Go values:
// nil (null), Undefined, bool, float64 (every JavaScript number, integers
// included, as JavaScript sees them), BigInt, string, []byte (aliasing the
// input), []any and map[string]any (a repeated key keeps the last value, as
// in JavaScript).
func (d *Decoder) ReadAny() (any, error) { return d.readAny(0) }

func (d *Decoder) readAny(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, ErrTooDeep
	}
	tag, err := d.ReadUint8()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagUndefined:
		return Undefined{}, nil
	case tagNull:
		return nil, nil
	case tagInteger:
		v, negZero, err := d.ReadVarInt()
		if err != nil {
			return nil, err
		}
		if negZero {
			return math.Copysign(0, -1), nil
		}
		return float64(v), nil
	case tagFloat32:
		f, err := d.ReadFloat32()
		return float64(f), err
	case tagFloat64:
		return d.ReadFloat64()
	case tagBigInt:
		v, err := d.ReadBigInt64()
		return BigInt(v), err
	case tagFalse:
		return false, nil
	case tagTrue:
		return true, nil
	case tagString:
		return d.ReadVarString()
	case tagObject:
		n, err := d.readCount(2) // a key length and a tag at least
		if err != nil {
			return nil, err
		}
		obj := make(map[string]any, min(n, maxPrealloc))
		for range n {
			k, err := d.ReadVarString()
			if err != nil {
				return nil, err
			}
			v, err := d.readAny(depth + 1)
			if err != nil {
				return nil, err
			}
			obj[k] = v
		}
		return obj, nil
	case tagArray:
		n, err := d.readCount(1)
		if err != nil {
			return nil, err
		}
		arr := make([]any, 0, min(n, maxPrealloc))
		for range n {
			v, err := d.readAny(depth + 1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case tagBytes:
		return d.ReadVarBytes()
	default:
		return nil, fmt.Errorf("%w: unknown any type tag %d", ErrMalformed, tag)
	}
}

// readCount reads an element count and checks that the remaining input can
// hold that many elements of at least minSize bytes each (at least one byte
// each when minSize is smaller).
func (d *Decoder) readCount(minSize int) (int, error) {
	n, err := d.ReadVarUint()
	if err != nil {
		return 0, err
	}
	minSize = max(minSize, 1)
	if n > uint64(d.Remaining()/minSize) {
		return 0, ErrUnexpectedEOF
	}
	return int(n), nil
}

// ReadCount reads a varUint element count and checks that the remaining
// input can hold that many elements of at least minSize bytes each, so a
// caller may allocate for the count without trusting it. A minSize below 1
// counts as 1: every element takes at least one byte. The check is against
// all the remaining input: a recursive decoder that allocated for the count
// at every level would allocate for the same bytes again and again, and
// should let its slices grow instead (as ReadAny does).
func (d *Decoder) ReadCount(minSize int) (int, error) { return d.readCount(minSize) }

// SkipAny validates one any-encoded value and returns its encoded bytes
// (aliasing the input) without building Go values.
func (d *Decoder) SkipAny() ([]byte, error) {
	start := d.pos
	if err := d.skipAny(0); err != nil {
		return nil, err
	}
	return d.buf[start:d.pos:d.pos], nil
}

func (d *Decoder) skipAny(depth int) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	tag, err := d.ReadUint8()
	if err != nil {
		return err
	}
	switch tag {
	case tagUndefined, tagNull, tagFalse, tagTrue:
		return nil
	case tagInteger:
		_, _, err := d.ReadVarInt()
		return err
	case tagFloat32:
		_, err := d.ReadBytes(4)
		return err
	case tagFloat64, tagBigInt:
		_, err := d.ReadBytes(8)
		return err
	case tagString:
		_, err := d.SkipVarString()
		return err
	case tagObject:
		n, err := d.readCount(2)
		if err != nil {
			return err
		}
		for range n {
			if _, err := d.SkipVarString(); err != nil {
				return err
			}
			if err := d.skipAny(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case tagArray:
		n, err := d.readCount(1)
		if err != nil {
			return err
		}
		for range n {
			if err := d.skipAny(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case tagBytes:
		_, err := d.ReadVarBytes()
		return err
	default:
		return fmt.Errorf("%w: unknown any type tag %d", ErrMalformed, tag)
	}
}

// WriteAny appends v in the any encoding, choosing the representation lib0
// chooses for the equivalent JavaScript value: integers within ±(2^31-1) as
// varInt, numbers exact in float32 as float32, others as float64 (every NaN
// as JavaScript's NaN, 0x7ff8000000000000). Accepted
// types: nil, Undefined, bool, string, all Go integer and float types,
// BigInt, []byte, []any and map[string]any (keys written in sorted order so
// output is deterministic). Anything else is an error and nothing is written.
func (e *Encoder) WriteAny(v any) error {
	mark := len(e.Buf)
	if err := e.writeAny(v, 0); err != nil {
		e.Buf = e.Buf[:mark]
		return err
	}
	return nil
}

func (e *Encoder) writeAny(v any, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("lib0: value nested deeper than %d", MaxDepth)
	}
	switch x := v.(type) {
	case nil:
		e.WriteUint8(tagNull)
	case Undefined:
		e.WriteUint8(tagUndefined)
	case bool:
		if x {
			e.WriteUint8(tagTrue)
		} else {
			e.WriteUint8(tagFalse)
		}
	case string:
		e.WriteUint8(tagString)
		e.WriteVarString(x)
	case BigInt:
		e.WriteUint8(tagBigInt)
		e.WriteBigInt64(int64(x))
	case int:
		e.writeNumber(float64(x))
	case int8:
		e.writeNumber(float64(x))
	case int16:
		e.writeNumber(float64(x))
	case int32:
		e.writeNumber(float64(x))
	case int64:
		e.writeNumber(float64(x))
	case uint:
		e.writeNumber(float64(x))
	case uint8:
		e.writeNumber(float64(x))
	case uint16:
		e.writeNumber(float64(x))
	case uint32:
		e.writeNumber(float64(x))
	case uint64:
		e.writeNumber(float64(x))
	case float32:
		e.writeNumber(float64(x))
	case float64:
		e.writeNumber(x)
	case []byte:
		e.WriteUint8(tagBytes)
		e.WriteVarBytes(x)
	case []any:
		e.WriteUint8(tagArray)
		e.WriteVarUint(uint64(len(x)))
		for _, el := range x {
			if err := e.writeAny(el, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.WriteUint8(tagObject)
		e.WriteVarUint(uint64(len(keys)))
		for _, k := range keys {
			e.WriteVarString(k)
			if err := e.writeAny(x[k], depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("lib0: cannot encode %T", v)
	}
	return nil
}

// canonicalNaN is the bit pattern JavaScript engines write for NaN
// (math.NaN has a different payload).
const canonicalNaN = 0x7ff8000000000000

func (e *Encoder) writeNumber(f float64) {
	switch {
	case math.IsNaN(f):
		e.WriteUint8(tagFloat64)
		e.WriteFloat64(math.Float64frombits(canonicalNaN))
	case f == math.Trunc(f) && math.Abs(f) <= math.MaxInt32:
		e.WriteUint8(tagInteger)
		e.Buf = AppendVarInt(e.Buf, int64(f), math.Signbit(f))
	case float64(float32(f)) == f:
		e.WriteUint8(tagFloat32)
		e.WriteFloat32(float32(f))
	default:
		e.WriteUint8(tagFloat64)
		e.WriteFloat64(f)
	}
}
