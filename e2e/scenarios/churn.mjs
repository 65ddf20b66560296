// Connection churn for the leak check: `cycles` times, a provider
// (alternately y-websocket and y-partykit) connects, syncs, shows presence
// and is destroyed; every other cycle the socket is dropped without a
// close frame instead. One observer stays connected throughout and must
// see every client removed.
import { args, wsProvider, pkProvider, synced, waitFor, run } from './lib.mjs'

run(async () => {
  const cycles = args.cycles ?? 200
  const observer = wsProvider(args.room)
  await synced(observer, 'observer')
  const start = Date.now()
  for (let i = 0; i < cycles; i++) {
    const p = (i % 2 === 0 ? wsProvider : pkProvider)(args.room)
    await synced(p, `client ${i}`)
    p.awareness.setLocalState({ user: { name: `churn ${i}` } })
    const id = p.doc.clientID
    await waitFor(`the observer to see client ${i}`, () => observer.awareness.getStates().has(id), 2000)
    const sock = p.ws
    if (i % 4 < 2) {
      p.destroy()
    } else {
      p.shouldConnect = false
      sock._socket.destroy()
      p.destroy()
    }
    await waitFor(`client ${i}'s socket to close`, () => sock.readyState === sock.CLOSED, 2000)
    await waitFor(`the observer to see client ${i} removed`, () => !observer.awareness.getStates().has(id), 2000)
  }
  return { cycles, ms: Date.now() - start, observerStates: observer.awareness.getStates().size }
})
