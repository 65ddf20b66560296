// Helpers of the party scenarios: the stock partysocket client (pinned in
// package.json) with `ws` as its WebSocket in Node, and a message queue to
// wait on.
import PartySocket from 'partysocket'
import WebSocket from 'ws'

export const args = JSON.parse(process.argv[2] ?? '{}')
export const host = new URL(args.base).host

export function fail (msg) {
  console.error('scenario failed: ' + msg)
  process.exit(1)
}

/**
 * A PartySocket with every message (and close event) kept, so that
 * scenarios can wait for what they expect. Reconnection delays are short
 * so that the tests do not wait for partysocket's defaults (seconds).
 */
export function connect (opts) {
  const ws = new PartySocket({
    host,
    WebSocket,
    minReconnectionDelay: 50,
    maxReconnectionDelay: 300,
    connectionTimeout: 4000,
    ...opts
  })
  ws.binaryType = 'arraybuffer'
  ws.got = []
  ws.closes = []
  ws.opens = 0
  ws.waiters = []
  const poke = () => { for (const w of ws.waiters.splice(0)) w() }
  ws.addEventListener('message', (e) => {
    let v = e.data
    if (typeof v === 'string') {
      try { v = JSON.parse(v) } catch { /* plain text */ }
    } else {
      v = { binary: Buffer.from(v).toString('base64') }
    }
    ws.got.push(v)
    poke()
  })
  ws.addEventListener('close', (e) => { ws.closes.push(e.code); poke() })
  ws.addEventListener('open', () => { ws.opens++; poke() })
  return ws
}

/**
 * Waits until pred(value) holds for a message received from index `from`
 * on (default: 0), and returns it with its index.
 */
export async function waitFor (ws, pred, what, timeoutMs = 10000, from = 0) {
  const deadline = Date.now() + timeoutMs
  let i = from
  for (;;) {
    for (; i < ws.got.length; i++) {
      if (pred(ws.got[i])) return { msg: ws.got[i], index: i }
    }
    const left = deadline - Date.now()
    if (left <= 0) fail(`timed out waiting for ${what}; got ${JSON.stringify(ws.got).slice(-1500)}`)
    await new Promise((resolve) => {
      const t = setTimeout(resolve, left)
      ws.waiters.push(() => { clearTimeout(t); resolve() })
    })
  }
}

/** Waits until cond() holds (polled on every event of the sockets). */
export async function until (sockets, cond, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    const left = deadline - Date.now()
    if (left <= 0) fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => {
      const t = setTimeout(resolve, Math.min(left, 200))
      for (const ws of sockets) ws.waiters.push(() => { clearTimeout(t); resolve() })
    })
  }
}

export const type = (t) => (m) => m && m.type === t
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
