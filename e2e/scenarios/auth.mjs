// Access control with the stock providers: tokens in y-websocket's `params`
// and y-partykit's `params` (both become ?token=), a token for another room
// on both routes, a read token, a forged presence state, and a token that
// expires mid-session and is renewed.
import { args, run, wsProvider, pkProvider, synced, waitFor, sleep, echoOf, rest, rawSocket, encoding } from './lib.mjs'

const b64 = (u8) => Buffer.from(u8).toString('base64')

/** An awareness frame setting client id's state (null: removing it). */
function awarenessFrame (id, clock, state) {
  const inner = encoding.createEncoder()
  encoding.writeVarUint(inner, 1)
  encoding.writeVarUint(inner, id)
  encoding.writeVarUint(inner, clock)
  encoding.writeVarString(inner, JSON.stringify(state))
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner))
  return encoding.toUint8Array(e)
}

run(async () => {
  const room = args.room
  const out = {}

  const writer = wsProvider(room, undefined, { params: { token: args.writeToken } })
  await synced(writer, 'writer')
  writer.awareness.setLocalStateField('user', { name: 'writer' })
  await echoOf(writer, () => writer.doc.getText('text').insert(0, 'hello'))
  const party = pkProvider(room, undefined, { params: { token: args.writeToken } })
  await synced(party, 'y-partykit provider')
  await waitFor('the y-partykit provider to see the text', () => party.doc.getText('text').toString() === 'hello')
  await waitFor('the y-partykit provider to see the writer', () => party.awareness.getStates().get(writer.doc.clientID)?.user?.name === 'writer')

  // Tokens for another room, on both routes: never connected, never synced.
  const intruders = [
    wsProvider(room, undefined, { params: { token: args.otherRoomToken } }),
    pkProvider(room, undefined, { params: { token: args.otherRoomToken } }),
    wsProvider(room, undefined, { params: {} }),
    pkProvider(room)
  ]
  await sleep(1500)
  out.intruders = intruders.map((p) => ({ synced: p.synced, connected: p.wsconnected, text: p.doc.getText('text').toString() }))
  for (const p of intruders) p.destroy()

  // A read token: syncs and shows presence, its edit is refused.
  const before = await rest(`/api/docs/${encodeURIComponent(room)}/update`)
  const reader = wsProvider(room, undefined, { params: { token: args.readToken } })
  await synced(reader, 'reader')
  let denied = 0
  let deniedReason = ''
  reader.ws.addEventListener('message', (ev) => {
    const b = new Uint8Array(ev.data)
    if (b[0] === 2) { denied++; deniedReason = Buffer.from(b.subarray(3)).toString() }
  })
  reader.awareness.setLocalStateField('user', { name: 'reader' })
  await waitFor('the writer to see the reader', () => writer.awareness.getStates().get(reader.doc.clientID)?.user?.name === 'reader')
  reader.doc.getText('text').insert(0, 'READER ')
  await waitFor('permission-denied for the reader\'s edit', () => denied > 0)
  await sleep(300)
  const after = await rest(`/api/docs/${encodeURIComponent(room)}/update`)
  out.read = { before: b64(before.body), after: b64(after.body), status: after.status, denied, deniedReason, writerText: writer.doc.getText('text').toString() }

  // Mallory (another user) holds a valid write token and forges the writer's cursor,
  // then its removal.
  const mallory = await rawSocket(`/ws/${encodeURIComponent(room)}?token=${args.malloryToken}`)
  const clock = writer.awareness.meta.get(writer.doc.clientID).clock
  mallory.send(awarenessFrame(writer.doc.clientID, clock + 10, { user: { name: 'forged' } }))
  mallory.send(awarenessFrame(writer.doc.clientID, clock + 11, null))
  mallory.send(awarenessFrame(4242, 1, { user: { name: 'mallory' } }))
  await waitFor('the y-partykit provider to see mallory', () => party.awareness.getStates().get(4242)?.user?.name === 'mallory')
  await sleep(200)
  out.spoof = { writerAsSeen: party.awareness.getStates().get(writer.doc.clientID)?.user?.name ?? null }
  mallory.close()

  // A token that expires while connected: closed with 4401, which
  // y-websocket treats as final; the app renews the token and reconnects.
  const exp = wsProvider(room, undefined, { params: { token: args.shortToken } })
  await synced(exp, 'short-lived provider')
  const closes = []
  exp.on('connection-close', (ev) => closes.push(ev?.code))
  exp.on('closed', ({ code }) => {
    if (code === 4401) {
      exp.params.token = args.freshToken
      exp.connect()
    }
  })
  await waitFor('the expiry close', () => closes.includes(4401), 20000)
  await waitFor('the provider to resync with a fresh token', () => exp.wsconnected && exp.synced, 5000)
  await echoOf(exp, () => exp.doc.getText('text').insert(0, 'renewed '))
  await waitFor('the writer to see the renewed edit', () => writer.doc.getText('text').toString().startsWith('renewed '))
  out.expiry = { closes, text: writer.doc.getText('text').toString() }
  return out
})
