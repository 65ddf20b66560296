// Scenario 2: late joiners get the full state. One joins while the writer
// is still connected; another joins after everyone left and the room has
// hibernated (collabd runs with a short --idle-timeout), so its state comes
// from storage. Each joiner's document is captured in its 'sync' handler:
// the content must be there when the provider reports synced.
import { Y, args, wsProvider, pkProvider, synced, converged, snapshot, newDoc, canonical, sleep, run } from './lib.mjs'

function fill (doc) {
  doc.transact(() => {
    doc.getText('text').insert(0, 'late joiners see this', { bold: true })
    doc.getText('text').insert(5, ' (really)')
    doc.getMap('map').set('answer', 42)
    doc.getMap('map').set('nested', { list: [1, 2, 3], ok: true })
    doc.getArray('array').push(['x', 'y', { z: 1 }])
    const p = new Y.XmlElement('paragraph')
    const t = new Y.XmlText()
    p.insert(0, [t])
    t.insert(0, 'from the writer', { strong: {} })
    doc.getXmlFragment('prosemirror').insert(0, [p])
  })
}

// join connects a new client and resolves with its document as it was in
// its first 'sync' event.
async function join (make, what) {
  const doc = newDoc()
  const p = make(args.room, doc)
  let atSync = null
  p.on('sync', (isSynced) => { if (isSynced && atSync === null) atSync = snapshot(doc) })
  await synced(p, what)
  return { p, atSync }
}

run(async () => {
  const writerDoc = newDoc()
  const writer = wsProvider(args.room, writerDoc)
  const observerDoc = newDoc()
  const observer = wsProvider(args.room, observerDoc)
  await synced(writer, 'writer')
  await synced(observer, 'observer')
  fill(writerDoc)
  // The observer has it once the server relayed it, which it does only
  // after storing it.
  await converged('writer and observer', [writerDoc, observerDoc])
  const want = snapshot(writerDoc)

  const live = await join(wsProvider, 'late y-websocket joiner (writer connected)')
  const livePK = await join(pkProvider, 'late y-partykit joiner (writer connected)')

  writer.destroy()
  observer.destroy()
  live.p.destroy()
  livePK.p.destroy()
  // Nobody is connected now; wait for the room to hibernate.
  await sleep(args.waitMs ?? 1000)
  const cold = await join(wsProvider, 'late joiner after hibernation')
  const coldPK = await join(pkProvider, 'late y-partykit joiner after hibernation')
  return {
    want,
    live: live.atSync,
    livePK: livePK.atSync,
    cold: cold.atSync,
    coldPK: coldPK.atSync,
    equal: [live, livePK, cold, coldPK].map((j) => canonical(j.atSync) === canonical(want))
  }
})
