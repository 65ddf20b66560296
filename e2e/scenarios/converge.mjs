// Scenario 1: two y-websocket clients edit Y.Text (with formatting), Y.Map,
// Y.Array and a Y.XmlFragment shaped as y-prosemirror writes it, both at
// once, and converge. The result carries both documents and the document
// rebuilt from GET /api/docs/{room}/update; the Go test compares them with
// each other and with GET /api/docs/{room}.
import { Y, args, wsProvider, synced, converged, snapshot, serverDoc, newDoc, restJSON, sleep, run } from './lib.mjs'

// mulberry32: a small seeded PRNG, so that a failure can be replayed.
function prng (seed) {
  return () => {
    seed |= 0; seed = seed + 0x6D2B79F5 | 0
    let t = Math.imul(seed ^ seed >>> 15, 1 | seed)
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
    return ((t ^ t >>> 14) >>> 0) / 4294967296
  }
}

// A paragraph as y-prosemirror stores it: an XmlElement named after the
// node type holding an XmlText whose formatting attributes are the marks.
function paragraph (text, marks) {
  const p = new Y.XmlElement('paragraph')
  const t = new Y.XmlText()
  p.insert(0, [t])
  t.insert(0, text, marks)
  return p
}

function heading (level, text) {
  const h = new Y.XmlElement('heading')
  h.setAttribute('level', level)
  const t = new Y.XmlText()
  h.insert(0, [t])
  t.insert(0, text)
  return h
}

const marks = [{ strong: {} }, { em: {} }, { link: { href: 'https://example.com/', title: null } }, { code: {} }]

// One random edit of every root type on doc, as client `who`.
function edit (doc, who, i, rnd) {
  const pick = (n) => Math.floor(rnd() * n)
  const text = doc.getText('text')
  const map = doc.getMap('map')
  const array = doc.getArray('array')
  const frag = doc.getXmlFragment('prosemirror')
  doc.transact(() => {
    // Y.Text: insert with or without attributes, format a range, delete.
    const len = text.length
    switch (pick(4)) {
      case 0: text.insert(pick(len + 1), `${who}${i} `, rnd() < 0.5 ? { bold: true } : undefined); break
      case 1: if (len > 2) { const at = pick(len - 1); text.format(at, 1 + pick(Math.min(5, len - at - 1)), { italic: rnd() < 0.7 ? true : null }) } break
      case 2: if (len > 4) text.delete(pick(len - 2), 2); break
      default: text.insert(len, `<${who}>`, { color: who === 'a' ? '#f00' : '#00f' })
    }
    // Y.Map: both write the same keys (conflicts), nested maps, deletes.
    const key = `k${pick(5)}`
    switch (pick(4)) {
      case 0: map.set(key, { by: who, i, list: [1, 'two', null, true] }); break
      case 1: { const m = new Y.Map(); m.set('by', who); m.set('n', i); map.set(key, m); break }
      case 2: map.delete(key); break
      default: map.set(`${who}-${i}`, i * 1.5)
    }
    // Y.Array: inserts at both ends and in the middle, deletes, nested arrays.
    const alen = array.length
    switch (pick(4)) {
      case 0: array.insert(0, [`${who}${i}`]); break
      case 1: array.insert(pick(alen + 1), [i, { who }]); break
      case 2: if (alen > 1) array.delete(pick(alen - 1), 1); break
      default: { const inner = new Y.Array(); inner.push([who, i]); array.push([inner]) }
    }
    // Y.XmlFragment: add, remove and edit paragraphs, format text (marks),
    // change node attributes.
    const n = frag.length
    switch (pick(5)) {
      case 0: frag.insert(pick(n + 1), [paragraph(`para ${who}${i}`, rnd() < 0.5 ? marks[pick(marks.length)] : undefined)]); break
      case 1: if (n > 2) frag.delete(pick(n), 1); break
      case 2: {
        const el = n > 0 ? frag.get(pick(n)) : null
        const t = el && el.length > 0 ? el.get(0) : null
        if (t instanceof Y.XmlText) t.insert(pick(t.length + 1), `${who}${i}`, marks[pick(marks.length)])
        break
      }
      case 3: {
        const el = n > 0 ? frag.get(pick(n)) : null
        const t = el && el.length > 0 ? el.get(0) : null
        if (t instanceof Y.XmlText && t.length > 1) t.format(0, 1 + pick(t.length - 1), marks[pick(marks.length)])
        break
      }
      default: {
        const el = n > 0 ? frag.get(pick(n)) : null
        if (el instanceof Y.XmlElement) el.setAttribute('data-by', `${who}${i}`)
      }
    }
  })
}

run(async () => {
  const room = args.room
  const docA = newDoc()
  const docB = newDoc()
  const a = wsProvider(room, docA)
  const b = wsProvider(room, docB)
  await synced(a, 'client a')
  await synced(b, 'client b')

  // A starting document, written by a.
  const frag = docA.getXmlFragment('prosemirror')
  docA.transact(() => {
    frag.insert(0, [heading(1, 'Title'), paragraph('Hello, ', undefined), paragraph('world', { strong: {} })])
    docA.getText('text').insert(0, 'The quick brown fox', { font: 'serif' })
    docA.getMap('map').set('title', 'shared')
    docA.getArray('array').push(['first'])
  })
  await converged('the initial document', [docA, docB])

  // Rounds of concurrent edits: both clients edit in the same tick, before
  // either has seen the other's change.
  const rndA = prng(args.seed ?? 1)
  const rndB = prng((args.seed ?? 1) + 1000)
  const rounds = args.rounds ?? 60
  for (let i = 0; i < rounds; i++) {
    edit(docA, 'a', i, rndA)
    edit(docB, 'b', i, rndB)
    if (i % 3 === 0) await sleep(Math.floor(rndA() * 15))
  }
  await converged('both clients', [docA, docB], 10000)

  const server = await serverDoc(room)
  return {
    a: snapshot(docA),
    b: snapshot(docB),
    fromRestUpdate: snapshot(server),
    restJSON: restJSON(docA),
    deltas: { a: docA.getText('text').toDelta(), b: docB.getText('text').toDelta(), rest: server.getText('text').toDelta() },
    xml: { a: docA.getXmlFragment('prosemirror').toString(), b: docB.getXmlFragment('prosemirror').toString() },
    textLength: docA.getText('text').length,
    fragmentLength: docA.getXmlFragment('prosemirror').length
  }
})
