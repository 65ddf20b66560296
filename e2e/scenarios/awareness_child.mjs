// A client for the awareness scenario that lives in its own process, so
// that the scenario can SIGKILL it: the TCP connection drops without a
// close frame and without the provider's exit handler running. It prints
// {"ready": true, "clientID": N} once connected with its presence set.
import { args, wsProvider, synced, emit } from './lib.mjs'

const p = wsProvider(args.room)
await synced(p, 'child')
p.awareness.setLocalState({ user: { name: args.name, color: '#0a0' }, cursor: { anchor: 7, head: 9 } })
emit({ ready: true, clientID: p.doc.clientID })
// Keep running until killed.
setInterval(() => {}, 1 << 30)
