// Golden vectors for collabd's lib0 package, produced by the real lib0 npm
// package (the version pinned in package.json).
//
//	node tools/golden/lib0.mjs
//
// writes lib0/testdata/golden.json. The output is deterministic: running the
// script again without changing it or the pinned packages gives the same file.
//
// Value notation (so that Go can rebuild values JSON cannot carry):
//
//	{"t":"undefined"} {"t":"null"} {"t":"bool","v":true}
//	{"t":"number","v":"-0"|"NaN"|"Infinity"|"1.5"...}   (JavaScript String(n), "-0" for -0)
//	{"t":"bigint","v":"-9223372036854775808"}
//	{"t":"string","v":"..."}  {"t":"bytes","v":"<hex>"}
//	{"t":"array","v":[...]}  {"t":"object","v":[["key", value], ...]} (lib0's key order)

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const lib0Version = JSON.parse(readFileSync(join(root, 'node_modules/lib0/package.json'), 'utf8')).version

const hex = (u8) => Buffer.from(u8).toString('hex')
// A fresh Uint8Array over its own ArrayBuffer: lib0 builds views on
// decoder.arr.buffer, and Buffer.from may hand out a slice of a shared pool,
// which would hide out-of-bounds reads.
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'))
const encode = (fn) => {
  const e = encoding.createEncoder()
  fn(e)
  return encoding.toUint8Array(e)
}

const numStr = (n) => Object.is(n, -0) ? '-0' : String(n)

const typed = (v) => {
  if (v === undefined) return { t: 'undefined' }
  if (v === null) return { t: 'null' }
  switch (typeof v) {
    case 'boolean': return { t: 'bool', v }
    case 'number': return { t: 'number', v: numStr(v) }
    case 'bigint': return { t: 'bigint', v: v.toString() }
    case 'string': return { t: 'string', v }
  }
  if (v instanceof Uint8Array) return { t: 'bytes', v: hex(v) }
  if (Array.isArray(v)) return { t: 'array', v: v.map(typed) }
  return { t: 'object', v: Object.keys(v).map((k) => [k, typed(v[k])]) }
}

// canonical reports whether collabd's encoder (which writes object keys in
// byte order of their UTF-8 encoding) produces the same bytes as lib0, which
// writes them in Object.keys order.
const canonical = (v) => {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return true
  if (Array.isArray(v)) return v.every(canonical)
  const keys = Object.keys(v)
  for (let i = 1; i < keys.length; i++) {
    if (Buffer.compare(Buffer.from(keys[i - 1]), Buffer.from(keys[i])) >= 0) return false
  }
  return keys.every((k) => canonical(v[k]))
}

// --- varUint ---------------------------------------------------------------

const varUintValues = [
  0, 1, 2, 63, 64, 127, 128, 129, 255, 256, 300,
  2 ** 14 - 1, 2 ** 14, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28,
  2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 42, 2 ** 49,
  2 ** 52, 2 ** 53 - 2, 2 ** 53 - 1
]
const varUint = varUintValues.map((n) => ({
  value: String(n),
  hex: hex(encode((e) => encoding.writeVarUint(e, n)))
}))
// Encodings lib0 never writes but reads (padding with zero groups). collabd
// reads them to the same value and writes the minimal form.
const varUintNonMinimal = ['8000', '8100', 'ff00', '808000', '8080808000', '80808080808000'].map((h) => ({
  value: String(decoding.readVarUint(decoding.createDecoder(bytes(h)))),
  hex: h
}))

// --- varInt ----------------------------------------------------------------

const varIntValues = [
  0, -0, 1, -1, 2, -2, 63, -63, 64, -64, 127, -127, 128, -128, 8191, -8191, 8192, -8192,
  2 ** 20, -(2 ** 20), 2 ** 31 - 1, -(2 ** 31 - 1), 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32),
  2 ** 48, -(2 ** 48), 2 ** 53 - 1, -(2 ** 53 - 1)
]
const varInt = varIntValues.map((n) => ({
  value: numStr(n),
  hex: hex(encode((e) => encoding.writeVarInt(e, n)))
}))

// --- varString -------------------------------------------------------------

const strings = [
  '', 'a', 'hello world', 'héllo wörld', 'naïve café', '漢字テスト', '한국어', 'Ωμέγα',
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', 'a😀b漢c', '\u0000', 'tab\tnew\nline', '\u007f\u0080\u07ff\u0800\uffff',
  '\ud800\udc00', '\udbff\udfff', '\ufeffbom', 'x'.repeat(127), 'y'.repeat(128),
  // 10000 UTF-16 units or more take lib0's second (non-buffered) code path.
  'é'.repeat(5000) + 'z'.repeat(5001)
]
const varString = strings.map((s) => ({
  value: s,
  hex: hex(encode((e) => encoding.writeVarString(e, s)))
}))
// JavaScript strings that are not well-formed UTF-16 are written with U+FFFD
// in place of each lone surrogate.
const varStringLoneSurrogate = ['\ud800', 'a\udfffb', '\udc00\ud800'].map((s) => {
  const b = encode((e) => encoding.writeVarString(e, s))
  return { value: decoding.readVarString(decoding.createDecoder(b)), hex: hex(b) }
})

// --- any -------------------------------------------------------------------

const nest = (depth, leaf) => {
  let v = leaf
  for (let i = 0; i < depth; i++) v = [v]
  return v
}
const anyValues = [
  ['undefined', undefined],
  ['null', null],
  ['true', true],
  ['false', false],
  ['int 0', 0],
  ['int -0', -0],
  ['int 1', 1],
  ['int -1', -1],
  ['int 63', 63],
  ['int 64', 64],
  ['int -64', -64],
  ['int 1000', 1000],
  ['int 2^31-1', 2 ** 31 - 1],
  ['int -(2^31-1)', -(2 ** 31 - 1)],
  ['float32 2^31', 2 ** 31],
  ['float32 -2^31', -(2 ** 31)],
  ['float32 2^32', 2 ** 32],
  ['float32 2^53', 2 ** 53],
  ['float64 2^53-1', 2 ** 53 - 1],
  ['float64 -(2^53-1)', -(2 ** 53 - 1)],
  ['float32 0.5', 0.5],
  ['float32 -1.5', -1.5],
  ['float32 0.15625', 0.15625],
  ['float32 max', 3.4028234663852886e38],
  ['float32 min subnormal', 1.401298464324817e-45],
  ['float64 0.1', 0.1],
  ['float64 pi', Math.PI],
  ['float64 -1e300', -1e300],
  ['float64 1e21', 1e21],
  ['float64 MIN_VALUE', Number.MIN_VALUE],
  ['float64 MAX_VALUE', Number.MAX_VALUE],
  ['float64 EPSILON', Number.EPSILON],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['bigint 0', 0n],
  ['bigint 1', 1n],
  ['bigint -1', -1n],
  ['bigint 2^53+1', 2n ** 53n + 1n],
  ['bigint max int64', 2n ** 63n - 1n],
  ['bigint min int64', -(2n ** 63n)],
  ['string empty', ''],
  ['string ascii', 'hello'],
  ['string cjk', '漢字'],
  ['string emoji', '😀👍🏽'],
  ['string nul', 'a\u0000b'],
  ['string long', 'ü'.repeat(200)],
  ['bytes empty', new Uint8Array(0)],
  ['bytes', new Uint8Array([0, 1, 2, 127, 128, 255])],
  ['bytes 300', Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 255)],
  ['array empty', []],
  ['object empty', {}],
  ['array mixed', [1, 'two', 3.5, null, undefined, true, false, [], {}, new Uint8Array([9])]],
  ['object sorted', { a: 1, b: 'x', c: [true, null], d: { e: -2.5 } }],
  ['object nested', { cursor: { anchor: { type: null, tname: 'prosemirror', item: { client: 1234567890, clock: 42 }, assoc: 0 } }, user: { color: '#30bced', name: 'Alice 😀' } }],
  ['object unicode keys', { Z: 1, a: 2, é: 3, 漢: 4, '😀': 5 }],
  ['object js key order', { b: 1, a: 2, 10: 'ten', 2: 'two' }],
  ['object emoji vs bmp key order', { '\uff01': 1, '😀': 2 }],
  ['array of 200', Array.from({ length: 200 }, (_, i) => i % 3 === 0 ? i : i % 3 === 1 ? `s${i}` : null)],
  ['nested arrays 64', nest(64, 'deep')],
  ['nested arrays 256', nest(256, null)]
]
const any = anyValues.map(([name, v]) => {
  const b = encode((e) => encoding.writeAny(e, v))
  // Check the vector with lib0's own decoder.
  const back = decoding.readAny(decoding.createDecoder(b))
  if (hex(encode((e) => encoding.writeAny(e, back))) !== hex(b)) throw new Error(`lib0 round trip differs for ${name}`)
  return { name, value: typed(v), hex: hex(b), canonical: canonical(v) }
})

// Encodings lib0 reads but does not write for that value: collabd must read
// them to the same value.
const anyDecodeOnly = [
  ['varInt tag beyond 2^31', '7d' + hex(encode((e) => encoding.writeVarInt(e, 2 ** 40)))],
  ['varInt tag -(2^53-1)', '7d' + hex(encode((e) => encoding.writeVarInt(e, -(2 ** 53 - 1))))],
  ['float32 tag holding integer', '7c3f800000'],
  ['float32 tag holding -0', '7c80000000'],
  ['float64 tag holding integer', '7b4059000000000000'],
  ['float32 NaN payload', '7c7fc00001'],
  ['object duplicate key', '7602' + '0161' + '7d01' + '0161' + '7d02'],
  ['non-minimal lengths', '77' + '8300' + '616263']
].map(([name, h]) => ({ name, hex: h, value: typed(decoding.readAny(decoding.createDecoder(bytes(h)))) }))

// --- rejected input --------------------------------------------------------

const readers = {
  varUint: decoding.readVarUint,
  varInt: decoding.readVarInt,
  varString: decoding.readVarString,
  varBytes: decoding.readVarUint8Array,
  any: decoding.readAny
}
const tryRead = (reader, h) => {
  try {
    const v = readers[reader](decoding.createDecoder(bytes(h)))
    return { ok: true, v }
  } catch (err) {
    return { ok: false, err: String(err && err.message) }
  }
}
const nestedArrayHex = (n) => '7501'.repeat(n) + '7e'
const rejectCandidates = [
  ['varUint', 'empty', ''],
  ['varUint', 'truncated', '80'],
  ['varUint', 'truncated long', 'ffffff'],
  ['varUint', 'overflow 9 bytes', 'ffffffffffffffff7f'],
  ['varUint', 'overflow 10 bytes', 'ffffffffffffffffff01'],
  ['varInt', 'truncated', 'c0'],
  ['varInt', 'truncated long', 'ffffff'],
  ['varInt', 'overflow', 'ffffffffffffffff7f'],
  ['varString', 'empty', ''],
  ['varString', 'length beyond input', '05616263'],
  ['varString', 'length overflow', 'ffffffffffffffff7f'],
  ['varString', 'lone continuation byte', '0180'],
  ['varString', 'invalid byte ff', '01ff'],
  ['varString', 'invalid byte c0', '02c0af'],
  ['varString', 'overlong slash', '03e080af'],
  ['varString', 'overlong NUL', '02c080'],
  ['varString', 'encoded surrogate', '03eda080'],
  ['varString', 'beyond U+10FFFF', '04f4908080'],
  ['varString', 'truncated sequence', '02e282'],
  ['varString', 'truncated 4-byte', '03f09f98'],
  ['varString', 'bad continuation', '03e228a1'],
  ['varBytes', 'length beyond input', '0300'],
  ['varBytes', 'length huge', 'ffffffff0f'],
  ['any', 'empty', ''],
  ['any', 'unknown tag 0', '00'],
  ['any', 'unknown tag 115', '73'],
  ['any', 'unknown tag 128', '80'],
  ['any', 'unknown tag 255', 'ff'],
  ['any', 'float32 truncated', '7c0000'],
  ['any', 'float64 truncated', '7b00000000'],
  ['any', 'bigint truncated', '7a000000'],
  ['any', 'string truncated', '770561'],
  ['any', 'string invalid utf-8', '7701ff'],
  ['any', 'string surrogate', '7703eda080'],
  ['any', 'object truncated', '7601'],
  ['any', 'object key invalid utf-8', '760101ff7e'],
  ['any', 'object value missing', '76010161'],
  ['any', 'array truncated', '75027e'],
  ['any', 'array huge count', '75ffffffff0f'],
  ['any', 'array element bad tag', '750100'],
  ['any', 'bytes truncated', '74050102'],
  ['any', 'bytes huge length', '74ffffffffffff0f'],
  ['any', 'varInt overflow', '7dffffffffffffffff7f'],
  ['any', 'object huge count', '76ffffffffffffff0f']
]
const reject = []
for (const [reader, name, h] of rejectCandidates) {
  const r = tryRead(reader, h)
  if (r.ok) throw new Error(`lib0 accepts reject candidate ${reader} ${name}`)
  reject.push({ reader, name, hex: h, lib0Error: r.err })
}

// Input lib0 accepts but collabd rejects on purpose; each is documented in
// the Go tests.
const stricterCandidates = [
  ['varUint', 'above 2^53 in the last byte', 'ffffffffffffff1f', 'integers are limited to 2^53-1'],
  ['varUint', '2^56-1', 'ffffffffffffff7f', 'integers are limited to 2^53-1'],
  ['varUint', 'nine zero groups', '808080808080808000', 'at most 8 bytes'],
  ['varInt', 'empty', '', 'lib0 reads a missing varInt as 0'],
  ['varInt', 'magnitude above 2^53', 'ffffffffffffff7f', 'integers are limited to 2^53-1'],
  ['any', 'integer tag without value', '7d', 'lib0 reads a missing varInt as 0'],
  ['any', 'nesting 300', nestedArrayHex(300), 'nesting limit']
]
const stricter = []
for (const [reader, name, h, why] of stricterCandidates) {
  const r = tryRead(reader, h)
  if (!r.ok) throw new Error(`lib0 rejects stricter candidate ${reader} ${name}: ${r.err}`)
  stricter.push({ reader, name, hex: h, why })
}

// stringify writes one array element per line: readable diffs, no deep
// indentation.
const stringify = (obj) => {
  const parts = Object.entries(obj).map(([k, v]) => {
    if (!Array.isArray(v)) return `${JSON.stringify(k)}: ${JSON.stringify(v)}`
    return `${JSON.stringify(k)}: [\n${v.map((x) => '  ' + JSON.stringify(x)).join(',\n')}\n]`
  })
  return `{\n${parts.join(',\n')}\n}\n`
}

const out = {
  comment: 'Generated by tools/golden/lib0.mjs from the lib0 npm package; do not edit.',
  lib0: lib0Version,
  varUint,
  varUintNonMinimal,
  varInt,
  varString,
  varStringLoneSurrogate,
  any,
  anyDecodeOnly,
  reject,
  stricter
}
mkdirSync(join(root, 'lib0/testdata'), { recursive: true })
writeFileSync(join(root, 'lib0/testdata/golden.json'), stringify(out))
console.log(`lib0 ${lib0Version}: ${varUint.length} varUint, ${varInt.length} varInt, ${varString.length} strings, ${any.length + anyDecodeOnly.length} any, ${reject.length} reject, ${stricter.length} stricter`)
