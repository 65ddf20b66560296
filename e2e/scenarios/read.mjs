// Connects one client (y-websocket, or y-partykit with "route": "pk"),
// waits for it to sync and prints its document.
import { args, wsProvider, pkProvider, synced, snapshot, newDoc, restJSON, run } from './lib.mjs'

run(async () => {
  const doc = newDoc(args.schema)
  const p = (args.route === 'pk' ? pkProvider : wsProvider)(args.room, doc)
  let atSync = null
  p.on('sync', (s) => { if (s && atSync === null) atSync = snapshot(doc) })
  await synced(p, 'reader', args.syncTimeoutMs ?? 10000)
  return { atSync, restJSON: restJSON(doc) }
})
