// A client that stays connected across a collabd restart (the Go test
// drives it): it writes, prints {"event":"ready"} once collabd holds the
// writes, reports every close of its connection ({"event":"close","code"}),
// and after it has reconnected and resynced it writes once more and prints
// {"event":"resynced"} once collabd holds that too.
import { Y, args, wsProvider, synced, snapshot, serverDoc, canonical, echoOf, emit } from './lib.mjs'

const p = wsProvider(args.room)
const doc = p.doc

// stored makes an edit, waits for collabd to echo it (it relays only what
// it stored) and checks that GET /api/docs/{room}/update has it.
async function stored (what, edit) {
  await echoOf(p, edit)
  const want = canonical(snapshot(doc))
  const got = canonical(snapshot(await serverDoc(args.room)))
  if (got !== want) throw new Error(`collabd does not hold ${what}: it has ${got}, want ${want}`)
}

function fail (err) {
  console.error('scenario failed: ' + (err.stack ?? err))
  process.exit(1)
}

p.on('connection-close', (ev) => emit({ event: 'close', code: ev ? ev.code : null, reason: ev ? String(ev.reason) : '' }))
try {
  await synced(p, 'holder')
  const para = new Y.XmlElement('paragraph')
  const t = new Y.XmlText()
  para.insert(0, [t])
  await stored('the first writes', () => doc.transact(() => {
    doc.getText('text').insert(0, 'survives restarts', { bold: true })
    doc.getMap('map').set('restarts', 'survived')
    doc.getArray('array').push([1, 2, 3])
    doc.getXmlFragment('prosemirror').insert(0, [para])
    t.insert(0, 'persisted paragraph', { em: {} })
  }))
  emit({ event: 'ready', doc: snapshot(doc) })
} catch (err) {
  fail(err)
}

// After the restart the provider reconnects on its own and resyncs.
let wasDown = false
p.on('sync', (isSynced) => {
  if (!isSynced) {
    wasDown = true
    return
  }
  if (!wasDown) return
  wasDown = false
  stored('the post-restart edit', () => doc.getText('text').insert(0, 'after restart: ')).then(() => emit({ event: 'resynced', doc: snapshot(doc) }), fail)
})
// Runs until the test kills it.
setInterval(() => {}, 1 << 30)
