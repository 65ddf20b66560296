// Golden frames for collabd's yprotocol package, produced by the real
// y-protocols, Yjs, y-websocket and y-partykit packages pinned in
// package.json.
//
//	node tools/golden/yprotocol.mjs
//
// writes yprotocol/testdata/golden.json:
//
//   - frames: messages written with y-protocols' own writers (sync step 1/2,
//     update, awareness, permission denied, query awareness), each with the
//     messages it holds;
//   - clientFrames: what a real WebsocketProvider and YPartyKitProvider send,
//     captured through a stand-in WebSocket while a scripted server talks to
//     them;
//   - partykitBatch: a frame over 1 MB as YPartyKitProvider sends it
//     (y-pk-batch markers and chunks), the frame itself gzipped.
//
// Client IDs are fixed and the batch id is made deterministic by pinning
// Date.now and Math.random while the provider sends, so the output is the
// same on every run.

import { writeFileSync, readFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as authProtocol from 'y-protocols/auth'
import { WebsocketProvider } from 'y-websocket'
import YPartyKitProvider from 'y-partykit/provider'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const version = (pkg) => JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version

const hex = (u8) => Buffer.from(u8).toString('hex')
const encode = (fn) => {
  const e = encoding.createEncoder()
  fn(e)
  return encoding.toUint8Array(e)
}

const newDoc = (clientID) => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  return doc
}

// describe lists the messages of a frame the way the Go test expects them,
// reading it with lib0 like the providers do.
const describe = (frame) => {
  const d = decoding.createDecoder(frame)
  const msgs = []
  while (decoding.hasContent(d)) {
    const type = decoding.readVarUint(d)
    switch (type) {
      case 0: {
        const sub = decoding.readVarUint(d)
        const kind = ['syncStep1', 'syncStep2', 'update'][sub]
        msgs.push({ kind, payload: hex(decoding.readVarUint8Array(d)) })
        break
      }
      case 1: {
        const payload = decoding.readVarUint8Array(d)
        const pd = decoding.createDecoder(payload)
        const n = decoding.readVarUint(pd)
        const entries = []
        for (let i = 0; i < n; i++) {
          entries.push({
            clientID: decoding.readVarUint(pd),
            clock: decoding.readVarUint(pd),
            state: decoding.readVarString(pd)
          })
        }
        msgs.push({ kind: 'awareness', payload: hex(payload), entries })
        break
      }
      case 2: {
        if (decoding.readVarUint(d) !== 0) throw new Error('unexpected auth sub-type')
        msgs.push({ kind: 'permissionDenied', reason: decoding.readVarString(d) })
        break
      }
      case 3:
        msgs.push({ kind: 'queryAwareness' })
        break
      default:
        throw new Error(`unknown message type ${type}`)
    }
  }
  return msgs
}

const frames = []
const addFrame = (name, frame) => frames.push({ name, hex: hex(frame), messages: describe(frame) })

// --- documents -------------------------------------------------------------

const doc = newDoc(1)
const updates = []
doc.on('update', (u) => updates.push(u))
doc.getText('text').insert(0, 'Hello, world! 😀 漢字')
doc.getText('text').format(0, 5, { bold: true })
doc.getMap('map').set('number', 42)
doc.getMap('map').set('nested', { a: [1, 2, 3], b: 'x', c: null })
doc.getArray('list').push([1.5, 'two', true, new Uint8Array([1, 2, 3])])
doc.getText('text').delete(7, 6)
const other = newDoc(2)
Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
other.getText('text').insert(0, '>> ')
Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)))
const bigDoc = newDoc(3)
bigDoc.getText('text').insert(0, 'lorem ipsum dolor sit amet '.repeat(800))

addFrame('sync step 1, empty document', encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep1(e, newDoc(9))
}))
addFrame('sync step 1, two clients', encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep1(e, doc)
}))
addFrame('sync step 2, empty document', encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep2(e, newDoc(9))
}))
addFrame('sync step 2, full state', encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep2(e, doc)
}))
addFrame('sync step 2, diff against a state vector', encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep2(e, doc, Y.encodeStateVector(other))
}))
addFrame('sync step 2, 21 KB', encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep2(e, bigDoc)
}))
updates.forEach((u, i) => addFrame(`update ${i}`, encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeUpdate(e, u)
})))

// --- awareness -------------------------------------------------------------

const awarenessOf = (clientID, state) => {
  const a = new awarenessProtocol.Awareness(newDoc(clientID))
  if (state !== undefined) a.setLocalState(state)
  return a
}
const alice = awarenessOf(11, { user: { name: 'Alice', color: '#30bced' }, cursor: null })
alice.setLocalStateField('cursor', { anchor: 3, head: 7 })
const bob = awarenessOf(2 ** 32 - 1, { user: { name: 'Bob 😀', color: '#ee6352' } })
const carol = awarenessOf(123456, { user: { name: '漢字' } })
awarenessProtocol.removeAwarenessStates(carol, [123456], 'gone')
const collector = awarenessOf(5)
collector.setLocalState(null)
for (const a of [alice, bob, carol]) {
  awarenessProtocol.applyAwarenessUpdate(collector, awarenessProtocol.encodeAwarenessUpdate(a, [a.clientID]), 'test')
}
const awarenessFrame = (clients, states) => encode((e) => {
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(collector, clients, states))
})
addFrame('awareness, one client', encode((e) => {
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(alice, [11]))
}))
addFrame('awareness, three clients, one removed', awarenessFrame([11, 2 ** 32 - 1, 123456]))
addFrame('awareness, no clients', awarenessFrame([]))
addFrame('awareness, disconnect (all null)', awarenessFrame([11, 2 ** 32 - 1], new Map()))

// --- auth, query awareness, several messages ---------------------------------

for (const reason of ['', 'read-only document', '⛔ nicht erlaubt']) {
  addFrame(`permission denied ${JSON.stringify(reason)}`, encode((e) => {
    encoding.writeVarUint(e, 2)
    authProtocol.writePermissionDenied(e, reason)
  }))
}
addFrame('query awareness', encode((e) => encoding.writeVarUint(e, 3)))
addFrame('several messages in one frame', encode((e) => {
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep1(e, doc)
  encoding.writeVarUint(e, 0)
  syncProtocol.writeUpdate(e, updates[0])
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(collector, [11, 123456]))
  encoding.writeVarUint(e, 3)
  encoding.writeVarUint(e, 2)
  authProtocol.writePermissionDenied(e, 'no')
  encoding.writeVarUint(e, 0)
  syncProtocol.writeSyncStep2(e, doc, Y.encodeStateVector(doc))
}))

// --- real providers ----------------------------------------------------------

// FakeSocket stands in for a browser WebSocket: it records what the provider
// sends and lets the script deliver server frames.
class FakeSocket {
  static CONNECTING = 0
  static OPEN = 1
  static CLOSING = 2
  static CLOSED = 3
  static last = null
  constructor (url) {
    this.url = url
    this.readyState = 0
    this.CONNECTING = 0
    this.OPEN = 1
    this.CLOSING = 2
    this.CLOSED = 3
    this.binaryType = 'blob'
    this.sent = []
    this.listeners = {}
    FakeSocket.last = this
  }

  addEventListener (type, fn) { (this.listeners[type] ||= []).push(fn) }
  removeEventListener (type, fn) { this.listeners[type] = (this.listeners[type] || []).filter((f) => f !== fn) }
  emit (type, ev = {}) {
    if (typeof this['on' + type] === 'function') this['on' + type](ev)
    for (const fn of this.listeners[type] || []) fn(ev)
  }

  send (data) { this.sent.push(typeof data === 'string' ? data : new Uint8Array(data.buffer ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data)) }
  close () { this.readyState = 3 }
  open () { this.readyState = 1; this.emit('open') }
  deliver (frame) { this.emit('message', { data: frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) }) }
  take () { const s = this.sent; this.sent = []; return s }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0))
const serverDoc = newDoc(100)
serverDoc.getText('text').insert(0, 'from the server')
const serverSyncStep1 = (sv) => encode((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, sv) })
const serverSyncStep2 = (u) => encode((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, u); })

const clientFrames = []
const record = (client, step, socket) => {
  for (const f of socket.take()) {
    if (typeof f === 'string') throw new Error(`unexpected text frame from ${client}: ${f}`)
    clientFrames.push({ client, step, hex: hex(f), messages: describe(f) })
  }
}

// script drives a provider through a session and records what it sends.
const script = async (client, makeProvider, clientID) => {
  const clientDoc = newDoc(clientID)
  clientDoc.getMap('settings').set('theme', 'dark')
  const provider = makeProvider(clientDoc)
  await tick()
  provider.awareness.setLocalStateField('user', { name: `client ${clientID}`, color: '#8acb88' })
  const socket = FakeSocket.last
  socket.open()
  record(client, 'on open', socket)
  socket.deliver(serverSyncStep1(Y.encodeStateVector(serverDoc)))
  record(client, 'reply to server sync step 1', socket)
  socket.deliver(encode((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, serverDoc, Y.encodeStateVector(clientDoc)) }))
  record(client, 'after server sync step 2', socket)
  clientDoc.getText('text').insert(0, 'typed ')
  record(client, 'local edit', socket)
  provider.awareness.setLocalStateField('cursor', { anchor: 1, head: 4 })
  record(client, 'cursor move', socket)
  socket.deliver(encode((e) => encoding.writeVarUint(e, 3)))
  record(client, 'reply to query awareness', socket)
  socket.deliver(encode((e) => { encoding.writeVarUint(e, 2); authProtocol.writePermissionDenied(e, 'read-only') }))
  record(client, 'after permission denied', socket)
  provider.disconnect()
  record(client, 'disconnect', socket)
  provider.destroy()
  clientDoc.destroy()
}

await script('y-websocket', (d) => new WebsocketProvider('ws://localhost:1234/ws', 'room', d, { WebSocketPolyfill: FakeSocket, disableBc: true }), 201)
await script('y-partykit', (d) => new YPartyKitProvider('localhost:1234', 'room', d, { WebSocketPolyfill: FakeSocket, disableBc: true }), 202)

// --- y-partykit batch -------------------------------------------------------

const batchDoc = newDoc(300)
batchDoc.getText('text').insert(0, 'collabd y-pk-batch golden text. '.repeat(40000))
const batchProvider = new YPartyKitProvider('localhost:1234', 'big', batchDoc, { WebSocketPolyfill: FakeSocket, disableBc: true })
await tick()
const batchSocket = FakeSocket.last
batchSocket.open()
batchSocket.take()
const realNow = Date.now
const realRandom = Math.random
Date.now = () => 1764000000000
Math.random = () => 0.4242
const warn = console.warn
console.warn = () => {}
batchSocket.deliver(serverSyncStep1(new Uint8Array([0])))
console.warn = warn
Date.now = realNow
Math.random = realRandom
const batchFrames = batchSocket.take()
batchProvider.destroy()
const chunks = batchFrames.filter((f) => typeof f !== 'string')
const whole = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
chunks.reduce((off, c) => { whole.set(c, off); return off + c.byteLength }, 0)
const partykitBatch = {
  frames: batchFrames.map((f) => typeof f === 'string'
    ? { text: f }
    : { binarySize: f.byteLength, sha256: createHash('sha256').update(f).digest('hex') }),
  frameSize: whole.byteLength,
  frameSha256: createHash('sha256').update(whole).digest('hex'),
  frameGzipBase64: gzipSync(whole, { level: 9 }).toString('base64'),
  messages: describe(whole).map((m) => ({ kind: m.kind, payloadSize: m.payload.length / 2 }))
}

for (const a of [alice, bob, carol, collector]) a.destroy()

// --- output ------------------------------------------------------------------

const stringify = (obj) => {
  const parts = Object.entries(obj).map(([k, v]) => {
    if (!Array.isArray(v)) return `${JSON.stringify(k)}: ${JSON.stringify(v)}`
    return `${JSON.stringify(k)}: [\n${v.map((x) => '  ' + JSON.stringify(x)).join(',\n')}\n]`
  })
  return `{\n${parts.join(',\n')}\n}\n`
}
const out = {
  comment: 'Generated by tools/golden/yprotocol.mjs; do not edit.',
  versions: Object.fromEntries(['yjs', 'lib0', 'y-protocols', 'y-websocket', 'y-partykit'].map((p) => [p, version(p)])),
  frames,
  clientFrames,
  partykitBatch
}
mkdirSync(join(root, 'yprotocol/testdata'), { recursive: true })
writeFileSync(join(root, 'yprotocol/testdata/golden.json'), stringify(out))
console.log(`${frames.length} frames, ${clientFrames.length} client frames, batch of ${partykitBatch.frames.length} frames (${whole.byteLength} bytes)`)
process.exit(0)
