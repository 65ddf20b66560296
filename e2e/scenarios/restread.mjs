// REST reads during writes. A writer (a raw socket sending the updates of a
// Y.Doc) edits continuously while GET /api/docs/{room} and
// GET /api/docs/{room}/update are requested concurrently; an observer (a
// raw socket too, so that nothing crashes) records every frame collabd
// sends it. Every frame must hold a message: a stock provider throws on an
// empty frame (in Node that is an uncaught exception that ends the
// process).
import { Y, args, rawSocket, updateFrame, parseFrame, waitFor, run } from './lib.mjs'

run(async () => {
  const path = `/ws/${encodeURIComponent(args.room)}`
  const writer = await rawSocket(path)
  const observer = await rawSocket(path)
  const doc = new Y.Doc()
  doc.on('update', (u) => writer.send(updateFrame(u)))
  const text = doc.getText('text')
  const edits = args.edits ?? 300
  let pending = []
  const statuses = {}
  for (let i = 0; i < edits; i++) {
    text.insert(text.length, `${i} `)
    const which = i % 2 === 0 ? '' : '/update'
    pending.push(fetch(`${args.base}/api/docs/${encodeURIComponent(args.room)}${which}`).then(async (r) => {
      await r.arrayBuffer()
      statuses[r.status] = (statuses[r.status] ?? 0) + 1
    }))
    if (pending.length >= 8) {
      await Promise.all(pending)
      pending = []
    }
  }
  await Promise.all(pending)
  const want = text.toString()
  // The observer has every update once it can rebuild the text.
  const seen = new Y.Doc()
  let next = 0
  let empty = 0
  await waitFor('the observer to receive every edit', () => {
    for (; next < observer.received.length; next++) {
      const { data, isBinary } = observer.received[next]
      if (!isBinary) continue
      if (data.byteLength === 0) {
        empty++
        continue
      }
      const m = parseFrame(data)
      if (m.type === 0 && m.sub !== 0) Y.applyUpdate(seen, m.payload)
    }
    return seen.getText('text').toString() === want
  }, 10000)
  return { frames: next, emptyFrames: empty, statuses }
})
