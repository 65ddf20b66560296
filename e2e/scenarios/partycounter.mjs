// The example program's counter party (examples/counter) with partysocket:
// args.n increments, reports every count seen.
import { args, connect, waitFor } from './partylib.mjs'

const ws = connect({ party: 'counter', room: args.room })
await waitFor(ws, (m) => m && typeof m.count === 'number', 'the first count')
for (let i = 0; i < args.n; i++) ws.send('inc')
await waitFor(ws, (m) => m && m.count === args.n, 'count ' + args.n)
ws.close()
console.log(JSON.stringify({ counts: ws.got.map((m) => m.count) }))
setTimeout(() => process.exit(0), 50)
