// Scenario 8: hostile frames. Raw `ws` connections (no provider) send
// malformed input to /ws/ROOM and /parties/main/ROOM; each must be closed
// with the right close code (1007 invalid payload, 1003 unsupported data,
// 1009 too big) while two well-behaved providers in the same room keep
// syncing without being disconnected, and the document holds exactly what
// they wrote. collabd runs with --max-frame-size 1048576.
import { Y, args, wsProvider, pkProvider, synced, converged, snapshot, serverDoc, newDoc, canonical, rawSocket, updateFrame, encoding, run } from './lib.mjs'

const room = args.room
const wsPath = `/ws/${encodeURIComponent(room)}`
const pkPath = `/parties/main/${encodeURIComponent(room)}`
const maxFrame = args.maxFrameSize ?? 1048576

function bytes (...parts) {
  const e = encoding.createEncoder()
  for (const p of parts) {
    if (typeof p === 'number') encoding.writeUint8(e, p)
    else encoding.writeUint8Array(e, p)
  }
  return encoding.toUint8Array(e)
}
const varUint = (n) => { const e = encoding.createEncoder(); encoding.writeVarUint(e, n); return encoding.toUint8Array(e) }
const varString = (s) => { const e = encoding.createEncoder(); encoding.writeVarString(e, s); return encoding.toUint8Array(e) }
const varBytes = (b) => { const e = encoding.createEncoder(); encoding.writeVarUint8Array(e, b); return encoding.toUint8Array(e) }

// Seeded bytes; the first is forced to 0xC7 so that the frame starts with a
// varint of an undefined message type and can never be a valid message.
function randomBytes (n, seed) {
  const b = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    b[i] = x >>> 24
  }
  b[0] = 0xC7
  return b
}

// A real Yjs update from another client, cut short.
function truncatedUpdate () {
  const d = new Y.Doc()
  d.getText('text').insert(0, 'this update never arrives whole')
  d.getMap('map').set('evil', true)
  const u = Y.encodeStateAsUpdate(d)
  return { update: u.slice(0, u.length - 5), clientID: d.clientID }
}

// A real Yjs update whose string length claims more than the update holds.
function lyingUpdate () {
  const d = new Y.Doc()
  d.getText('text').insert(0, 'x'.repeat(40))
  const u = Y.encodeStateAsUpdate(d)
  const i = u.indexOf(40) // the string's varint length (40 < 128: one byte)
  if (i < 0) throw new Error('lyingUpdate: length byte not found')
  u[i] = 120
  return { update: u, clientID: d.clientID }
}

const marker = (m) => `y-pk-batch#${JSON.stringify(m)}`

run(async () => {
  const docA = newDoc()
  const docB = newDoc()
  const a = wsProvider(room, docA)
  const b = pkProvider(room, docB)
  let closes = 0
  for (const p of [a, b]) p.on('connection-close', () => { closes++ })
  await synced(a, 'a')
  await synced(b, 'b')
  docA.getText('text').insert(0, 'good text')
  docA.getMap('map').set('good', true)
  await converged('the good clients', [docA, docB])

  const trunc = truncatedUpdate()
  const lying = lyingUpdate()
  const evilClients = [trunc.clientID, lying.clientID, 424242]
  const bin = (b) => ({ binary: true, data: b })
  const text = (s) => ({ binary: false, data: s })
  const cases = [
    { name: 'random bytes', frames: [bin(randomBytes(256, 7))], want: 1007 },
    { name: 'truncated varint (message type)', frames: [bin(bytes(0x80))], want: 1007 },
    { name: 'truncated varint (update length)', frames: [bin(bytes(0, 2, 0xff))], want: 1007 },
    { name: 'empty frame', frames: [bin(new Uint8Array(0))], want: 1007 },
    { name: 'update that does not decode (truncated)', frames: [bin(updateFrame(trunc.update))], want: 1007 },
    { name: 'update that does not decode (string length lies)', frames: [bin(updateFrame(lying.update))], want: 1007 },
    { name: 'sync step 2 of garbage', frames: [bin(bytes(0, 1, varBytes(randomBytes(64, 3))))], want: 1007 },
    { name: 'unknown message type 99', frames: [bin(bytes(99, 1, 2, 3))], want: 1007 },
    { name: 'unknown sync sub-type', frames: [bin(bytes(0, 7, varBytes(bytes(1, 2))))], want: 1007 },
    { name: 'awareness with invalid JSON', frames: [bin(bytes(1, varBytes(bytes(varUint(1), varUint(424242), varUint(3), varString('{"user": nope')))))], want: 1007 },
    { name: 'awareness with a truncated entry', frames: [bin(bytes(1, varBytes(bytes(varUint(2), varUint(424242), varUint(3)))))], want: 1007 },
    { name: 'huge length prefix', frames: [bin(bytes(0, 1, varUint(2 ** 40), 1, 2, 3))], want: 1007 },
    { name: 'text frame on /ws', frames: [text('hello')], want: 1003 },
    { name: 'frame over --max-frame-size on /ws', frames: [bin(randomBytes(maxFrame + 500_000, 11))], want: 1009 },
    { name: 'frame over --max-frame-size on /parties', path: pkPath, frames: [bin(randomBytes(maxFrame + 500_000, 12))], want: 1009 },
    { name: 'y-pk-batch end without start', path: pkPath, frames: [text(marker({ id: 'x1', type: 'end', size: 3, count: 1 }))], want: 1007 },
    {
      name: 'y-pk-batch with fewer chunks than announced',
      path: pkPath,
      frames: [text(marker({ id: 'x2', type: 'start', size: 6, count: 2 })), bin(bytes(1, 2, 3)), text(marker({ id: 'x2', type: 'end', size: 6, count: 2 }))],
      want: 1007
    },
    {
      name: 'y-pk-batch end marker that disagrees with the start',
      path: pkPath,
      frames: [text(marker({ id: 'x3', type: 'start', size: 3, count: 1 })), bin(bytes(3, 0, 0)), text(marker({ id: 'x3', type: 'end', size: 4, count: 1 }))],
      want: 1007
    },
    { name: 'y-pk-batch marker that is not JSON', path: pkPath, frames: [text('y-pk-batch#{nope')], want: 1007 },
    { name: 'text frame on /parties that is no batch marker', path: pkPath, frames: [text('hello')], want: 1007 },
    {
      name: 'y-pk-batch reassembling to a bad update',
      path: pkPath,
      frames: [text(marker({ id: 'x4', type: 'start', size: 5, count: 1 })), bin(bytes(0, 2, 3, 0xff, 0xff)), text(marker({ id: 'x4', type: 'end', size: 5, count: 1 }))],
      want: 1007
    },
    { name: 'y-pk-batch announcing more than --max-frame-size', path: pkPath, frames: [text(marker({ id: 'x5', type: 'start', size: 8 * maxFrame, count: 8 }))], want: 1009 }
  ]

  const results = []
  let round = 0
  for (const c of cases) {
    const sock = await rawSocket(c.path ?? wsPath)
    for (const f of c.frames) sock.send(f.data, { binary: f.binary })
    const timeout = new Promise((resolve) => setTimeout(() => resolve({ code: null, reason: 'not closed within 5 s' }), 5000))
    const closed = await Promise.race([sock.closed, timeout])
    if (closed.code === null) sock.terminate()
    // The good clients still sync, both ways.
    round++
    docA.getText('text').insert(0, `a${round} `)
    docB.getArray('array').push([round])
    await converged(`the good clients after "${c.name}"`, [docA, docB])
    results.push({ name: c.name, want: c.want, code: closed.code, reason: closed.reason, error: sock.lastError ? String(sock.lastError.message) : undefined })
  }

  const health = await fetch(`${args.base}/healthz`)
  const server = await serverDoc(room, {})
  const clients = [...Y.decodeStateVector(Y.encodeStateVector(server)).keys()]
  return {
    results,
    goodCloses: closes,
    healthz: health.status,
    a: snapshot(docA),
    b: snapshot(docB),
    server: canonical(Y.encodeStateVector(server)) === canonical(Y.encodeStateVector(docA)),
    serverClients: clients.map(String).sort(),
    goodClients: [docA.clientID, docB.clientID].map(String).sort(),
    evilClients: evilClients.map(String)
  }
})
