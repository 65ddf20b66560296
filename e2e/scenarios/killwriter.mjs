// The writer of the SIGKILL test: it appends items to Y.Array "log" as
// fast as it can, one transaction (one update, one frame) per item, and
// watches the frames collabd sends back. collabd relays an update to every
// connection, the sender included, only after storing it, so an update the
// writer has seen come back is one collabd has stored. It prints progress
// lines ({"event":"progress","echoed":N}); when the connection drops (the
// Go test SIGKILLs collabd) it prints {"event":"final","echoed":[...],
// "sent":N} and exits.
import { WebSocket, args, wsProvider, synced, parseFrame, emit } from './lib.mjs'

const sentByUpdate = new Map() // base64 of an update -> item number
const echoed = new Set()

// A WebSocket that lets us see every frame the provider receives.
class TapWebSocket extends WebSocket {
  constructor (...a) {
    super(...a)
    this.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') return
      const m = parseFrame(ev.data)
      if (m.type !== 0 || m.sub !== 2) return
      const i = sentByUpdate.get(Buffer.from(m.payload).toString('base64'))
      if (i !== undefined) echoed.add(i)
    })
  }
}

const p = wsProvider(args.room, undefined, { WebSocketPolyfill: TapWebSocket })
const doc = p.doc
const log = doc.getArray('log')
doc.on('update', (update, origin) => {
  if (origin !== p) sentByUpdate.set(Buffer.from(update).toString('base64'), sent)
})

let sent = 0
let done = false
let timer
let lastReport = 0
p.on('connection-close', () => {
  if (done) return
  done = true
  clearInterval(timer)
  emit({ event: 'final', echoed: [...echoed].sort((a, b) => a - b), sent })
  process.exit(0)
})

await synced(p, 'writer')
timer = setInterval(() => {
  for (let k = 0; k < (args.perTick ?? 4); k++) {
    log.push([`w-${sent}`])
    sent++
  }
  if (echoed.size - lastReport >= 50) {
    lastReport = echoed.size
    emit({ event: 'progress', echoed: echoed.size, sent })
  }
}, 1)
