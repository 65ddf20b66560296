// Scenario 6: updates over 1 MB by both routes. A y-websocket client
// inserts ~1.5 MB into one Y.Text in a single frame; a y-partykit client
// inserts ~1.5 MB, which y-partykit sends as a y-pk-batch (text start
// marker, 1,000,000-byte binary chunks, text end marker). Clients of both
// kinds in the same room see both, then keep editing and converge.
import { args, wsProvider, pkProvider, synced, converged, snapshot, waitFor, run } from './lib.mjs'
import { createHash } from 'node:crypto'

function bigString (n, seed) {
  // Printable ASCII from a linear congruential generator: incompressible
  // enough, one byte per character.
  const chars = new Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    chars[i] = String.fromCharCode(33 + (x >>> 16) % 94)
  }
  return chars.join('')
}

const sha = (s) => createHash('sha256').update(s).digest('hex')

run(async () => {
  const size = args.size ?? 1_500_000
  const ws1 = wsProvider(args.room)
  const ws2 = wsProvider(args.room)
  const pk1 = pkProvider(args.room)
  const pk2 = pkProvider(args.room)
  const all = [ws1, ws2, pk1, pk2]
  for (const p of all) await synced(p, p.url)
  const docs = all.map((p) => p.doc)

  // Count the y-pk-batch markers the y-partykit client sends.
  let markers = 0
  const send = pk1.ws.send.bind(pk1.ws)
  pk1.ws.send = (data, ...rest) => {
    if (typeof data === 'string' && data.startsWith('y-pk-batch#')) markers++
    return send(data, ...rest)
  }

  const viaWS = bigString(size, 1)
  const t0 = Date.now()
  ws1.doc.getText('big-ws').insert(0, viaWS)
  await waitFor('every client to receive the y-websocket insert', () => docs.every((d) => d.getText('big-ws').length === size), 20000)
  const wsMs = Date.now() - t0

  const viaPK = bigString(size, 2)
  const t1 = Date.now()
  pk1.doc.getText('big-pk').insert(0, viaPK)
  await waitFor('every client to receive the y-partykit insert', () => docs.every((d) => d.getText('big-pk').length === size), 20000)
  const pkMs = Date.now() - t1

  // Small edits from every client, then convergence.
  all.forEach((p, i) => {
    p.doc.getText('big-ws').insert(i * 1000, `<${i}>`)
    p.doc.getMap('map').set(`client${i}`, i)
  })
  await converged('all four clients', docs, 20000)
  return {
    size,
    markers,
    ms: { ws: wsMs, pk: pkMs },
    hashes: docs.map((d) => ({ ws: sha(d.getText('big-ws').toString()), pk: sha(d.getText('big-pk').toString()) })),
    wantPK: sha(viaPK),
    stateVectors: docs.map((d) => snapshot(d).stateVector),
    maps: docs.map((d) => d.getMap('map').toJSON())
  }
})
