// A viewer connected with ?readonly=1 (y-websocket's `params` option)
// follows an editor's text and presence; its own edits never reach the
// server or the editor (collabd answers them with permission-denied).
import { args, run, wsProvider, synced, waitFor, sleep, serverDoc, received } from './lib.mjs'

run(async () => {
  const room = args.room
  const editor = wsProvider(room)
  const viewer = wsProvider(room, undefined, { params: { readonly: '1' } })
  await synced(editor, 'editor')
  await synced(viewer, 'viewer')
  let denied = 0
  viewer.ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string' && new Uint8Array(ev.data)[0] === 2) denied++ // messageAuth
  })
  editor.awareness.setLocalStateField('user', { name: 'editor' })
  editor.doc.getText('text').insert(0, 'written by the editor')
  await waitFor('the viewer to see the editor\'s text', () => viewer.doc.getText('text').toString() === 'written by the editor')
  await waitFor('the viewer to see the editor\'s presence', () =>
    [...viewer.awareness.getStates().values()].some((s) => s.user?.name === 'editor'))
  viewer.doc.getText('text').insert(0, 'VIEWER ')
  await waitFor('permission denied for the viewer\'s edit', () => denied > 0)
  await sleep(200)
  const server = await serverDoc(room)
  return {
    editorText: editor.doc.getText('text').toString(),
    serverText: server.getText('text').toString(),
    denied,
    updatesSeen: received.updates.size
  }
})
