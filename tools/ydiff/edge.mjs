#!/usr/bin/env node
// Hand-built edge-case sessions, written next to the random ones.
//   node tools/ydiff/edge.mjs --out DIR [--yjs yjs|yjs14]
// Every edge session records a checkpoint after every delivered update.
import fs from 'node:fs'
import path from 'node:path'
import * as encoding from 'lib0/encoding'
import { loadYjs, parseArgs, writeIndex } from './lib.mjs'
import { buildSession, verifyStats } from './session.mjs'

function harness (Y, ids) {
  const emitted = [] // {client, u, label}
  const byClient = ids.map(() => [])
  let label = ''
  const docs = ids.map((id, ci) => {
    const d = new Y.Doc({ gc: true }); d.clientID = id
    d.on('update', (u, _o, _d, tr) => { if (tr.local) { const e = { client: ci, u, label }; emitted.push(e); byClient[ci].push(u) } })
    return d
  })
  return {
    docs,
    emitted,
    byClient,
    step (l, ci, f) { label = l; docs[ci].transact(() => f(docs[ci])); label = ''; return byClient[ci][byClient[ci].length - 1] },
    sync (a, b) { Y.applyUpdate(docs[b], Y.encodeStateAsUpdate(docs[a], Y.encodeStateVector(docs[b]))) },
    syncAll () { for (let a = 0; a < docs.length; a++) for (let b = 0; b < docs.length; b++) if (a !== b) this.sync(a, b) },
    last (ci) { return byClient[ci][byClient[ci].length - 1] }
  }
}

const all = list => list.map(e => e.u)

const EDGES = {
  // Concurrent inserts between the halves of surrogate pairs, a delete that
  // starts inside a pair, and formatting that starts inside a pair.
  'surrogate-split': Y => {
    const h = harness(Y, [10, 11, 12, 13])
    h.step('base', 0, d => d.getText('text').insert(0, '😀👍🏽🇩🇪𝄞'))
    h.step('xbase', 0, d => { const p = new Y.XmlElement('paragraph'); d.getXmlFragment('prosemirror').insert(0, [p]); const t = new Y.XmlText(); p.insert(0, [t]); t.insert(0, 'a😀b', { bold: {} }) })
    h.syncAll()
    h.step('b', 1, d => d.getText('text').insert(1, 'x')) // inside 😀
    h.step('c', 2, d => d.getText('text').insert(3, 'y')) // inside 👍
    h.step('d', 3, d => d.getText('text').delete(5, 3)) // starts inside 🏽
    h.step('f', 0, d => d.getText('text').format(7, 3, { bold: true })) // starts inside a flag half
    h.step('xb', 1, d => d.getXmlFragment('prosemirror').get(0).get(0).insert(2, 'Z'))
    h.step('xd', 2, d => d.getXmlFragment('prosemirror').get(0).get(0).delete(2, 2))
    const u = all(h.emitted)
    return { roots: { text: 'text', prosemirror: 'xml' }, updates: [u[0], u[1], u[5], u[3], u[4], u[2], u[6], u[7]] }
  },

  // Five clients with small, ordered ids set the same map keys concurrently;
  // the same in an array and a text at the same position (origin ties).
  'lww-small-ids': Y => {
    const ids = [3, 1, 5, 2, 4]
    const h = harness(Y, ids)
    h.step('init', 0, d => { d.getMap('map').set('k', 'init'); d.getArray('array').push(['anchor']) })
    h.syncAll()
    ids.forEach((id, ci) => h.step('set' + id, ci, d => {
      d.getMap('map').set('k', 'from-' + id)
      d.getMap('map').set('only' + (id % 2), id)
      if (id === 2) d.getMap('map').delete('k')
      if (id === 4) d.getMap('map').set('k', new Y.Map())
      d.getArray('array').insert(1, ['a' + id])
      d.getArray('array').insert(0, ['z' + id])
      d.getText('text').insert(0, String(id))
    }))
    const u = all(h.emitted)
    return { roots: { map: 'map', array: 'array', text: 'text' }, updates: [u[0], ...u.slice(1).reverse()] }
  },

  'lww-large-ids': Y => {
    const ids = [4294967294, 2147483648, 2147483647, 1, 4294967293]
    const h = harness(Y, ids)
    ids.forEach((id, ci) => h.step('set', ci, d => {
      d.getMap('map').set('k', id)
      d.getMap('map').set('k2', { by: id, list: [id, -id] })
      d.getArray('array').insert(0, [id])
      d.getText('text').insert(0, 'c' + ci)
    }))
    h.syncAll()
    ids.forEach((id, ci) => h.step('again', ci, d => { d.getMap('map').set('k', 'second-' + ci) }))
    const u = all(h.emitted)
    return { roots: { map: 'map', array: 'array', text: 'text' }, updates: [u[3], u[9], u[0], u[1], u[2], u[4], u[5], u[6], u[7], u[8]] }
  },

  // A nested type is deleted while other clients keep editing inside it.
  'delete-nested-while-editing': (Y, gc) => {
    const h = harness(Y, [21, 22, 23])
    h.step('create', 0, d => {
      const m = new Y.Map(); d.getMap('map').set('doc', m)
      const t = new Y.Text(); m.set('text', t); t.insert(0, 'hello', { bold: true })
      const a = new Y.Array(); m.set('list', a); a.push([1, 2, 3])
      const deep = new Y.Map(); a.push([deep]); const deeper = new Y.Array(); deep.set('deeper', deeper); deeper.push([new Y.Text('leaf')])
      const arr = d.getArray('array'); const inner = new Y.Map(); arr.push([inner, 'keep']); inner.set('x', 1)
    })
    h.syncAll()
    h.step('delete', 0, d => { d.getMap('map').delete('doc'); d.getArray('array').delete(0, 1) })
    h.step('edit-b', 1, d => {
      const m = d.getMap('map').get('doc'); m.get('text').insert(5, ' world'); m.get('list').insert(0, ['b'])
      m.get('list').get(4).get('deeper').get(0).insert(0, 'B'); m.set('new', new Y.Array())
      d.getArray('array').get(0).set('y', new Y.Text('in deleted'))
    })
    h.step('edit-c', 2, d => { const m = d.getMap('map').get('doc'); m.get('text').format(0, 3, { italic: true }); m.get('text').delete(1, 2); m.get('list').delete(0, 2) })
    const u = all(h.emitted)
    return { roots: { map: 'map', array: 'array' }, updates: [u[0], u[2], u[1], u[3]], gc }
  },

  // Every update delivered twice (right away and again at the end).
  'duplicate-delivery': Y => {
    const h = harness(Y, [31, 32])
    h.step('a1', 0, d => d.getText('text').insert(0, 'abc'))
    h.step('b1', 1, d => d.getMap('map').set('k', 1))
    h.sync(0, 1)
    h.step('b2', 1, d => d.getText('text').insert(1, 'X'))
    h.step('a2', 0, d => d.getText('text').delete(0, 2))
    h.step('a3', 0, d => d.getArray('array').insert(0, [1, new Uint8Array([1, 2]), 'x']))
    const u = all(h.emitted)
    return { roots: { text: 'text', map: 'map', array: 'array' }, updates: [u[0], u[0], u[1], u[2], u[1], u[3], u[4], u[4], ...u] }
  },

  // A chain of updates from one client whose first update arrives last: all
  // other updates stay pending until the very end.
  'predecessor-last': Y => {
    const h = harness(Y, [41, 42])
    for (let i = 0; i < 6; i++) h.step('a' + i, 0, d => d.getText('text').insert(i, String.fromCharCode(65 + i)))
    h.sync(0, 1)
    h.step('b', 1, d => { d.getText('text').insert(3, '-'); d.getMap('map').set('k', 'v') }) // depends on a's structs via origin
    h.step('a-del', 0, d => d.getText('text').delete(0, 1))
    const u = all(h.emitted)
    return { roots: { text: 'text', map: 'map' }, updates: [u[1], u[6], u[3], u[2], u[5], u[4], u[7], u[0]] }
  },

  // Delete sets that arrive before the structs they delete (pending delete set),
  // including deletes of a whole nested type and of map entries.
  'ds-before-structs': Y => {
    const h = harness(Y, [51, 52])
    h.step('a', 0, d => {
      d.getText('text').insert(0, 'abcdef')
      const a = new Y.Array(); d.getMap('map').set('arr', a); a.push(['x', 'y', 'z'])
      d.getMap('map').set('gone', 'soon')
    })
    h.sync(0, 1)
    h.step('b-del', 1, d => { d.getText('text').delete(1, 3); d.getMap('map').get('arr').delete(1, 1); d.getMap('map').delete('gone') })
    h.step('b-del2', 1, d => d.getMap('map').delete('arr'))
    const u = all(h.emitted)
    return { roots: { text: 'text', map: 'map' }, updates: [u[1], u[2], u[0]] }
  },

  // Legacy ContentJSON, hand-encoded (no Yjs API writes it any more), then
  // edited by a client so that the JSON item is split and re-encoded.
  'content-json': Y => {
    const enc = encoding.createEncoder()
    const client = 777
    encoding.writeVarUint(enc, 1) // one client
    encoding.writeVarUint(enc, 2) // two structs
    encoding.writeVarUint(enc, client)
    encoding.writeVarUint(enc, 0) // clock
    // item 1: root array "array", ContentJSON [1,"two",{"three":3},null,undefined]
    encoding.writeUint8(enc, 2) // content ref 2 = JSON, no origin/rightOrigin/parentSub
    encoding.writeVarUint(enc, 1); encoding.writeVarString(enc, 'array') // parent is a root key
    const vals = ['1', '"two"', '{"three":3}', 'null', 'undefined']
    encoding.writeVarUint(enc, vals.length); vals.forEach(v => encoding.writeVarString(enc, v))
    // item 2: root map "map", key "legacy", ContentJSON [[1,2]]
    encoding.writeUint8(enc, 2 | 0x20)
    encoding.writeVarUint(enc, 1); encoding.writeVarString(enc, 'map'); encoding.writeVarString(enc, 'legacy')
    encoding.writeVarUint(enc, 1); encoding.writeVarString(enc, '[1,2]')
    encoding.writeVarUint(enc, 0) // empty delete set
    const jsonUpdate = encoding.toUint8Array(enc)
    const h = harness(Y, [61, 62])
    Y.applyUpdate(h.docs[0], jsonUpdate)
    Y.applyUpdate(h.docs[1], jsonUpdate)
    h.step('split', 0, d => d.getArray('array').insert(2, ['inserted']))
    h.step('del', 1, d => { d.getArray('array').delete(3, 1); d.getMap('map').set('other', true) })
    h.step('full', 0, () => {})
    const stateOf0 = Y.encodeStateAsUpdate(h.docs[0]) // re-encodes the split ContentJSON
    const u = all(h.emitted)
    return { roots: { array: 'array', map: 'map' }, updates: [u[0], u[1], jsonUpdate, stateOf0], reference: null }
  },

  // XML attribute and mark values of every JSON kind, camelCase node names,
  // text directly in the fragment, an embed inside XmlText, a hook.
  'xml-values': Y => {
    const h = harness(Y, [71])
    h.step('x', 0, d => {
      const f = d.getXmlFragment('prosemirror')
      const a = new Y.XmlElement('codeBlock'); const b = new Y.XmlElement('heading'); const c = new Y.XmlElement('image')
      const t0 = new Y.XmlText(); const hook = new Y.XmlHook('myhook')
      f.insert(0, [a, b, t0, c, hook])
      hook.set('k', 'v')
      a.setAttribute('language', null); a.setAttribute('obj', { a: 1 }); a.setAttribute('arr', [1, 'x', null]); a.setAttribute('num', 1.5); a.setAttribute('bool', false)
      a.setAttribute('big', 1e21); a.setAttribute('neg', -0); a.setAttribute('Upper', 'U'); a.setAttribute('quote', 'say "hi" <b>')
      b.setAttribute('level', 2)
      c.setAttribute('src', 'https://x/y.png'); c.setAttribute('alt', null)
      const ta = new Y.XmlText(); a.insert(0, [ta]); ta.insert(0, 'const x = 1', { bold: true, color: '#abc', size: 12, empty: {}, link: { href: 'https://x', target: null, title: '' } })
      const tb = new Y.XmlText(); b.insert(0, [tb]); tb.insert(0, 'Title ', { 'comment--17': { id: 'c1' }, 'comment--18': { id: 'c2' } }); tb.insert(6, 'plain'); tb.insertEmbed(11, { image: 'inline' }); tb.insert(12, 'end', { italic: {} })
      t0.insert(0, 'bare text', { strike: {} })
    })
    return { roots: { prosemirror: 'xml' }, updates: all(h.emitted) }
  },

  // Subdocuments in a map and an array, then one deleted.
  subdocs: Y => {
    const h = harness(Y, [81, 82])
    h.step('s', 0, d => {
      d.getMap('map').set('sub', new Y.Doc({ guid: 'guid-sub-1' }))
      d.getMap('map').set('sub2', new Y.Doc({ guid: 'guid-sub-2', autoLoad: true, meta: { title: 'm' } }))
      d.getArray('array').push([new Y.Doc({ guid: 'guid-sub-3', gc: false }), 'after'])
    })
    h.sync(0, 1)
    h.step('del', 1, d => { d.getMap('map').delete('sub2'); d.getMap('map').set('sub', new Y.Doc({ guid: 'guid-sub-4' })) })
    return { roots: { map: 'map', array: 'array' }, updates: all(h.emitted) }
  },

  // Merged updates with gaps (Skip structs), diff updates, empty updates.
  'merge-skip-diff': Y => {
    const h = harness(Y, [91, 92])
    for (let i = 0; i < 5; i++) h.step('a' + i, 0, d => d.getText('text').insert(i, 'abcde'[i]))
    h.sync(0, 1)
    h.step('b', 1, d => d.getText('text').delete(1, 2))
    const u = all(h.emitted)
    const merged = Y.mergeUpdates([u[4], u[1], u[5]]) // gaps for clock 0 and 2..3 -> Skip
    const full = Y.mergeUpdates(u)
    const svOf = Y.encodeStateVectorFromUpdate(Y.mergeUpdates([u[0], u[1]]))
    const diff = Y.diffUpdate(full, svOf)
    const empty = Y.encodeStateAsUpdate(new Y.Doc())
    return { roots: { text: 'text' }, updates: [empty, merged, diff, u[0], empty, Y.diffUpdate(full, Y.encodeStateVectorFromUpdate(full))] }
  },

  // Overlapping concurrent formatting (Yjs formatting cleanup kicks in on receivers).
  'concurrent-formatting': Y => {
    const h = harness(Y, [101, 102, 103])
    h.step('base', 0, d => { d.getText('text').insert(0, 'abcdefghij'); const p = new Y.XmlElement('paragraph'); d.getXmlFragment('prosemirror').insert(0, [p]); const t = new Y.XmlText(); p.insert(0, [t]); t.insert(0, 'abcdefghij') })
    h.syncAll()
    h.step('f1', 0, d => { d.getText('text').format(2, 5, { bold: true }); d.getXmlFragment('prosemirror').get(0).get(0).format(2, 5, { bold: {} }) })
    h.step('f2', 1, d => { d.getText('text').format(3, 5, { bold: true }); d.getXmlFragment('prosemirror').get(0).get(0).format(3, 5, { bold: {} }) })
    h.step('f3', 2, d => { d.getText('text').format(0, 4, { bold: null, italic: true }); d.getXmlFragment('prosemirror').get(0).get(0).format(1, 8, { link: { href: 'https://a' } }) })
    h.syncAll() // clients clean up formatting and emit deletions
    h.step('f4', 1, d => d.getText('text').format(0, 10, { italic: null }))
    return { roots: { text: 'text', prosemirror: 'xml' }, updates: all(h.emitted).reverse() }
  },

  // Inserting and deleting nested content in one transaction (GC structs and
  // ContentDeleted inside the emitted update itself).
  'gc-in-update': (Y, gc) => {
    const h = harness(Y, [111])
    h.step('x', 0, d => {
      const m = new Y.Map(); d.getArray('array').push([m, 'stay']); const t = new Y.Text(); m.set('t', t); t.insert(0, 'gone'); m.set('n', 1)
      d.getArray('array').delete(0, 1)
      d.getText('text').insert(0, 'abc'); d.getText('text').delete(1, 1)
    })
    return { roots: { array: 'array', text: 'text' }, updates: all(h.emitted), gc }
  }
}

export function genEdges (Y, version) {
  const out = []
  for (const [name, f] of Object.entries(EDGES)) {
    const variants = f.length > 1 ? [[name, true], [name + '-nogc', false]] : [[name, true]]
    for (const [vname, gcv] of variants) {
      const r = f(Y, gcv)
      const K = r.updates.map((_, i) => i + 1).slice(0, -1)
      out.push(buildSession({
        Y, version, name: 'edge-' + vname, seed: null, gc: r.gc ?? true, roots: r.roots, updates: r.updates, checkpointsAt: K, reference: r.reference ?? undefined
      }))
    }
  }
  return out
}

async function main () {
  const args = parseArgs(process.argv.slice(2), {})
  if (!args.out) { console.error('usage: node tools/ydiff/edge.mjs --out DIR [--yjs yjs|yjs14]'); process.exit(2) }
  const { Y, version } = await loadYjs(args.yjs || 'yjs')
  fs.mkdirSync(args.out, { recursive: true })
  const sessions = genEdges(Y, version)
  for (const s of sessions) fs.writeFileSync(path.join(args.out, s.name + '.json'), JSON.stringify(s) + '\n')
  writeIndex(args.out)
  console.log(`ydiff edge: ${sessions.length} sessions with yjs ${version} -> ${args.out}`)
  if (process.env.YDIFF_VERIFY) console.log("verify:", JSON.stringify(verifyStats))
}

if (process.argv[1]?.endsWith('edge.mjs')) await main()
