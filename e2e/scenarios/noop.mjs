// Connections that change nothing cause no document traffic. Every stock
// provider answers the server's SyncStep1 with a SyncStep2 holding what the
// server lacks, which for a client in sync is an empty update (no structs,
// no deletions). The reference servers apply it, see no change and relay
// nothing; collabd must not relay (or store) it either. A raw observer
// counts the sync Update frames collabd sends it while providers of both
// kinds connect, sync and leave without editing.
import { args, wsProvider, pkProvider, synced, rawSocket, parseFrame, echoOf, sleep, run } from './lib.mjs'

run(async () => {
  const writer = wsProvider(args.room)
  await synced(writer, 'writer')
  await echoOf(writer, () => writer.doc.getText('text').insert(0, 'content'))
  writer.destroy()

  const observer = await rawSocket(`/ws/${encodeURIComponent(args.room)}`)
  await sleep(100)
  const from = observer.received.length
  const n = args.clients ?? 6
  for (let i = 0; i < n; i++) {
    const p = (i % 2 === 0 ? wsProvider : pkProvider)(args.room)
    await synced(p, `client ${i}`)
    await sleep(20)
    p.destroy()
  }
  await sleep(200)
  const updates = []
  for (const { data, isBinary } of observer.received.slice(from)) {
    if (!isBinary || data.byteLength === 0) continue
    const m = parseFrame(data)
    if (m.type === 0 && m.sub === 2) updates.push(Buffer.from(m.payload).toString('hex'))
  }
  return { clients: n, relayedUpdates: updates }
})
