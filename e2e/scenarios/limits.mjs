// One limit at a time (args.mode; collabd runs with that limit set low):
// a client trips it and gets the documented refusal or close code, while
// two stock providers of the same room keep syncing.
import net from 'node:net'
import { args, run, wsProvider, synced, waitFor, sleep, rawSocket, updateFrame, rest, Y, WebSocket, host } from './lib.mjs'

/** Opens a raw socket to path; resolves {open: ws} or {refused: status}. */
function tryOpen (path) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${host}${path}`)
    ws.binaryType = 'arraybuffer'
    ws.closed = new Promise((resolveClosed) => ws.on('close', (code, reason) => resolveClosed({ code, reason: reason.toString() })))
    ws.once('open', () => resolve({ open: ws }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ refused: res.statusCode, body }))
    })
    ws.on('error', () => {})
  })
}

/** Updates a client would send, one per call. */
function updates (n) {
  const d = new Y.Doc()
  const out = []
  d.on('update', (u) => out.push(u))
  for (let i = 0; i < n; i++) d.getText('text').insert(0, 'x')
  return out
}

run(async () => {
  const room = args.room
  const a = wsProvider(room)
  const b = wsProvider(room)
  await synced(a, 'a')
  await synced(b, 'b')
  const out = { mode: args.mode }

  switch (args.mode) {
    case 'rate': {
      const flood = await rawSocket(`/ws/${room}`)
      for (const u of updates(200)) flood.send(updateFrame(u))
      out.close = await flood.closed
      break
    }
    case 'frame': {
      const big = await rawSocket(`/ws/${room}`)
      big.send(new Uint8Array(100 << 10))
      out.close = await big.closed
      break
    }
    case 'room': {
      const r = await tryOpen(`/ws/${room}`)
      out.refused = r.refused
      out.body = r.body
      if (r.open) r.open.close()
      break
    }
    case 'ip': {
      const first = await tryOpen('/ws/elsewhere')
      const r = await tryOpen('/parties/main/elsewhere')
      out.refused = r.refused
      out.body = r.body
      for (const x of [first, r]) if (x.open) x.open.close()
      break
    }
    case 'rooms': {
      const r = await tryOpen('/ws/another-room')
      out.refused = r.refused
      if (r.open) out.close = await r.open.closed
      break
    }
    case 'body': {
      const res = await rest(`/api/docs/${room}/update`, { method: 'POST', body: new Uint8Array(8192) })
      out.refused = res.status
      out.body = JSON.stringify(res.body)
      break
    }
    case 'handshake': {
      // Half a request, then silence: collabd drops the connection.
      const start = Date.now()
      const sock = net.connect(new URL(args.base).port, '127.0.0.1')
      sock.on('connect', () => sock.write(`GET /ws/${room} HTTP/1.1\r\nHost: ${host}\r\n`))
      sock.on('error', () => {})
      await new Promise((resolve) => sock.on('close', resolve))
      out.droppedAfterMs = Date.now() - start
      break
    }
    default:
      throw new Error(`unknown mode ${args.mode}`)
  }

  // The room's other clients carry on.
  a.doc.getText('text').insert(0, `after ${args.mode}`)
  await waitFor('b to receive a\'s edit', () => b.doc.getText('text').toString().startsWith(`after ${args.mode}`))
  await sleep(50)
  out.bConnected = b.wsconnected
  out.aConnected = a.wsconnected
  return out
})
