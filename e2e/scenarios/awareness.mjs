// Scenario 4: awareness (presence). A client's state reaches the others
// within a second, updates propagate, a late joiner receives the current
// states from the server, and a client that goes away is removed within a
// second: after provider.destroy() (the provider announces it itself),
// after its TCP connection is torn down without a close frame, and after
// its process is SIGKILLed (in both of those the server must announce the
// removal). The result holds the measured delays in milliseconds.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { args, wsProvider, pkProvider, synced, waitFor, canonical, run } from './lib.mjs'

const limit = args.limitMs ?? 1000

function stateOf (p, clientID) {
  return p.awareness.getStates().get(clientID)
}

// Measures how long until cond holds, failing after limit ms.
async function within (what, cond) {
  const start = Date.now()
  await waitFor(what, cond, limit)
  return Date.now() - start
}

run(async () => {
  const room = args.room
  const a = wsProvider(room)
  const b = wsProvider(room)
  const pk = pkProvider(room)
  await synced(a, 'a')
  await synced(b, 'b')
  await synced(pk, 'partykit client')
  const idA = a.doc.clientID
  const ms = {}

  const stateA = { user: { name: 'Ada', color: '#f00' }, cursor: { anchor: 1, head: 3 } }
  a.awareness.setLocalState(stateA)
  ms.set = await within('b to see a\'s state', () => canonical(stateOf(b, idA)) === canonical(stateA))
  ms.setPartyKit = await within('the partykit client to see a\'s state', () => canonical(stateOf(pk, idA)) === canonical(stateA))

  a.awareness.setLocalStateField('cursor', { anchor: 5, head: 5 })
  ms.update = await within('b to see a\'s cursor move', () => stateOf(b, idA)?.cursor?.anchor === 5)

  // A late joiner gets the states from the server on connect.
  const late = wsProvider(room)
  await synced(late, 'late joiner')
  ms.lateJoiner = await within('the late joiner to see a\'s state', () => stateOf(late, idA)?.cursor?.anchor === 5)
  // (A provider's initial empty state has clock 0, which y-protocols never
  // applies for an unknown client: only a state set afterwards shows.)
  late.awareness.setLocalState({ user: { name: 'Lee' } })
  ms.fromLateJoiner = await within('b to see the late joiner\'s state', () => stateOf(b, late.doc.clientID)?.user?.name === 'Lee')

  // The partykit client's presence reaches a y-websocket client.
  pk.awareness.setLocalState({ user: { name: 'Pat' } })
  ms.fromPartyKit = await within('b to see the partykit client\'s state', () => stateOf(b, pk.doc.clientID)?.user?.name === 'Pat')

  // Orderly: destroy() sends a null state, then closes.
  a.destroy()
  ms.destroy = await within('b to see a removed after destroy()', () => !b.awareness.getStates().has(idA))

  // Abrupt: the socket is destroyed without a close frame. shouldConnect
  // is cleared first so that the provider does not reconnect (and re-add
  // its state).
  const c = wsProvider(room)
  await synced(c, 'c')
  const idC = c.doc.clientID
  c.awareness.setLocalState({ user: { name: 'Cy' } })
  await within('b to see c', () => stateOf(b, idC)?.user?.name === 'Cy')
  c.shouldConnect = false
  c.ws._socket.destroy()
  ms.socketDestroyed = await within('b to see c removed after its socket was destroyed', () => !b.awareness.getStates().has(idC))
  ms.socketDestroyedPartyKit = await within('the partykit client to see c removed', () => !pk.awareness.getStates().has(idC))

  // Abrupt: a client process is SIGKILLed.
  const script = fileURLToPath(new URL('./awareness_child.mjs', import.meta.url))
  const child = spawn(process.execPath, [script, JSON.stringify({ base: args.base, room, name: 'Kit' })], { stdio: ['ignore', 'pipe', 'inherit'] })
  let childOut = ''
  child.stdout.on('data', (d) => { childOut += d })
  let idK
  try {
    await waitFor('the child process to be ready', () => {
      const line = childOut.split('\n').find((l) => l.includes('"ready"'))
      if (line) idK = JSON.parse(line).clientID
      return idK !== undefined
    }, 10000)
    await within('b to see the child\'s state', () => stateOf(b, idK)?.user?.name === 'Kit')
  } finally {
    child.kill('SIGKILL')
  }
  ms.sigkill = await within('b to see the SIGKILLed child removed', () => !b.awareness.getStates().has(idK))

  // What remains: b, the partykit client and the late joiner.
  const remaining = [...b.awareness.getStates().keys()].filter((id) => id !== b.doc.clientID).sort()
  return {
    ms,
    remaining,
    want: [pk.doc.clientID, late.doc.clientID].sort()
  }
})
