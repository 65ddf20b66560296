#!/usr/bin/env node
// Fixtures for ydoc's export tests (export_test.go), recorded from real Yjs.
//   node ydoc/testdata/export/gen.mjs            (from the repo root)
// Writes ydoc/testdata/export/fixtures.json: for every case the document's
// full state (a v1 update) and, per root and for the kind it is read as,
// what Yjs gives: toString, toDelta, toJSON (through JSON.stringify with a
// replacer, see jsonOf) and the ProseMirror-style tree defined in
// ydoc.Type.ProseMirrorJSON. "inferred" is the kind Doc.RootKind must infer
// (Yjs has no such notion; it is written down here by hand).
//
// Deterministic: fixed client ids, no randomness.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'

const here = path.dirname(fileURLToPath(import.meta.url))
const b64 = u8 => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64')

// ---------- how Yjs's values become JSON ----------

// jsonOf(v) is JSON.parse(JSON.stringify(v', replacer)) where v' is v with
// shared types replaced by their toJSON(); the replacer turns Uint8Array
// into standard base64, a Y.Doc into {guid}, and a BigInt into a number
// when the number is exact, else its decimal string (JSON.stringify would
// throw on it). Object keys are sorted, which JSON comparison ignores.
function jsonOf (v) {
  const s = JSON.stringify(v instanceof Y.AbstractType ? v.toJSON() : v, function (k, val) {
    const raw = this[k]
    if (raw instanceof Y.Doc) return { guid: raw.guid }
    if (raw instanceof Y.AbstractType) return raw.toJSON()
    if (typeof val === 'bigint') return BigInt(Number(val)) === val ? Number(val) : val.toString()
    if (val instanceof Uint8Array) return b64(val)
    if (val !== null && typeof val === 'object' && !Array.isArray(val)) {
      const o = {}
      for (const key of Object.keys(val).sort()) o[key] = val[key]
      return o
    }
    return val
  })
  return s === undefined ? null : JSON.parse(s)
}

const kindOf = t => {
  if (t instanceof Y.XmlText) return 'xmltext'
  if (t instanceof Y.Text) return 'text'
  if (t instanceof Y.XmlElement) return 'xmlelement'
  if (t instanceof Y.XmlFragment) return 'xmlfragment'
  if (t instanceof Y.XmlHook) return 'xmlhook'
  if (t instanceof Y.Map) return 'map'
  if (t instanceof Y.Array) return 'array'
  return 'unknown'
}

// delta: Yjs's toDelta with inserts and attributes as JSON. Asserts that no
// two adjacent string ops have equal attributes unless the case allows it
// (split: the exact ops are recorded) or asks for merging (merge: the
// ProseMirror tree, since ProseMirror joins same-mark text nodes).
function deltaOf (t, allowMerge, allowSplit) {
  const out = []
  let lastKey = null
  for (const op of t.toDelta()) {
    const attrs = op.attributes && Object.keys(op.attributes).length ? jsonOf(op.attributes) : null
    const key = attrs ? JSON.stringify(attrs) : ''
    if (typeof op.insert === 'string') {
      const prev = out[out.length - 1]
      if (prev && typeof prev.insert === 'string' && lastKey === key) {
        if (allowMerge) {
          prev.insert += op.insert
          continue
        }
        if (!allowSplit) throw new Error('adjacent string ops with equal attributes: ' + JSON.stringify(t.toDelta()))
      }
      lastKey = key
    } else lastKey = null
    const o = { insert: typeof op.insert === 'string' ? op.insert : jsonOf(op.insert) }
    if (attrs) o.attributes = attrs
    if (typeof op.insert !== 'string') Object.defineProperty(o, 'embed', { value: true }) // not serialized
    out.push(o)
  }
  return out
}

// The ProseMirror-style tree of ydoc.Type.ProseMirrorJSON.
function pm (t, root) {
  const node = { type: root ? 'doc' : t.nodeName }
  if (!root) {
    const a = t.getAttributes()
    if (Object.keys(a).length > 0) node.attrs = jsonOf(a)
  }
  const content = []
  for (const c of t.toArray()) {
    if (c instanceof Y.XmlElement) content.push(pm(c, false))
    else if (c instanceof Y.XmlText) {
      // deltaOf turns embedded types into their (string) JSON: skip every
      // op that was not a string insert in Yjs's own delta.
      for (const op of deltaOf(c, true)) {
        if (op.embed || typeof op.insert !== 'string' || op.insert === '') continue
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
    }
  }
  if (content.length) node.content = content
  return node
}

const getters = {
  text: (d, n) => d.getText(n),
  xmltext: (d, n) => d.get(n, Y.XmlText),
  map: (d, n) => d.getMap(n),
  array: (d, n) => d.getArray(n),
  xmlfragment: (d, n) => d.getXmlFragment(n)
}

// record reads every root of a finished document. roots: {name: {as, inferred, split?}}
function record (name, doc, roots, note) {
  const state = Y.encodeStateAsUpdate(doc)
  // Read from a fresh replica so that reading (which defines root types)
  // cannot influence anything that is encoded.
  const r = new Y.Doc({ gc: doc.gc })
  Y.applyUpdate(r, state)
  const out = {}
  for (const [root, spec] of Object.entries(roots)) {
    const t = getters[spec.as](r, root)
    const e = { as: spec.as, inferred: spec.inferred, json: jsonOf(t) }
    if (spec.as === 'text' || spec.as === 'xmltext') e.delta = deltaOf(t, false, !!spec.split)
    if (spec.as !== 'map' && spec.as !== 'array') e.string = t.toString()
    if (spec.as === 'xmlfragment') e.prosemirror = pm(t, true)
    out[root] = e
  }
  return { name, note, gc: doc.gc, update: b64(state), roots: out }
}

function newDoc (id = 1, gc = true) {
  const d = new Y.Doc({ gc })
  d.clientID = id
  return d
}
const sync = (a, b) => Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))

const cases = []

// ---------- Y.Text ----------
{
  const d = newDoc()
  const t = d.getText('text')
  t.insert(0, 'Hello world, this is bold and italic.')
  t.format(0, 5, { bold: true })
  t.format(6, 5, { italic: true, color: '#ff0000' })
  t.format(8, 10, { bold: true }) // overlaps italic
  t.format(9, 2, { bold: null }) // toggles bold off inside
  t.format(20, 4, { link: { href: 'https://example.com/', target: '_blank' } })
  t.format(25, 3, { size: 12, flag: false, list: [1, 'two', null] })
  t.insert(t.length, ' tail', { underline: true })
  t.insert(t.length, ' plain', {})
  cases.push(record('text-formatting', d, { text: { as: 'text', inferred: 'text' } }, 'attributes toggled on and off, overlapping, object/array/false values'))
}
{
  const d = newDoc()
  const t = d.getText('text')
  t.insert(0, 'ab')
  t.insertEmbed(1, { image: 'https://img/1.png' })
  t.insertEmbed(2, { mention: { id: 7 } }, { bold: true })
  t.insertEmbed(0, [1, 'x'])
  t.insertEmbed(0, 'string embed')
  t.insertEmbed(0, 42)
  t.insert(t.length, 'c', { bold: true })
  const m = new Y.Map()
  t.insertEmbed(t.length, m)
  m.set('k', 'v'); m.set('n', 1)
  const inner = new Y.Text()
  t.insertEmbed(t.length, inner, { italic: true })
  inner.insert(0, 'nested text')
  cases.push(record('text-embeds', d, { text: { as: 'text', inferred: 'text' } }, 'embeds of every JSON type and embedded shared types'))
}
{
  const a = newDoc(1); const b = newDoc(2)
  const t = a.getText('text')
  t.insert(0, 'a😀b👍🏽c🇩🇪𝄞')
  sync(a, b)
  b.getText('text').insert(2, 'X') // between the halves of 😀
  a.getText('text').format(5, 3, { bold: true }) // starts inside 👍's pair
  sync(b, a); sync(a, b)
  cases.push(record('text-surrogates', a, { text: { as: 'text', inferred: 'text' } }, 'surrogate pairs, split by a concurrent insert (Yjs writes U+FFFD)'))
}
{
  const d = newDoc(1, false)
  const t = d.getText('text')
  t.insert(0, 'gone', { bold: true })
  t.delete(0, 4)
  d.getMap('meta').set('x', 1)
  d.getMap('meta').delete('x')
  cases.push(record('deleted-history', d, { text: { as: 'text', inferred: 'text' }, meta: { as: 'map', inferred: 'map' } }, 'gc off: deleted content is kept'))
}
{
  const d = newDoc()
  const t = d.getText('text')
  t.insert(0, 'gone')
  t.delete(0, 4)
  cases.push(record('deleted-gc', d, { text: { as: 'text', inferred: 'text' } }, 'gc on: only tombstones left'))
}

// ---------- Y.Map / Y.Array ----------
{
  const d = newDoc()
  const m = d.getMap('map')
  m.set('str', 'hello <&> "quoted"')
  m.set('int', 42); m.set('neg', -7); m.set('float', 1.5); m.set('big', 1e21); m.set('small', 2.5e-8)
  m.set('negzero', -0); m.set('nan', NaN); m.set('inf', Infinity); m.set('undef', undefined)
  m.set('t', true); m.set('f', false); m.set('null', null)
  m.set('obj', { a: 1, b: [true, null, 'x'], c: { d: new Uint8Array([1, 2, 3]) }, u: undefined })
  m.set('arr', [1, [2, [3]], undefined, NaN])
  m.set('bin', new Uint8Array([0, 255, 16])) // ContentBinary
  m.set('bigint', 42n); m.set('bigint2', 2n ** 60n + 1n)
  m.set('overwritten', 1); m.set('overwritten', 2)
  m.set('deleted', 1); m.delete('deleted')
  const sub = new Y.Map(); m.set('submap', sub); sub.set('x', [1, 2])
  const arr = new Y.Array(); m.set('subarray', arr); arr.push(['a', new Uint8Array([9])])
  const txt = new Y.Text(); m.set('subtext', txt); txt.insert(0, 'inner', { bold: true })
  const xf = new Y.XmlFragment(); m.set('xmlfragment', xf); const xe = new Y.XmlElement('P'); xf.insert(0, [xe]); xe.setAttribute('k', 'v')
  const xt = new Y.XmlText(); m.set('xmltext', xt); xt.insert(0, 'x', { b: {} })
  const hook = new Y.XmlHook('hookname'); m.set('hook', hook); hook.set('h', 1)
  m.set('subdoc', new Y.Doc({ guid: 'sub-guid-1' }))
  cases.push(record('map-values', d, { map: { as: 'map', inferred: 'map' } }, 'every value kind in a map'))
}
{
  const d = newDoc()
  const a = d.getArray('array')
  a.push([1, 'two', null, true, NaN, -0, 1e300, [1, { x: undefined }], { y: 2 }])
  a.push([new Uint8Array([7, 8])])
  const m = new Y.Map(); a.push([m]); m.set('deep', 'yes')
  const inner = new Y.Array(); a.push([inner]); const innerText = new Y.Text(); inner.push([innerText]); innerText.insert(0, 'deep text')
  a.push([new Y.Doc({ guid: 'sub-guid-2' })])
  a.delete(2, 1)
  cases.push(record('array-values', d, { array: { as: 'array', inferred: 'array' } }, 'every value kind in an array, nested types'))
}

// ---------- XML ----------
{
  const d = newDoc()
  const f = d.getXmlFragment('prosemirror')
  const h = new Y.XmlElement('heading'); f.insert(0, [h])
  h.setAttribute('level', 2)
  const ht = new Y.XmlText(); h.insert(0, [ht]); ht.insert(0, 'Title & <stuff>')
  const p = new Y.XmlElement('paragraph'); f.insert(1, [p])
  p.setAttribute('textAlign', 'center')
  const pt = new Y.XmlText(); p.insert(0, [pt])
  pt.insert(0, 'plain ')
  pt.insert(6, 'bold', { bold: {} })
  pt.insert(10, ' link', { link: { href: 'https://x/?a=1&b="2"' }, italic: {} })
  pt.insert(15, ' commented', { 'comment--1': { id: 'c1' }, 'comment--2': { id: 'c2', resolved: false } })
  pt.insert(pt.length, ' code', { code: true })
  pt.insert(pt.length, ' color', { color: '#f00' })
  const img = new Y.XmlElement('image'); f.insert(2, [img])
  img.setAttribute('src', 'https://img/1'); img.setAttribute('alt', null); img.setAttribute('width', 12.5)
  const list = new Y.XmlElement('bullet_list'); f.insert(3, [list])
  const li = new Y.XmlElement('list_item'); list.insert(0, [li])
  const lp = new Y.XmlElement('paragraph'); li.insert(0, [lp])
  const lt = new Y.XmlText(); lp.insert(0, [lt]); lt.insert(0, 'item😀')
  const empty = new Y.XmlElement('horizontal_rule'); f.insert(4, [empty])
  cases.push(record('xml-prosemirror', d, { prosemirror: { as: 'xmlfragment', inferred: 'xmlfragment' } }, 'a y-prosemirror document: nodes, attributes, marks with -- suffixes'))
}
{
  const d = newDoc()
  const f = d.getXmlFragment('xml')
  const e = new Y.XmlElement('customNode'); f.insert(0, [e])
  e.setAttribute('str', 'a "q" <b> & c'); e.setAttribute('int', 7); e.setAttribute('float', 0.1)
  e.setAttribute('exp', 1e21); e.setAttribute('tiny', 1.5e-7); e.setAttribute('t', true); e.setAttribute('f', false)
  e.setAttribute('null', null); e.setAttribute('obj', { x: 1, y: [2] }); e.setAttribute('emptyobj', {})
  e.setAttribute('arr', [1, null, [2, 3], { z: 1 }, 'w']); e.setAttribute('bin', new Uint8Array([1, 2]))
  e.setAttribute('nan', NaN); e.setAttribute('undef', undefined); e.setAttribute('bigint', 42n)
  e.setAttribute('10', 'ten'); e.setAttribute('2', 'two'); e.setAttribute('B', 'upper'); e.setAttribute('a', 'lower')
  e.setAttribute('ünï', 'x'); e.setAttribute('\uffef', 'bmp-high'); e.setAttribute('😀', 'astral')
  e.setAttribute('bad name', 'spaces'); e.setAttribute('1st', 'digit')
  const at = new Y.Text(); e.setAttribute('ytext', at); at.insert(0, 'attr text')
  const am = new Y.Map(); e.setAttribute('ymap', am); am.set('k', 1)
  const g = new Y.XmlElement('ΟΔΟΣ'); f.insert(1, [g]) // toLocaleLowerCase: final sigma
  const g2 = new Y.XmlElement('İSTANBUL'); f.insert(2, [g2])
  const x = new Y.XmlText(); f.insert(3, [x])
  x.insert(0, 'top-level text <&>')
  x.format(0, 3, { span: 'abc' }) // a string value: Yjs enumerates its characters
  x.format(4, 5, { a: [1, 2] })
  x.insertEmbed(x.length, { image: 'i.png' })
  const emb = new Y.XmlElement('inline'); x.insertEmbed(x.length, emb, { em: {} }); emb.setAttribute('k', 'v')
  x.insert(x.length, 'ctl\u0001\r\n')
  const hook = new Y.XmlHook('myhook'); f.insert(4, [hook]); hook.set('data', 1)
  const nested = new Y.XmlElement('outer'); f.insert(5, [nested])
  const nf = new Y.XmlElement('inner'); nested.insert(0, [nf, new Y.XmlText('t')])
  cases.push(record('xml-attributes', d, { xml: { as: 'xmlfragment', inferred: 'xmlfragment' } }, 'attributes of every JSON type, key order, node names, hooks, embeds in XmlText'))
}
{
  const d = newDoc()
  const x = d.get('xt', Y.XmlText)
  x.insert(0, 'root xml text', { bold: {} })
  x.format(5, 3, { bold: null })
  cases.push(record('xmltext-root', d, { xt: { as: 'xmltext', inferred: 'text' } }, 'a root Y.XmlText (inferred as text)'))
}
{
  // Two clients bold overlapping ranges concurrently: the receiver has
  // redundant format items and Yjs's own toDelta splits at them (the
  // receiver's roots are untyped while it applies, and the XmlText is new
  // in that transaction, so no formatting clean-up runs). ydoc must give
  // the same split runs; its NormalizedDelta/NormalizedString merge them
  // (tested in export_test.go).
  const a = newDoc(1); const b = newDoc(2)
  a.getText('text').insert(0, 'abcdefgh')
  const p = new Y.XmlElement('paragraph'); a.getXmlFragment('xml').insert(0, [p]); const xt = new Y.XmlText(); p.insert(0, [xt]); xt.insert(0, 'abcdefgh')
  sync(a, b)
  a.getText('text').format(1, 4, { bold: true })
  b.getText('text').format(3, 4, { bold: true })
  a.getXmlFragment('xml').get(0).get(0).format(1, 4, { bold: {} })
  b.getXmlFragment('xml').get(0).get(0).format(3, 4, { bold: {} })
  const r = newDoc(3)
  const ua = Y.encodeStateAsUpdate(a); const ub = Y.encodeStateAsUpdate(b)
  Y.applyUpdate(r, Y.mergeUpdates([ua, ub]))
  cases.push(record('redundant-formats', r, {
    text: { as: 'text', inferred: 'text', split: true },
    xml: { as: 'xmlfragment', inferred: 'xmlfragment', split: true }
  }, 'concurrent overlapping bold: Yjs starts a new op at every format item'))
}

// ---------- kind inference and odd roots ----------
{
  const d = newDoc()
  d.getText('t').insert(0, 'text')
  d.getMap('m').set('k', 'v')
  d.getArray('a').push([1])
  d.getArray('types').push([new Y.Map(), new Y.Text()])
  const f = d.getXmlFragment('x'); f.insert(0, [new Y.XmlElement('p'), new Y.XmlText('t'), new Y.XmlHook('h')])
  const mixed = d.getArray('mixed'); mixed.push([new Y.XmlElement('p'), 1])
  const te = d.getText('embedonly'); te.insertEmbed(0, { image: 'x' })
  const fo = d.getText('typeembed'); fo.insertEmbed(0, new Y.XmlElement('p'))
  cases.push(record('inference', d, {
    t: { as: 'text', inferred: 'text' },
    m: { as: 'map', inferred: 'map' },
    a: { as: 'array', inferred: 'array' },
    types: { as: 'array', inferred: 'array' },
    x: { as: 'xmlfragment', inferred: 'xmlfragment' },
    mixed: { as: 'array', inferred: 'array' },
    embedonly: { as: 'text', inferred: 'text' },
    typeembed: { as: 'text', inferred: 'xmlfragment' } // a lone XmlElement embed reads as a fragment
  }, 'one root of each kind, mixed content'))
}

// Legacy ContentJSON (Yjs reads it but never writes it): hand-encoded.
{
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1) // one client
  encoding.writeVarUint(e, 3) // three structs
  encoding.writeVarUint(e, 9) // client 9
  encoding.writeVarUint(e, 0) // clock 0
  // an array root "legacy" with five JSON values
  encoding.writeUint8(e, 2) // ContentJSON, no origins, parent named
  encoding.writeVarUint(e, 1); encoding.writeVarString(e, 'legacy')
  const vals = ['1', '"s"', 'undefined', '{"a":1e400,"b":[1,null]}', '-0']
  encoding.writeVarUint(e, vals.length); for (const v of vals) encoding.writeVarString(e, v)
  // map root "legacymap" key "u" = undefined, key "v" = {"x":true}
  encoding.writeUint8(e, 2 | 0x20)
  encoding.writeVarUint(e, 1); encoding.writeVarString(e, 'legacymap'); encoding.writeVarString(e, 'u')
  encoding.writeVarUint(e, 1); encoding.writeVarString(e, 'undefined')
  encoding.writeUint8(e, 2 | 0x20)
  encoding.writeVarUint(e, 1); encoding.writeVarString(e, 'legacymap'); encoding.writeVarString(e, 'v')
  encoding.writeVarUint(e, 2); encoding.writeVarString(e, '0'); encoding.writeVarString(e, '{"x":true}')
  encoding.writeVarUint(e, 0) // empty delete set
  const d = newDoc(1)
  Y.applyUpdate(d, encoding.toUint8Array(e))
  cases.push(record('content-json', d, {
    legacy: { as: 'array', inferred: 'array' },
    legacymap: { as: 'map', inferred: 'map' }
  }, 'legacy ContentJSON with undefined, huge numbers and -0'))
}

const out = path.join(here, 'fixtures.json')
fs.writeFileSync(out, JSON.stringify({ yjs: JSON.parse(fs.readFileSync(path.join(here, '../../../node_modules/yjs/package.json'), 'utf8')).version, cases }, null, 1) + '\n')
console.log(`wrote ${cases.length} cases to ${path.relative(process.cwd(), out)}`)
