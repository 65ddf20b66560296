// Hocuspocus as a durable peer for bench/load/compare.sh: the stock server
// with its SQLite extension, default debounce (it stores the whole document
// 2 s after the last change, at the latest 10 s after the first), so that,
// like collabd, it keeps what it is sent. It stores less eagerly than
// collabd, which logs every update before relaying it; the comparison says so.
//
//   PORT=18931 DATA_DIR=/tmp/x node bench/peers/hocuspocus.mjs
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'
import { join } from 'node:path'

const port = Number(process.env.PORT || 1234)
const host = process.env.HOST || '127.0.0.1'
const database = join(process.env.DATA_DIR || '.', 'hocuspocus.sqlite')

const server = new Server({
  port,
  address: host,
  quiet: true,
  extensions: [new SQLite({ database })]
})
await server.listen()
console.log(`hocuspocus listening on ${host}:${port}, database ${database}`)
for (const sig of ['SIGINT', 'SIGTERM']) {
  // destroy() stores every document that is still pending first.
  process.on(sig, async () => { await server.destroy(); process.exit(0) })
}
