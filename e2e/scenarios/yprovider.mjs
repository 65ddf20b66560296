// y-partyserver's YProvider (pinned) against collabd: two providers on
// args.party (a Yjs party) sync a text; one sends a custom message
// (__YPS:…), which collabd drops without closing the connection; a third,
// y-websocket on /ws, sees the same document.
import * as Y from 'yjs'
import YProvider from 'y-partyserver/provider'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const args = JSON.parse(process.argv[2])
const host = new URL(args.base).host
const fail = (m) => { console.error('scenario failed: ' + m); process.exit(1) }
const until = async (what, cond, ms = 10000) => {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) fail('timed out waiting for ' + what)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
const docA = new Y.Doc()
const docB = new Y.Doc()
const a = new YProvider(host, args.room, docA, { party: args.party, WebSocketPolyfill: WebSocket })
const b = new YProvider(host, args.room, docB, { party: args.party, WebSocketPolyfill: WebSocket })
let closes = 0
for (const p of [a, b]) p.on('connection-close', () => { closes++ })
await until('both synced', () => a.synced && b.synced)
docA.getText('t').insert(0, 'from A')
await until('B to see A', () => docB.getText('t').toString() === 'from A')
a.sendMessage(JSON.stringify({ hello: 'server' }))
await new Promise((resolve) => setTimeout(resolve, 200))
docA.getText('t').insert(6, ' again')
await until('B to see the second edit', () => docB.getText('t').toString() === 'from A again')
const docC = new Y.Doc()
const c = new WebsocketProvider(`ws://${host}/ws`, args.room, docC, { WebSocketPolyfill: WebSocket })
await until('y-websocket to see the same document', () => docC.getText('t').toString() === 'from A again')
console.log(JSON.stringify({ text: docC.getText('t').toString(), closes, ids: [a.id, b.id].map((x) => typeof x) }))
for (const p of [a, b, c]) p.destroy()
setTimeout(() => process.exit(0), 50)
