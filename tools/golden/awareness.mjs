// Golden awareness session for collabd's awareness package, recorded from
// the reference server: y-partykit's onConnect (which keeps presence with
// y-protocols' Awareness), pinned in package.json.
//
//	node tools/golden/awareness.mjs
//
// writes awareness/testdata/golden.json: a scripted session of connections
// joining, sending awareness updates (fresh states, renewals, echoes, stale
// clocks, removals) and closing, with time moving on so states expire, and
// for every step the awareness frames the server sent and to whom.
//
// The clock is simulated: Date.now and setInterval are replaced before the
// packages load, so y-protocols' 30-second expiry runs when the script says.

let now = 1764000000000
Date.now = () => now
const timers = []
globalThis.setInterval = (fn) => { timers.push(fn); return timers.length }
globalThis.clearInterval = () => {}

const { writeFileSync, readFileSync, mkdirSync } = await import('node:fs')
const { fileURLToPath } = await import('node:url')
const { dirname, join } = await import('node:path')
const encoding = await import('lib0/encoding')
const decoding = await import('lib0/decoding')
const { onConnect } = await import('y-partykit')

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const version = (pkg) => JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version
const hex = (u8) => Buffer.from(u8).toString('hex')
const start = now

// awarenessFrame encodes an awareness message the way y-protocols'
// encodeAwarenessUpdate does: [clientID, clock, state] with state an object
// or null.
const awarenessFrame = (entries) => {
  const inner = encoding.createEncoder()
  encoding.writeVarUint(inner, entries.length)
  for (const [id, clock, state] of entries) {
    encoding.writeVarUint(inner, id)
    encoding.writeVarUint(inner, clock)
    encoding.writeVarString(inner, JSON.stringify(state))
  }
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner))
  return encoding.toUint8Array(e)
}

// awarenessEntries returns the entries of an awareness frame, or null for
// another kind of frame.
const awarenessEntries = (frame) => {
  const d = decoding.createDecoder(frame)
  if (decoding.readVarUint(d) !== 1) return null
  const p = decoding.createDecoder(decoding.readVarUint8Array(d))
  const n = decoding.readVarUint(p)
  const entries = []
  for (let i = 0; i < n; i++) {
    entries.push({ clientID: decoding.readVarUint(p), clock: decoding.readVarUint(p), state: decoding.readVarString(p) })
  }
  return entries
}

class Conn {
  constructor (name) {
    this.name = name
    this.sent = []
    this.listeners = {}
  }

  addEventListener (type, fn) { (this.listeners[type] ||= []).push(fn) }
  send (m) { this.sent.push(new Uint8Array(m)) }
  close () {}
  emit (type, ev) { for (const fn of this.listeners[type] || []) fn(ev) }
}

const room = { id: 'golden-room' }
const conns = new Map()
const steps = []

// step runs one event and records the awareness frames the server sent.
const step = async (name, event, fn, divergence) => {
  for (const c of conns.values()) c.sent = []
  await fn()
  const sent = []
  for (const c of conns.values()) {
    for (const f of c.sent) {
      const entries = awarenessEntries(f)
      if (entries !== null) sent.push({ to: c.name, hex: hex(f), entries })
    }
  }
  steps.push({ name, t: now - start, ...event, sent, ...(divergence ? { divergence } : {}) })
}

const connect = (name) => step(`${name} connects`, { event: 'connect', conn: name }, async () => {
  const c = new Conn(name)
  conns.set(name, c)
  await onConnect(c, room, {})
})
const send = (name, conn, entries, divergence) => {
  const frame = awarenessFrame(entries)
  return step(name, { event: 'message', conn, hex: hex(frame) }, () => conns.get(conn).emit('message', { data: frame.buffer }), divergence)
}
const close = (conn, divergence) => step(`${conn} closes`, { event: 'close', conn }, () => {
  conns.get(conn).emit('close')
  conns.delete(conn)
}, divergence)
const advance = (ms) => { now += ms }
const expire = (name, divergence) => step(name, { event: 'expire' }, () => timers.forEach((fn) => fn()), divergence)

const A = 10; const B = 20; const C = 30; const D = 40; const E = 50; const F = 4294967295

await connect('c1')
await connect('c2')
await send('c1 introduces A', 'c1', [[A, 1, { user: { name: 'Alice', color: '#30bced' } }]])
await send('c2 introduces B', 'c2', [[B, 1, { user: { name: 'Bob 😀' }, cursor: null }]])
await connect('c3')
await send('c2 echoes A at the same clock', 'c2', [[A, 1, { user: { name: 'Alice', color: '#30bced' } }]])
advance(1000)
await send('c1 renews A with the same state', 'c1', [[A, 2, { user: { name: 'Alice', color: '#30bced' } }]])
await send('c1 sends a stale clock for A', 'c1', [[A, 1, { user: { name: 'old' } }]])
await send('c1 moves the cursor of A', 'c1', [[A, 3, { user: { name: 'Alice', color: '#30bced' }, cursor: { anchor: 1, head: 4 } }]])
await send('c2 removes B (equal clock, null)', 'c2', [[B, 1, null]])
await send('c2 cannot revive B at the removed clock', 'c2', [[B, 1, { user: { name: 'Bob 😀' } }]])
await send('c2 removes B again (nothing to remove)', 'c2', [[B, 1, null]])
await send('c3 sends several entries', 'c3', [[C, 0, { user: { name: 'clock zero' } }], [D, 3, null], [E, 1, { user: { name: 'Eve' } }], [F, 7, { user: { name: 'max uint32' } }]])
await send('c3 cannot introduce D at its removed clock', 'c3', [[D, 3, { user: { name: 'Dan' } }]])
await send('c3 introduces D with a newer clock', 'c3', [[D, 4, { user: { name: 'Dan' } }]])
await send('c3 removes F with a newer clock', 'c3', [[F, 8, null]])
advance(21000)
await send('c1 renews A', 'c1', [[A, 4, { user: { name: 'Alice', color: '#30bced' }, cursor: { anchor: 1, head: 4 } }]])
advance(8999)
await expire('nothing has expired 29.999 s after the last update')
advance(1)
await expire('30 s after their last update, D and E expire')
await connect('c4')
await close('c1')
await close('c3')
await send('c2 brings B back with a newer clock', 'c2', [[B, 2, { user: { name: 'Bob 😀' } }]])
await close('c2', 'y-partykit only tracks the clients a connection adds for the first time, so B (re-added after a removal) stays as a ghost until it expires; collabd removes it now')
advance(30000)
await expire('the ghost B expires', 'collabd removed B when c2 closed')

const out = {
  comment: 'Generated by tools/golden/awareness.mjs from the y-partykit server; do not edit.',
  versions: Object.fromEntries(['y-partykit', 'y-protocols', 'lib0'].map((p) => [p, version(p)])),
  steps
}
mkdirSync(join(root, 'awareness/testdata'), { recursive: true })
writeFileSync(join(root, 'awareness/testdata/golden.json'), JSON.stringify(out, null, 1) + '\n')
console.log(`${steps.length} steps`)
process.exit(0)
