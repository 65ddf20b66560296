// Shared helpers for the ydiff differential tests: Yjs loading, a seeded PRNG,
// and the canonical content representation that the Go side must reproduce.
//
// Canonical content (per root, see canonicalContent):
//   text:  {kind:"text", json: text.toString(), delta: canonDelta(text)}
//   map:   {kind:"map",  json: canon(map.toJSON())}
//   array: {kind:"array",json: canon(array.toJSON())}
//   xml:   {kind:"xml",  json: xmlString(fragment), prosemirror: pm(fragment)}
//
// Yjs 13 content is recorded exactly: canonDelta keeps toDelta()'s runs (a
// new op at every visible ContentFormat item, even one that changes no
// attribute) and xmlString is XmlFragment.toString()'s algorithm over those
// runs. The run boundaries depend on which redundant format items a replica
// still holds; Yjs 13 deletes them after each remote transaction ("formatting
// cleanup"), and so does collabd, which stores and relays that deletion, so
// replicas agree. Yjs 14 content stays normalised (adjacent string ops with
// deep-equal attributes merged), since Yjs 14 formats differently.
// Other normalisations (both directions use the same functions):
//  * Attribute objects have their keys sorted (JSON key order is not
//    significant; compare parsed JSON, not bytes).
//  * A subdocument (ContentDoc, a Y.Doc stored as a Y.Map/Y.Array value) is
//    represented as {"guid": "<guid>"}. Yjs' own toJSON would give the subdoc's
//    Doc.toJSON(), which is {} for a subdoc that was never loaded (always the
//    case for a receiver), so it carries no information.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = path.resolve(here, '../..')

/** Load one Yjs flavour ('yjs' = 13.x, 'yjs14' = 14.0.0-16). Only ever load one per process. */
export async function loadYjs (which = 'yjs') {
  if (which !== 'yjs' && which !== 'yjs14') throw new Error(`--yjs must be yjs or yjs14, got ${which}`)
  const Y = await import(which)
  const pkgPath = path.join(repoRoot, 'node_modules', which, 'package.json')
  const version = JSON.parse(fs.readFileSync(pkgPath, 'utf8')).version
  return { Y, version, which }
}

// ---------- PRNG (mulberry32 + helpers) ----------
export function mix32 (a, b) {
  // splitmix-like combination of two 32-bit values into a seed
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0
  h ^= h >>> 16; h = Math.imul(h, 0x7feb352d) >>> 0
  h ^= h >>> 15; h = Math.imul(h, 0x846ca68b) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

export class Rng {
  constructor (seed) { this.s = seed >>> 0 }
  next () { // mulberry32, returns uint32
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  float () { return this.next() / 4294967296 }
  int (lo, hi) { return lo + Math.floor(this.float() * (hi - lo + 1)) } // inclusive
  bool (p = 0.5) { return this.float() < p }
  pick (arr) { return arr[Math.floor(this.float() * arr.length)] }
  shuffle (arr) {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1)); const t = arr[i]; arr[i] = arr[j]; arr[j] = t
    }
    return arr
  }
  weighted (pairs) { // [[weight, value], ...]
    let total = 0; for (const [w] of pairs) total += w
    let r = this.float() * total
    for (const [w, v] of pairs) { if ((r -= w) < 0) return v }
    return pairs[pairs.length - 1][1]
  }
}

// ---------- encoding helpers ----------
export const b64 = u8 => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64')
export const unb64 = s => new Uint8Array(Buffer.from(s, 'base64'))

export function svToObject (Y, svBytes) {
  const m = Y.decodeStateVector(svBytes)
  const o = {}
  for (const [c, clock] of [...m.entries()].sort((a, b) => a[0] - b[0])) o[String(c)] = clock
  return o
}

// ---------- canonical JSON ----------
// canon(v) == JSON.parse(JSON.stringify(v', replacer)) where v' is v with every
// shared type replaced by its Yjs 13 toJSON() value -- except that XML types
// are rendered with xmlString (merged deltas, see above) and subdocuments are
// {"guid": ...}. The replacer turns Uint8Array into standard base64 and sorts
// object keys. undefined (only possible via legacy ContentJSON) follows
// JSON.stringify: dropped from objects, null inside arrays.
export function makeCanon (Y, xmlStringRef) {
  const isType = v => v instanceof Y.AbstractType
  function plain (v) { // replace shared types / docs, recursively
    if (v === null || typeof v !== 'object') return v
    if (v instanceof Y.Doc) return { guid: v.guid }
    if (v instanceof Uint8Array) return v
    if (isType(v)) {
      const k = typeKind(Y, v)
      switch (k) {
        case 'text': return v.toString()
        case 'xmltext': case 'xmlelement': case 'xmlfragment': return xmlStringRef.fn(v)
        case 'map': case 'xmlhook': { const o = {}; v.forEach((val, key) => { o[key] = plain(val) }); return o }
        case 'array': return v.toArray().map(plain)
        default: throw new Error('unknown shared type ' + k)
      }
    }
    if (Array.isArray(v)) return v.map(plain)
    const o = {}; for (const k of Object.keys(v)) o[k] = plain(v[k]); return o
  }
  function replacer (key, value) {
    if (value instanceof Uint8Array) return b64(value)
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const o = {}
      for (const k of Object.keys(value).sort()) o[k] = value[k]
      return o
    }
    return value
  }
  return v => {
    const s = JSON.stringify(plain(v), replacer)
    return s === undefined ? null : JSON.parse(s)
  }
}

// stable stringify for deep-equality (object keys sorted)
export function stableStringify (v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  if (Array.isArray(v)) return '[' + v.map(stableStringify).join(',') + ']'
  return '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + stableStringify(v[k])).join(',') + '}'
}

// Raw delta of a Y.Text / Y.XmlText as Yjs-13-style ops [{insert, attributes?}].
export function rawDelta (Y, text) {
  if (typeof text.toDelta === 'function') return text.toDelta()
  // Yjs 14: getContent() returns a lib0 delta; children are
  // {type:'insert', insert: string | Array<embed|YType>, format?: {...}}
  const d = text.getContent()
  const ops = []
  for (const c of d.children) {
    if (c.type !== 'insert') throw new Error('unexpected delta child type ' + c.type)
    const attrs = c.format && Object.keys(c.format).length > 0 ? { ...c.format } : null
    const push = ins => { const op = { insert: ins }; if (attrs) op.attributes = attrs; ops.push(op) }
    if (typeof c.insert === 'string') push(c.insert)
    else for (const e of c.insert) push(e)
  }
  return ops
}

// Canonical delta: attributes canon'ed (sorted keys), adjacent string ops with
// deep-equal attributes merged.
// Yjs 13 content is recorded exactly (toDelta's runs, toString's tags);
// Yjs 14 content stays normalised (see README).
export function exactYjs (Y) { return typeof Y.Text?.prototype?.toDelta === 'function' }

export function canonDelta (Y, canon, text, merge = !exactYjs(Y)) {
  const out = []
  let lastKey = null
  for (const op of rawDelta(Y, text)) {
    const attrs = op.attributes && Object.keys(op.attributes).length > 0 ? canon(op.attributes) : null
    const key = attrs ? stableStringify(attrs) : ''
    if (typeof op.insert === 'string') {
      if (op.insert.length === 0) continue
      const prev = out[out.length - 1]
      if (merge && prev && typeof prev.insert === 'string' && lastKey === key) { prev.insert += op.insert; continue }
      const o = { insert: op.insert }; if (attrs) o.attributes = attrs
      out.push(o); lastKey = key
    } else {
      const o = { insert: canon(op.insert) }; if (attrs) o.attributes = attrs
      out.push(o); lastKey = null
    }
  }
  return out
}

// For-in over a JS value the way Yjs 13's XmlText.toString does it.
function forInKeys (v) {
  if (v === null || v === undefined) return []
  if (typeof v === 'string') return [...Array(v.length).keys()].map(String)
  if (typeof v !== 'object') return []
  const ks = []; for (const k in v) ks.push(k)
  return ks
}
const jsStr = v => '' + v // JS string conversion as used by Yjs' template strings

// Yjs-13-style XmlText rendering of a delta (inline format tags).
function xmlTextString (ops) {
  let res = ''
  for (const op of ops) {
    const nested = []
    for (const nodeName in (op.attributes || {})) {
      const val = op.attributes[nodeName]
      const attrs = forInKeys(val).map(key => ({ key, value: val[key] }))
      attrs.sort((a, b) => a.key < b.key ? -1 : 1)
      nested.push({ nodeName, attrs })
    }
    nested.sort((a, b) => a.nodeName < b.nodeName ? -1 : 1)
    let s = ''
    for (const n of nested) {
      s += '<' + n.nodeName
      for (const a of n.attrs) s += ' ' + a.key + '="' + jsStr(a.value) + '"'
      s += '>'
    }
    s += jsStr(op.insert)
    for (let i = nested.length - 1; i >= 0; i--) s += '</' + nested[i].nodeName + '>'
    res += s
  }
  return res
}

// Kind of a shared type instance (subclasses first).
export function typeKind (Y, t) {
  if (t instanceof Y.XmlText) return 'xmltext'
  if (t instanceof Y.Text) return 'text'
  if (t instanceof Y.XmlElement) return 'xmlelement'
  if (t instanceof Y.XmlFragment) return 'xmlfragment'
  if (t instanceof Y.XmlHook) return 'xmlhook'
  if (t instanceof Y.Map) return 'map'
  if (t instanceof Y.Array) return 'array'
  return 'unknown'
}

function children (t) { return t.toArray() }

export function makeReaders (Y) {
  const xmlRef = { fn: null }
  const canon = makeCanon(Y, xmlRef)
  // delta ops with raw (uncanon'ed) attribute values, merged like canonDelta
  const merge = !exactYjs(Y)
  const mergedRaw = text => {
    const out = []; let lastKey = null
    for (const op of rawDelta(Y, text)) {
      const hasA = op.attributes && Object.keys(op.attributes).length > 0
      const key = hasA ? stableStringify(canon(op.attributes)) : ''
      if (typeof op.insert === 'string') {
        if (op.insert.length === 0) continue
        const prev = out[out.length - 1]
        if (merge && prev && typeof prev.insert === 'string' && lastKey === key) { prev.insert += op.insert; continue }
        out.push(hasA ? { insert: op.insert, attributes: op.attributes } : { insert: op.insert }); lastKey = key
      } else { out.push(hasA ? { insert: op.insert, attributes: op.attributes } : { insert: op.insert }); lastKey = null }
    }
    return out
  }
  function xmlString (t) {
    const k = typeKind(Y, t)
    if (k === 'xmltext') return xmlTextString(mergedRaw(t))
    if (k === 'xmlelement') {
      const attrs = t.getAttributes()
      const keys = []; for (const key in attrs) keys.push(key)
      keys.sort()
      const parts = keys.map(key => key + '="' + jsStr(attrs[key]) + '"')
      const nodeName = t.nodeName.toLocaleLowerCase()
      return `<${nodeName}${parts.length ? ' ' + parts.join(' ') : ''}>${children(t).map(xmlString).join('')}</${nodeName}>`
    }
    if (k === 'xmlfragment') return children(t).map(xmlString).join('')
    return jsStr(t) // XmlHook etc: whatever JS gives (not generated inside XML trees)
  }
  xmlRef.fn = xmlString
  function pm (t, isRoot) {
    const k = typeKind(Y, t)
    if (k === 'xmlelement' || isRoot) {
      const node = { type: isRoot ? 'doc' : t.nodeName }
      if (!isRoot) {
        const a = t.getAttributes()
        if (Object.keys(a).length > 0) node.attrs = canon(a)
      }
      const content = []
      for (const c of children(t)) {
        const ck = typeKind(Y, c)
        if (ck === 'xmlelement') content.push(pm(c, false))
        else if (ck === 'xmltext') {
          for (const op of canonDelta(Y, canon, c, true)) { // ProseMirror joins same-mark text nodes
            if (typeof op.insert !== 'string' || op.insert.length === 0) continue
            const n = { type: 'text', text: op.insert }
            const marks = []
            for (const key of Object.keys(op.attributes || {}).sort()) {
              const v = op.attributes[key]
              const m = { type: key.split('--')[0] }
              if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) m.attrs = v
              marks.push(m)
            }
            if (marks.length) n.marks = marks
            content.push(n)
          }
        } // hooks and others are skipped
      }
      if (content.length) node.content = content
      return node
    }
    throw new Error('pm on ' + k)
  }
  function rootContent (doc, name, kind) {
    switch (kind) {
      case 'text': { const t = doc.getText(name); return { kind, json: t.toString(), delta: canonDelta(Y, canon, t) } }
      case 'map': return { kind, json: canon(doc.getMap(name)) }
      case 'array': return { kind, json: canon(doc.getArray(name)) }
      case 'xml': { const f = doc.getXmlFragment(name); return { kind, json: xmlString(f), prosemirror: pm(f, true) } }
      default: throw new Error('unknown root kind ' + kind)
    }
  }
  function canonicalContent (doc, roots) {
    const out = {}
    for (const name of Object.keys(roots).sort()) out[name] = rootContent(doc, name, roots[name])
    return out
  }
  return { canon, xmlString, pm, canonicalContent, rootContent }
}

export function listSessions (dir) {
  return fs.readdirSync(dir).filter(f => f.endsWith('.json') && f !== 'index.json')
    .map(f => f.slice(0, -5)).sort(naturalCompare)
}

export function naturalCompare (a, b) {
  const re = /(\d+)|(\D+)/g
  const pa = a.match(re) || []; const pb = b.match(re) || []
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]; const y = pb[i]
    if (/^\d/.test(x) && /^\d/.test(y)) { const d = Number(x) - Number(y); if (d) return d } else if (x !== y) return x < y ? -1 : 1
  }
  return pa.length - pb.length
}

export function writeIndex (dir) {
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(listSessions(dir), null, 0) + '\n')
}

export function parseArgs (argv, spec) {
  const out = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a.startsWith('--')) {
      const k = a.slice(2)
      if (spec[k] === 'bool') out[k] = true
      else { out[k] = argv[++i]; if (out[k] === undefined) throw new Error('missing value for ' + a) }
    } else out._.push(a)
  }
  return out
}
