// Cluster scenarios (../cluster_test.go): stock y-websocket clients spread
// over several collabd nodes of one cluster. args.bases lists the nodes'
// (or a load balancer's) http://HOST:PORT; client i connects to
// bases[i % bases.length]. args.mode picks the scenario:
//
//	converge  clients edit Y.Text, Y.Map and Y.XmlFragment at once and
//	          converge; the result holds every client's document and each
//	          node's (GET /api/docs/{room}/update).
//	presence  clients a, b, c on nodes 0, 1, 2 see each other's presence;
//	          after the line {"ready":...} the test kills node 2, and the
//	          result says how long a and b took to see c's presence go.
//	load      writers and readers of args.rooms append tokens to the
//	          Y.Array "log" for args.durationMs while the test kills a node
//	          or restarts the bus; the result holds the tokens written, the
//	          tokens of args.victim's writers seen relayed, and each room's
//	          final content once the clients converged.
//	victim    writers that append tokens (prefix args.victim) until killed.
//	churn     args.cycles clients connect, sync, show presence and leave,
//	          round-robin over the nodes.
import { WebsocketProvider } from 'y-websocket'
import { Y, args, TapWebSocket, echoOf, newDoc, snapshot, waitFor, converged, sleep, emit, run } from './lib.mjs'

const bases = args.bases ?? [args.base]
const own = new Set()
const ROOTS_CLUSTER = { text: 'text', map: 'map', prosemirror: 'xml', log: 'array' }

function at (i, room, doc = newDoc(ROOTS_CLUSTER)) {
  const host = new URL(bases[i % bases.length]).host
  const p = new WebsocketProvider(`ws://${host}/ws`, room, doc, {
    WebSocketPolyfill: TapWebSocket,
    disableBc: true,
    maxBackoffTime: 300
  })
  own.add(p)
  return p
}

function destroyAll () {
  for (const p of own) p.destroy()
  own.clear()
}

async function serverSnapshot (base, room) {
  const res = await fetch(`${base}/api/docs/${encodeURIComponent(room)}/update`)
  if (res.status !== 200) throw new Error(`GET ${base}/api/docs/${room}/update: ${res.status} ${await res.text()}`)
  const d = newDoc(ROOTS_CLUSTER)
  Y.applyUpdate(d, new Uint8Array(await res.arrayBuffer()))
  return snapshot(d)
}

// One edit of each of Y.Text, Y.Map and Y.XmlFragment by client who.
function edit (doc, who, i) {
  const text = doc.getText('text')
  const map = doc.getMap('map')
  const frag = doc.getXmlFragment('prosemirror')
  doc.transact(() => {
    const len = text.length
    if (i % 4 === 3 && len > 6) text.delete((i * 7) % (len - 3), 2)
    else text.insert((i * 13) % (len + 1), `${who}${i} `, i % 2 ? { bold: true } : undefined)
    if (i % 5 === 0 && len > 2) text.format(0, 2, { italic: true })
    if (i % 3 === 0) map.delete(`k${i % 4}`)
    else map.set(`k${i % 4}`, { by: who, i })
    const n = frag.length
    if (i % 4 === 2 && n > 1) {
      frag.delete(i % n, 1)
    } else {
      const p = new Y.XmlElement('paragraph')
      const t = new Y.XmlText()
      p.insert(0, [t])
      t.insert(0, `${who} ${i}`, i % 2 ? { strong: {} } : undefined)
      frag.insert(n ? i % (n + 1) : 0, [p])
    }
  })
}

async function converge () {
  const room = args.room
  const n = args.clients ?? 6
  // The first client makes node 0 the room's owner; the others join
  // through their own nodes.
  const ps = [at(0, room)]
  await waitFor('client 0 to sync', () => ps[0].synced, 5000)
  for (let i = 1; i < n; i++) ps.push(at(i, room))
  await waitFor('every client to sync', () => ps.every((p) => p.synced), 10000)
  const rounds = args.rounds ?? 30
  for (let r = 0; r < rounds; r++) {
    ps.forEach((p, i) => edit(p.doc, `c${i}-`, r))
    if (r % 3 === 0) await sleep(5)
  }
  const docs = ps.map((p) => p.doc)
  await converged('the clients', docs, 15000)
  const servers = []
  for (const b of bases) servers.push(await serverSnapshot(b, room))
  return {
    clients: docs.map(snapshot),
    servers,
    text: docs[0].getText('text').toString(),
    xml: docs[0].getXmlFragment('prosemirror').toString(),
    nodesOf: ps.map((p, i) => i % bases.length)
  }
}

async function presence () {
  const room = args.room
  const a = at(0, room)
  await waitFor('a to sync', () => a.synced, 5000)
  const b = at(1, room)
  const c = at(2, room)
  await waitFor('b and c to sync', () => b.synced && c.synced, 5000)
  const ps = [a, b, c]
  ps.forEach((p, i) => p.awareness.setLocalState({ user: { name: `user${i}` } }))
  const start = Date.now()
  await waitFor('everyone to see everyone', () => ps.every((p) => ps.every((q) => p.awareness.getStates().get(q.doc.clientID)?.user?.name)), 5000,
    () => ps.map((p) => [...p.awareness.getStates().keys()].join(',')).join(' | '))
  const seenMs = Date.now() - start
  const idC = c.doc.clientID
  emit({ ready: true, seenMs })
  const killed = Date.now()
  await waitFor('a and b to see c removed', () => !a.awareness.getStates().has(idC) && !b.awareness.getStates().has(idC), args.removalLimitMs ?? 10000)
  const removedMs = Date.now() - killed
  // The survivors still share presence changes.
  a.awareness.setLocalStateField('cursor', 7)
  await waitFor('b to see a\'s cursor', () => b.awareness.getStates().get(a.doc.clientID)?.cursor === 7, 5000)
  return { seenMs, removedMs }
}

// writer appends a token to room's log every intervalMs until stop().
function writer (p, prefix, tokens) {
  let k = 0
  let stopped = false
  const loop = async () => {
    while (!stopped) {
      const tok = `${prefix}-${k++}`
      p.doc.getArray('log').push([tok])
      tokens.push(tok)
      await sleep(args.intervalMs ?? 10)
    }
  }
  const done = loop()
  return async () => { stopped = true; await done }
}

// Tokens others wrote that p received from the server.
function watchRelayed (p, prefix, seen) {
  p.doc.getArray('log').observe((ev) => {
    if (ev.transaction.local) return
    for (const item of ev.changes.added) {
      for (const v of item.content.getContent()) {
        if (typeof v === 'string' && v.startsWith(prefix)) seen.add(v)
      }
    }
  })
}

async function load () {
  const rooms = args.rooms
  const per = args.writersPerRoom ?? 3
  const written = []
  const seenVictim = new Set()
  const ps = []
  const stops = []
  let idx = 0
  for (const room of rooms) {
    for (let w = 0; w < per; w++) {
      const p = at(idx++, room)
      ps.push(p)
      watchRelayed(p, args.victim ?? 'victim', seenVictim)
    }
  }
  await waitFor('every client to sync', () => ps.every((p) => p.synced), 10000)
  ps.forEach((p, i) => stops.push(writer(p, `s${i}`, written)))
  emit({ ready: true })
  await sleep(args.durationMs ?? 6000)
  for (const s of stops) await s()
  const result = {}
  for (const room of rooms) {
    const docs = ps.filter((p) => p.roomname === room).map((p) => p.doc)
    await converged(`the clients of ${room}`, docs, 20000)
    result[room] = docs[0].getArray('log').toArray()
  }
  return { written, seenVictim: [...seenVictim], final: result }
}

async function victim () {
  const tokens = []
  const ps = args.rooms.map((room) => at(0, room))
  await waitFor('the victim to sync', () => ps.every((p) => p.synced), 10000)
  ps.forEach((p, i) => writer(p, `${args.victim}${i}`, tokens))
  emit({ writing: true })
  await sleep(600000)
}

async function churn () {
  const room = args.room
  const cycles = args.cycles ?? 200
  for (let i = 0; i < cycles; i++) {
    const p = at(i, room)
    await waitFor(`client ${i} to sync`, () => p.synced, 5000)
    p.awareness.setLocalState({ user: { name: `churn${i}` } })
    // Stored once relayed back (a close right after a write may overtake
    // it, on one node as on several).
    await echoOf(p, () => p.doc.getMap('map').set(`c${i % 10}`, i))
    p.destroy()
    own.delete(p)
  }
  // One last client sees the end state.
  const last = at(0, room)
  await waitFor('the last client to sync', () => last.synced, 5000)
  await waitFor('the last write', () => last.doc.getMap('map').get(`c${(cycles - 1) % 10}`) === cycles - 1, 5000)
  return { cycles, map: last.doc.getMap('map').toJSON() }
}

const modes = { converge, presence, load, victim, churn }

run(async () => {
  const mode = modes[args.mode]
  if (!mode) throw new Error(`unknown mode ${args.mode}`)
  try {
    return await mode()
  } finally {
    destroyAll()
  }
})
