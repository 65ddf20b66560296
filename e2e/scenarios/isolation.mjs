// Scenario 5: rooms are isolated. Clients in rooms whose names are close
// (a prefix, a sub-path, another case) edit and show presence; none of it
// reaches the other rooms, by either route.
import { args, wsProvider, pkProvider, synced, converged, snapshot, waitFor, sleep, run } from './lib.mjs'

run(async () => {
  const base = args.room
  // (No '?' or '#': the stock providers put the room name into the URL
  // unescaped, so 'r?x' would connect to room 'r' by either route.)
  const names = [base, `${base}/sub`, `${base}-sub`, base.toUpperCase(), `${base} ü`]
  const rooms = names.map((name) => {
    const ws = wsProvider(name)
    const pk = pkProvider(name)
    return { name, ws, pk }
  })
  for (const r of rooms) {
    await synced(r.ws, `y-websocket client of ${r.name}`)
    await synced(r.pk, `y-partykit client of ${r.name}`)
  }
  rooms.forEach((r, i) => {
    r.ws.doc.getText('text').insert(0, `only in ${r.name}`)
    r.ws.doc.getMap('map').set('room', r.name)
    r.pk.doc.getArray('array').push([i])
    r.ws.awareness.setLocalState({ user: { name: `user of ${r.name}` } })
  })
  for (const r of rooms) {
    await converged(`the clients of ${r.name}`, [r.ws.doc, r.pk.doc])
    await waitFor(`presence in ${r.name}`, () => r.pk.awareness.getStates().has(r.ws.doc.clientID), 2000)
  }
  await sleep(300) // time for anything misrouted to arrive
  return {
    rooms: rooms.map((r) => ({
      name: r.name,
      ws: snapshot(r.ws.doc),
      pk: snapshot(r.pk.doc),
      presence: [...r.pk.awareness.getStates().values()].map((s) => s.user?.name).filter(Boolean).sort()
    }))
  }
})
