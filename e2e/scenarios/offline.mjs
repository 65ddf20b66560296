// Scenario 3: offline edits merge on reconnect. Round 1: client a goes
// offline (provider.disconnect()), both edit, a reconnects. Round 2: both
// go offline, both edit, both reconnect. Each time the clients converge and
// hold every edit.
import { Y, args, wsProvider, synced, converged, snapshot, newDoc, sleep, waitFor, run } from './lib.mjs'

function para (text) {
  const p = new Y.XmlElement('paragraph')
  const t = new Y.XmlText()
  p.insert(0, [t])
  t.insert(0, text)
  return p
}

function edit (doc, tag) {
  doc.transact(() => {
    doc.getText('text').insert(0, `[${tag}]`, { italic: true })
    doc.getMap('map').set(tag, true)
    doc.getMap('map').set('last', tag) // both write this key: one wins, the same everywhere
    doc.getArray('array').insert(0, [tag])
    doc.getXmlFragment('prosemirror').insert(0, [para(tag)])
  })
}

async function offline (p, what) {
  p.disconnect()
  await waitFor(`${what} to be disconnected`, () => !p.wsconnected && p.ws === null, 2000)
}

function holds (doc, tags) {
  const text = doc.getText('text').toString()
  const map = doc.getMap('map')
  const array = doc.getArray('array').toArray()
  return tags.every((t) => text.includes(`[${t}]`) && map.get(t) === true && array.includes(t))
}

run(async () => {
  const docA = newDoc()
  const docB = newDoc()
  const a = wsProvider(args.room, docA)
  const b = wsProvider(args.room, docB)
  await synced(a, 'a')
  await synced(b, 'b')
  edit(docA, 'start')
  await converged('the initial state', [docA, docB])

  // Round 1: a offline.
  await offline(a, 'a')
  edit(docA, 'a-offline-1')
  edit(docB, 'b-online-1')
  await sleep(300)
  const leaked = holds(docB, ['a-offline-1'])
  a.connect()
  await synced(a, 'a after reconnecting')
  await converged('round 1', [docA, docB])
  const round1 = { a: snapshot(docA), b: snapshot(docB), holdsAll: [holds(docA, ['a-offline-1', 'b-online-1']), holds(docB, ['a-offline-1', 'b-online-1'])], offlineEditLeaked: leaked }

  // Round 2: both offline; several edits each.
  await offline(a, 'a')
  await offline(b, 'b')
  for (let i = 0; i < 5; i++) {
    edit(docA, `a-off-${i}`)
    edit(docB, `b-off-${i}`)
  }
  b.connect()
  a.connect()
  await synced(a, 'a after reconnecting')
  await synced(b, 'b after reconnecting')
  await converged('round 2', [docA, docB])
  const tags = []
  for (let i = 0; i < 5; i++) tags.push(`a-off-${i}`, `b-off-${i}`)
  const round2 = { a: snapshot(docA), b: snapshot(docB), holdsAll: [holds(docA, tags), holds(docB, tags)] }
  return { round1, round2 }
})
