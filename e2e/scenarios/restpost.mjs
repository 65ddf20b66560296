// Scenario 9 (the part that needs Yjs): updates POSTed to
// /api/docs/{room}/update, encoded by Yjs, reach live clients of both
// kinds. One is a whole document from another client, one an incremental
// update on top of what the room holds.
import { Y, args, wsProvider, pkProvider, synced, snapshot, waitFor, restJSON, rest, newDoc, run } from './lib.mjs'

async function post (update) {
  return rest(`/api/docs/${encodeURIComponent(args.room)}/update`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: update
  })
}

run(async () => {
  const ws = wsProvider(args.room)
  const pk = pkProvider(args.room)
  await synced(ws, 'y-websocket client')
  await synced(pk, 'y-partykit client')
  ws.doc.getText('text').insert(0, 'live text')
  await waitFor('the partykit client to see the live text', () => pk.doc.getText('text').toString() === 'live text')

  // A whole document from elsewhere.
  const other = newDoc()
  other.getMap('map').set('via', 'rest')
  other.getArray('array').push(['posted'])
  const first = await post(Y.encodeStateAsUpdate(other))
  await waitFor('live clients to receive the first POSTed update', () =>
    [ws, pk].every((p) => p.doc.getMap('map').get('via') === 'rest' && p.doc.getArray('array').get(0) === 'posted'), 2000)

  // An incremental update on top of the room's state, built from
  // GET /api/docs/{room}/update.
  const got = await rest(`/api/docs/${encodeURIComponent(args.room)}/update`)
  const editor = newDoc()
  Y.applyUpdate(editor, got.body)
  const before = Y.encodeStateVector(editor)
  editor.getText('text').insert(4, ' and posted', { bold: true })
  const second = await post(Y.encodeStateAsUpdate(editor, before))
  await waitFor('live clients to receive the incremental POSTed update', () =>
    [ws, pk].every((p) => p.doc.getText('text').toString() === 'live and posted text'), 2000)

  return {
    posts: [first, second].map((r) => ({ status: r.status, type: r.type, body: r.body })),
    ws: snapshot(ws.doc),
    pk: snapshot(pk.doc),
    restJSON: restJSON(ws.doc),
    delta: ws.doc.getText('text').toDelta()
  }
})
