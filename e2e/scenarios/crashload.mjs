// Steady edit load for the crash and database-outage tests (../crash_test.go),
// which drive it over a small HTTP control API while they kill collabd or cut
// its database.
//
// Parameters: {"base", "rooms": [names], "clients": N per room, "pk": true to
// make the last client of each room a y-partykit provider, "intervalMs":
// time between two edits of a client, "seed"}.
//
// Every client (a stock provider with its own Y.Doc) inserts a unique token
// "[<label>.<n>]" into Y.Text "text" every intervalMs, at a random token
// boundary, one transaction each. Each client watches every frame that
// collabd sends it: the content of every sync message (SyncStep2 or Update)
// counts as "seen" — collabd sends document state only once it is stored —
// and is recorded per room as tokens (the strings in its items) and as a
// state vector (the highest clock of every Yjs client in it). A client's own
// update is echoed once a sync message that collabd sent to this client
// covers it (the relay of that very update, or a later SyncStep2 or merged
// update that holds it).
//
// It prints {"event":"control","port":N} once every client has synced, then
// serves (all POST, JSON answers):
//
//	/status  per client: connected, synced, generated, echoed, pending
//	/pause   wait for the sockets of a killed server to close, then
//	         disconnect every provider; the seen report per room
//	/resume  connect every provider again
//	/verify  a fresh y-websocket and a fresh y-partykit client per room:
//	         their text and state vector at sync
//	/mark    start a window: count what arrives and is sent from now on
//	/window  what the window counted
//	/markup  close the window; /status counts pendingBeforeUp from now on
//	/stop    stop editing
//	/final   per room, every client's text, state vector and counts
//
// It runs until the test kills it.
import http from 'node:http'
import { Y, WebSocket, decoding, args, wsProvider, pkProvider, newDoc, waitFor, emit } from './lib.mjs'

const SCHEMA = { text: 'text' }
const nClients = args.clients ?? 3
const intervalMs = args.intervalMs ?? 20

// mulberry32: insert positions follow the seed.
let rngState = (args.seed ?? 1) >>> 0
function rng () {
  rngState = (rngState + 0x6D2B79F5) >>> 0
  let t = rngState
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const TOKEN = /\[[0-9]+[a-z]\.[0-9]+\]/g

let seq = 0 // own updates made so far, all clients
let upSeq = 0 // seq at /markup

let window = null // counters of the window opened by /mark
let editing = true

const rooms = (args.rooms ?? ['crash']).map((name, ri) => ({
  name,
  index: ri,
  clients: [],
  processed: new Set(), // payloads (base64) already decoded
  seenTokens: new Set(),
  seenSV: new Map(), // Yjs client -> highest clock + 1 seen
  syncFrames: 0
}))

function onSync (c, payload) {
  const room = c.room
  room.syncFrames++
  if (window) window.sync++
  const meta = Y.parseUpdateMeta(payload)
  const to = meta.to.get(c.doc.clientID) ?? 0
  if (to > c.received) {
    c.received = to
    while (c.unechoed.length > 0 && c.unechoed[0].end <= to) {
      const u = c.unechoed.shift()
      c.echoed++
      if (window && u.afterMark) window.echoedAfterMark++
    }
  }
  const key = Buffer.from(payload).toString('base64')
  if (room.processed.has(key)) return
  room.processed.add(key)
  for (const [client, clock] of meta.to) {
    if ((room.seenSV.get(client) ?? 0) < clock) room.seenSV.set(client, clock)
  }
  for (const s of Y.decodeUpdate(payload).structs) {
    const str = s.content && s.content.str
    if (typeof str !== 'string') continue
    for (const m of str.match(TOKEN) ?? []) room.seenTokens.add(m)
  }
}

function onFrame (c, data) {
  if (typeof data === 'string' || data.byteLength === 0) return
  const d = decoding.createDecoder(new Uint8Array(data))
  while (decoding.hasContent(d)) {
    const type = decoding.readVarUint(d)
    if (type === 0) {
      const sub = decoding.readVarUint(d)
      const payload = decoding.readVarUint8Array(d)
      if (sub === 1 || sub === 2) onSync(c, payload)
    } else if (type === 1) {
      decoding.readVarUint8Array(d)
      if (window) window.awareness++
    } else {
      break
    }
  }
}

// A WebSocket for client c that shows us every frame before the provider
// handles it.
function tapFor (c) {
  return class extends WebSocket {
    constructor (...a) {
      super(...a)
      this.addEventListener('message', (ev) => {
        try {
          onFrame(c, ev.data)
        } catch (err) {
          console.error(`client ${c.label}: undecodable frame: ${err.stack ?? err}`)
          process.exit(1)
        }
      })
    }
  }
}

for (const room of rooms) {
  for (let i = 0; i < nClients; i++) {
    const c = {
      room,
      label: `${room.index}${String.fromCharCode(97 + i)}`,
      n: 0, // tokens generated
      sent: 0, // updates made while connected (each goes out as one frame)
      echoed: 0,
      received: 0, // the highest own clock that collabd sent back
      unechoed: [], // own updates sent while connected, not echoed yet: {seq, end, afterMark}
      closes: 0
    }
    const doc = newDoc(SCHEMA)
    const opts = { WebSocketPolyfill: tapFor(c) }
    const pk = args.pk && i === nClients - 1
    c.route = pk ? 'pk' : 'ws'
    c.provider = pk ? pkProvider(room.name, doc, opts) : wsProvider(room.name, doc, opts)
    c.doc = doc
    c.text = doc.getText('text')
    c.provider.on('connection-close', () => { c.closes++ })
    c.provider.awareness.setLocalStateField('user', { name: c.label })
    doc.on('update', (update, origin) => {
      if (origin === c.provider) return
      const connected = c.provider.wsconnected
      if (connected) c.sent++
      seq++
      if (!connected) return
      const end = Y.parseUpdateMeta(update).to.get(doc.clientID)
      if (end > c.received) c.unechoed.push({ seq, end, afterMark: window !== null })
      if (window) window.sentAfterMark++
    })
    room.clients.push(c)
  }
}
const clients = rooms.flatMap((r) => r.clients)

function edit (c) {
  const s = c.text.toString()
  const r = Math.floor(rng() * (s.length + 1))
  let pos = 0
  if (r > 0) {
    const j = s.indexOf(']', r - 1)
    pos = j < 0 ? s.length : j + 1
  }
  c.lastToken = `[${c.label}.${c.n++}]`
  c.text.insert(pos, c.lastToken)
}

function pending (c, upTo = Infinity) {
  let n = 0
  for (const u of c.unechoed) if (u.seq <= upTo) n++
  return n
}

function svObject (m) {
  return Object.fromEntries([...m].map(([k, v]) => [String(k), v]))
}

function docSV (doc) {
  return svObject(Y.decodeStateVector(Y.encodeStateVector(doc)))
}

function status () {
  return clients.map((c) => ({
    label: c.label,
    room: c.room.name,
    route: c.route,
    connected: c.provider.wsconnected,
    synced: c.provider.synced,
    generated: c.n,
    sent: c.sent,
    echoed: c.echoed,
    pending: pending(c),
    pendingBeforeUp: pending(c, upSeq),
    closes: c.closes
  }))
}

async function pause () {
  // The server is gone: once every socket has closed, nothing more can
  // arrive from it.
  await waitFor('the sockets to close', () => clients.every((c) => !c.provider.wsconnected), 5000,
    () => clients.filter((c) => c.provider.wsconnected).map((c) => c.label).join(','))
  for (const c of clients) c.provider.disconnect()
  return report()
}

function report () {
  return Object.fromEntries(rooms.map((r) => [r.name, {
    seenTokens: [...r.seenTokens].sort(),
    seenSV: svObject(r.seenSV),
    generated: Object.fromEntries(r.clients.map((c) => [c.label, c.n])),
    clientIDs: Object.fromEntries(r.clients.map((c) => [c.label, c.doc.clientID]))
  }]))
}

async function verify () {
  const out = {}
  const fresh = []
  try {
    for (const r of rooms) {
      for (const route of ['ws', 'pk']) {
        const doc = newDoc(SCHEMA)
        const p = route === 'pk' ? pkProvider(r.name, doc) : wsProvider(r.name, doc)
        let atSync = null
        p.on('sync', (s) => { if (s && atSync === null) atSync = { text: doc.getText('text').toString(), stateVector: docSV(doc) } })
        fresh.push({ r, route, p, get: () => atSync })
      }
    }
    await waitFor('fresh clients to sync', () => fresh.every((f) => f.get() !== null), 15000,
      () => fresh.filter((f) => f.get() === null).map((f) => `${f.r.name}/${f.route}`).join(', '))
    for (const f of fresh) {
      out[f.r.name] ??= {}
      out[f.r.name][f.route] = f.get()
    }
  } finally {
    for (const f of fresh) f.p.destroy()
  }
  return out
}

function final () {
  return Object.fromEntries(rooms.map((r) => [r.name, {
    clients: r.clients.map((c) => ({
      label: c.label,
      text: c.text.toString(),
      stateVector: docSV(c.doc),
      generated: c.n,
      pending: pending(c),
      synced: c.provider.synced
    })),
    generated: Object.fromEntries(r.clients.map((c) => [c.label, c.n]))
  }]))
}

const handlers = {
  '/status': async () => status(),
  '/pause': pause,
  '/resume': async () => {
    for (const c of clients) c.provider.connect()
    return {}
  },
  '/verify': verify,
  '/mark': async () => {
    window = { at: Date.now(), sync: 0, awareness: 0, sentAfterMark: 0, echoedAfterMark: 0 }
    return {}
  },
  '/window': async () => ({ ...window, ms: Date.now() - window.at, closes: clients.reduce((n, c) => n + c.closes, 0) }),
  '/markup': async () => {
    upSeq = seq
    window = null
    return status()
  },
  '/stop': async () => {
    editing = false
    return {}
  },
  '/final': async () => final()
}

const server = http.createServer((req, res) => {
  const h = handlers[req.url]
  if (!h) {
    res.writeHead(404).end()
    return
  }
  req.resume()
  h().then((v) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v ?? {}))
  }, (err) => {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err.stack ?? err))
  })
})

await waitFor('every client to sync', () => clients.every((c) => c.provider.synced), 15000,
  () => clients.filter((c) => !c.provider.synced).map((c) => c.label).join(','))

setInterval(() => {
  if (!editing) return
  for (const c of clients) edit(c)
}, intervalMs)
// Presence traffic too: awareness goes on while the database is away.
let tick = 0
setInterval(() => {
  tick++
  for (const c of clients) c.provider.awareness.setLocalStateField('cursor', tick)
}, 100)

server.listen(0, '127.0.0.1', () => emit({ event: 'control', port: server.address().port }))
