// Shared helpers of the end-to-end scenarios. Each scenario is a Node
// program that the Go tests in ../e2e_test.go run against a real collabd
// process. It receives its parameters as one JSON argument:
//
//	{"base": "http://127.0.0.1:PORT", "room": "...", ...}
//
// and either prints one JSON result line on stdout and exits 0, or prints
// "scenario failed: ..." on stderr and exits 1. Long-running scenarios
// (those the Go test drives step by step) print one JSON line per event.
//
// Only the stock client packages are used: y-websocket's WebsocketProvider
// and y-partykit's YPartyKitProvider, with the `ws` package as WebSocket
// implementation (Node 20 has no global WebSocket).

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import YPartyKitProvider from 'y-partykit/provider'
import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

export { Y, WebSocket, encoding, decoding }

// Every provider adds a process 'exit' listener; scenarios use more than
// Node's default warning threshold of 10.
process.setMaxListeners(100)

/** The scenario's parameters (the first command-line argument, JSON). */
export const args = JSON.parse(process.argv[2] ?? '{}')

if (!args.base) {
  console.error('scenario failed: missing "base" (http://HOST:PORT) in the JSON argument')
  process.exit(2)
}

/** host:port of the collabd under test. */
export const host = new URL(args.base).host
/** The y-websocket endpoint (the room name is appended by the provider). */
export const wsBase = `ws://${host}/ws`

const providers = new Set()

/**
 * What the providers of this process received: the payloads (base64) of
 * sync Update messages.
 */
export const received = { updates: new Set() }

/**
 * The WebSocket the providers use: `ws`, plus a look at every frame
 * received (before the provider's own handler, which was registered
 * later).
 */
export class TapWebSocket extends WebSocket {
  constructor (...a) {
    super(...a)
    this.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string' || ev.data.byteLength === 0) return
      try {
        const m = parseFrame(ev.data)
        if (m.type === 0 && m.sub === 2) received.updates.add(Buffer.from(m.payload).toString('base64'))
      } catch {}
    })
  }
}

/**
 * Runs edit (which changes provider's document) and waits until collabd
 * has relayed every update it made back to this process. collabd relays an
 * update only once it is stored, so afterwards the edit is durable and a
 * REST read needs no waiting.
 */
export async function echoOf (provider, edit, timeoutMs = 5000) {
  const mine = []
  const onUpdate = (u, origin) => { if (origin !== provider) mine.push(Buffer.from(u).toString('base64')) }
  provider.doc.on('update', onUpdate)
  try {
    edit()
  } finally {
    provider.doc.off('update', onUpdate)
  }
  await waitFor(`collabd to echo ${mine.length} update(s)`, () => mine.every((u) => received.updates.has(u)), timeoutMs)
}

/**
 * A y-websocket provider for room. BroadcastChannel is disabled: Node has a
 * global BroadcastChannel, and two providers of one process would otherwise
 * sync through it instead of through the server.
 */
export function wsProvider (room, doc = newDoc(), opts = {}) {
  const p = new WebsocketProvider(wsBase, room, doc, {
    WebSocketPolyfill: TapWebSocket,
    disableBc: true,
    maxBackoffTime: 500,
    ...opts
  })
  providers.add(p)
  return p
}

/**
 * A y-partykit provider for room: it connects to
 * ws://HOST/parties/main/ROOM?_pk=UUID (protocol "ws" is chosen for
 * 127.0.0.1; party defaults to "main").
 */
export function pkProvider (room, doc = newDoc(), opts = {}) {
  const p = new YPartyKitProvider(host, room, doc, {
    WebSocketPolyfill: TapWebSocket,
    disableBc: true,
    maxBackoffTime: 500,
    ...opts
  })
  providers.add(p)
  return p
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls cond every 5 ms until it returns a truthy value, which it returns;
 * throws after timeoutMs naming what it waited for (describe may be a
 * function giving details of the last state).
 */
export async function waitFor (what, cond, timeoutMs = 5000, describe) {
  const start = Date.now()
  for (;;) {
    const v = cond()
    if (v) return v
    if (Date.now() - start > timeoutMs) {
      const detail = describe ? `; ${typeof describe === 'function' ? describe() : describe}` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`)
    }
    await sleep(5)
  }
}

/** Resolves once provider has received the server's SyncStep2. */
export function synced (provider, what = 'provider', timeoutMs = 5000) {
  return waitFor(`${what} to sync with ${provider.url}`, () => provider.synced, timeoutMs)
}

/** Stable JSON of a value, keys sorted, for comparisons. */
export function canonical (v) {
  return JSON.stringify(sortKeys(v))
}

function sortKeys (v) {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') {
    const out = {}
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k])
    return out
  }
  return v
}

/**
 * Declares doc's root types: a Y.Doc's toJSON lists only the roots that were
 * asked for by type (getText, getMap, ...), and a document filled by a
 * provider asked for none. schema maps root names to text, map, array or
 * xml.
 */
export function declare (doc, schema) {
  for (const [name, kind] of Object.entries(schema)) {
    switch (kind) {
      case 'text': doc.getText(name); break
      case 'map': doc.getMap(name); break
      case 'array': doc.getArray(name); break
      case 'xml': doc.getXmlFragment(name); break
      default: throw new Error(`declare: unknown kind ${kind} of root ${name}`)
    }
  }
  return doc
}

/** The roots most scenarios use. */
export const ROOTS = { text: 'text', map: 'map', array: 'array', prosemirror: 'xml' }

/** A new Y.Doc with schema's roots declared. */
export function newDoc (schema = ROOTS) {
  return declare(new Y.Doc(), schema)
}

/** Everything a document holds that the tests compare. */
export function snapshot (doc) {
  return {
    json: doc.toJSON(),
    stateVector: Object.fromEntries([...Y.decodeStateVector(Y.encodeStateVector(doc))].map(([c, k]) => [String(c), k]))
  }
}

/**
 * doc.toJSON() as collabd's REST API gives it: exactly Yjs's own output
 * (XML roots are Y.XmlFragment.toString(), with Yjs's run boundaries).
 * Replicas agree on those boundaries because collabd relays its
 * document's formatting clean-up like any update.
 */
export function restJSON (doc) {
  const json = doc.toJSON()
  for (const [name, type] of doc.share) {
    if (type instanceof Y.XmlFragment) json[name] = type.toString()
  }
  return json
}

/** Waits until every document has the same content and state vector. */
export async function converged (what, docs, timeoutMs = 5000) {
  await waitFor(`${what} to converge`, () => {
    const first = canonical(snapshot(docs[0]))
    return docs.every((d) => canonical(snapshot(d)) === first)
  }, timeoutMs, () => docs.map((d) => canonical(snapshot(d)).slice(0, 400)).join('\n  vs '))
}

/** GETs a collabd REST path; returns {status, body (parsed JSON or bytes)}. */
export async function rest (path, init = {}) {
  // With access control on, the scenario's parameters carry a token for
  // its REST reads.
  if (args.restToken) init = { ...init, headers: { authorization: `Bearer ${args.restToken}`, ...init.headers } }
  const res = await fetch(args.base + path, init)
  const type = res.headers.get('content-type') ?? ''
  const body = type.includes('json') ? await res.json() : new Uint8Array(await res.arrayBuffer())
  return { status: res.status, type, body }
}

/** The document held by collabd for room, via GET /api/docs/{room}/update. */
export async function serverDoc (room, schema = ROOTS) {
  const res = await rest(`/api/docs/${encodeURIComponent(room)}/update`)
  if (res.status !== 200) throw new Error(`GET /api/docs/${room}/update: status ${res.status}: ${JSON.stringify(res.body)}`)
  const doc = newDoc(schema)
  Y.applyUpdate(doc, res.body)
  return doc
}

/**
 * Runs a scenario: prints its result as one JSON line and exits 0, or
 * prints the error and exits 1. Providers are destroyed first (each sends a
 * close frame), so that the server sees orderly closes.
 */
export function run (main) {
  const timer = setTimeout(() => {
    console.error(`scenario failed: still running after ${args.timeoutMs ?? 60000} ms`)
    process.exit(1)
  }, args.timeoutMs ?? 60000)
  main().then(async (result) => {
    await closeAll()
    clearTimeout(timer)
    process.stdout.write(JSON.stringify(result ?? {}) + '\n', () => process.exit(0))
  }, (err) => {
    console.error('scenario failed: ' + (err && err.stack ? err.stack : err))
    process.exit(1)
  })
}

/** Destroys every provider and waits (briefly) for their sockets to close. */
export async function closeAll () {
  const sockets = []
  for (const p of providers) {
    if (p.ws) sockets.push(p.ws)
    p.destroy()
  }
  providers.clear()
  await waitFor('sockets to close', () => sockets.every((s) => s.readyState === WebSocket.CLOSED), 2000).catch(() => {})
}

/** Prints one JSON event line (for scenarios the Go test drives). */
export function emit (event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

/**
 * Parses the messages of a y-websocket frame (only the first message of
 * a frame, as the stock providers do): {type, sub, payload}.
 */
export function parseFrame (data) {
  const d = decoding.createDecoder(new Uint8Array(data))
  const type = decoding.readVarUint(d)
  if (type === 0) {
    const sub = decoding.readVarUint(d)
    return { type, sub, payload: decoding.readVarUint8Array(d) }
  }
  if (type === 1) return { type, payload: decoding.readVarUint8Array(d) }
  return { type }
}

/** A y-websocket frame: sync Update (0, 2) carrying update. */
export function updateFrame (update) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 2)
  encoding.writeVarUint8Array(e, update)
  return encoding.toUint8Array(e)
}

/**
 * Opens a raw `ws` connection (no provider) to path and resolves once it is
 * open; conn.closed resolves with {code, reason, afterMs} when it closes.
 */
export function rawSocket (path, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}${path}`, opts)
    ws.binaryType = 'arraybuffer'
    const received = []
    ws.on('message', (data, isBinary) => received.push({ data, isBinary }))
    let openedAt = 0
    ws.closed = new Promise((resolveClosed) => {
      ws.on('close', (code, reason) => resolveClosed({ code, reason: reason.toString(), afterMs: Date.now() - openedAt }))
    })
    ws.on('error', (err) => { ws.lastError = err })
    ws.once('open', () => { openedAt = Date.now(); ws.received = received; resolve(ws) })
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade of ${path} refused: HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

/** A short random string for room names. */
export function rand () {
  return Math.random().toString(36).slice(2, 10)
}
