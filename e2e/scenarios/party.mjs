// Party scenarios with the stock partysocket client: see party_test.go.
// args.mode picks one; each prints one JSON result line.
import { args, connect, waitFor, until, type, sleep, fail } from './partylib.mjs'

const room = args.room
const modes = {
  // The probe party: ids, query, token user, echo to everyone, binary,
  // storage.
  async probe () {
    const a = connect({ party: 'probe', room, id: 'alice-1', query: { q: 'x', token: args.token } })
    const hello = (await waitFor(a, type('hello'), 'hello')).msg
    const b = connect({ party: 'probe', room, query: { token: args.token } })
    const helloB = (await waitFor(b, type('hello'), 'hello of b')).msg
    a.send('hi there')
    await waitFor(a, (m) => m === 'echo:hi there', 'echo on a')
    await waitFor(b, (m) => m === 'echo:hi there', 'echo on b')
    a.send(new Uint8Array([1, 2, 3]))
    const bin = (await waitFor(a, (m) => m && m.binary, 'binary echo')).msg
    a.send('put:color=blue')
    await waitFor(a, (m) => m === 'stored', 'stored')
    b.send('get:color')
    const got = (await waitFor(b, (m) => typeof m === 'string' && m.startsWith('value:'), 'value')).msg
    // A value over the storage limit (128 KiB) is refused; nothing stored.
    a.send('put:big=' + 'x'.repeat(130 * 1024))
    const tooBig = (await waitFor(a, (m) => typeof m === 'string' && m.startsWith('error:'), 'error for a big value')).msg
    a.close(); b.close()
    return { hello, helloB, binary: bin.binary, value: got, tooBig }
  },

  // A panicking room: its connections are closed with 1011 and
  // partysocket reconnects (same id) to a fresh instance (OnStart again);
  // a connection to another room is not touched.
  async panic () {
    const a = connect({ party: 'probe', room, id: 'victim' })
    const first = (await waitFor(a, type('hello'), 'hello')).msg
    const other = connect({ party: 'probe', room: room + '-other' })
    await waitFor(other, type('hello'), 'hello of the other room')
    a.send('panic')
    await until([a], () => a.closes.length > 0, 'close after panic')
    const again = (await waitFor(a, (m) => m && m.type === 'hello' && m !== first, 'hello after the reconnect')).msg
    other.send('still here')
    await waitFor(other, (m) => m === 'echo:still here', 'echo in the other room')
    a.send('after')
    await waitFor(a, (m) => m === 'echo:after', 'echo after the restart')
    const res = { closeCode: a.closes[0], first, again, otherCloses: other.closes.length }
    a.close(); other.close()
    return res
  },

  // Over the message rate limit: closed with 4429 (partysocket then
  // reconnects, and the room carries on).
  async flood () {
    const a = connect({ party: 'probe', room })
    await waitFor(a, type('hello'), 'hello')
    for (let i = 0; i < 50; i++) a.send('flood ' + i)
    await until([a], () => a.closes.length > 0, 'the close')
    await until([a], () => a.opens >= 2, 'the reconnect')
    a.send('calm')
    await waitFor(a, (m) => m === 'echo:calm', 'echo after the reconnect')
    a.close()
    return { closes: a.closes }
  },

  // Connect, report the hello (starts), optionally set an alarm.
  async hello () {
    const a = connect({ party: 'probe', room })
    const hello = (await waitFor(a, type('hello'), 'hello')).msg
    if (args.alarmMs) {
      a.send('alarm:' + args.alarmMs)
      await waitFor(a, (m) => m === 'alarm-set', 'alarm-set')
    }
    if (args.waitAlarm) await waitFor(a, (m) => m === 'alarm', 'the alarm', 15000)
    if (args.put) {
      a.send('put:' + args.put)
      await waitFor(a, (m) => m === 'stored', 'stored')
    }
    let value = null
    if (args.get) {
      a.send('get:' + args.get)
      value = (await waitFor(a, (m) => typeof m === 'string' && m.startsWith('value:'), 'value')).msg
    }
    a.close()
    return { hello, value }
  },

  // Chat: post args.post messages as args.name, report the history seen
  // on connect, and what came back. With args.reconnect, the socket is
  // closed by the test's server restart in between and reconnects.
  async chat () {
    const a = connect({ party: 'chat', room, query: { name: args.name ?? 'Ada', token: args.token } })
    const history = (await waitFor(a, type('history'), 'history')).msg.messages
    const posted = []
    for (let i = 0; i < (args.post ?? 0); i++) {
      const text = `${args.prefix ?? 'msg'} ${i}`
      a.send(JSON.stringify({ type: 'message', text }))
      posted.push((await waitFor(a, (m) => m && m.type === 'message' && m.message.text === text, 'own message')).msg.message)
    }
    const errors = []
    for (const bad of args.bad ?? []) {
      const before = a.got.length
      a.send(bad)
      errors.push((await waitFor(a, type('error'), 'error for ' + bad, 10000, before)).msg.error)
    }
    a.close()
    return { history, posted, errors }
  },

  // Chat: join and leave notices between two connections, the rate
  // limit, and a read-only connection that may not post.
  async chatpresence () {
    const a = connect({ party: 'chat', room, query: { name: 'Ada' } })
    await waitFor(a, type('history'), 'history')
    const b = connect({ party: 'chat', room, query: { name: 'Bob' } })
    await waitFor(b, type('history'), 'history of b')
    const join = (await waitFor(a, (m) => m && m.type === 'join' && m.name === 'Bob', 'join of Bob')).msg
    const ro = connect({ party: 'chat', room, query: { name: 'Viewer', readonly: '1' } })
    await waitFor(ro, type('history'), 'history of the viewer')
    ro.send(JSON.stringify({ type: 'message', text: 'may I?' }))
    const roErr = (await waitFor(ro, type('error'), 'read-only error')).msg.error
    // 30 posts at once: the burst (10) passes, the rest are refused.
    for (let i = 0; i < 30; i++) b.send(JSON.stringify({ type: 'message', text: 'spam ' + i }))
    await until([b], () => b.got.filter((m) => m && (m.type === 'error' || (m.type === 'message' && m.message.text.startsWith('spam')))).length >= 30, 'answers to 30 posts')
    const accepted = b.got.filter((m) => m && m.type === 'message' && m.message.text.startsWith('spam')).length
    const refused = b.got.filter((m) => m && m.type === 'error').length
    b.close()
    const leave = (await waitFor(a, (m) => m && m.type === 'leave' && m.name === 'Bob', 'leave of Bob')).msg
    a.close(); ro.close()
    return { join, leave, roErr, accepted, refused }
  },

  // Cursors: three clients move, the others see it (never the mover
  // itself), a newcomer gets everyone's, and a dropped client's cursor is
  // removed from the others.
  async cursors () {
    const names = ['a', 'b', 'c']
    const s = names.map((n) => connect({ party: 'cursors', room, id: 'cur-' + n }))
    await until(s, () => s.every((w) => w.got.some(type('sync'))), 'sync')
    s.forEach((w, i) => w.send(JSON.stringify({ type: 'cursor', x: i / 10, y: 0.5, name: names[i], color: '#123456' })))
    for (const [i, w] of s.entries()) {
      for (const [j] of s.entries()) {
        if (i === j) continue
        await waitFor(w, (m) => m && m.type === 'cursor' && m.id === 'cur-' + names[j], `${names[i]} sees ${names[j]}`)
      }
    }
    const echoed = s.some((w, i) => w.got.some((m) => m && m.type === 'cursor' && m.id === 'cur-' + names[i]))
    const late = connect({ party: 'cursors', room, id: 'cur-late' })
    const sync = (await waitFor(late, type('sync'), 'sync of the newcomer')).msg.cursors
    // b drops without a close handshake (its socket is destroyed).
    s[1]._ws._socket.destroy()
    s[1].close()
    const removedA = (await waitFor(s[0], (m) => m && m.type === 'remove' && m.id === 'cur-b', 'removal of b on a')).msg
    await waitFor(late, (m) => m && m.type === 'remove' && m.id === 'cur-b', 'removal of b on the newcomer')
    s[0].send('{"type":"cursor","x":"left"}')
    const bad = (await waitFor(s[0], type('error'), 'error for a bad cursor')).msg.error
    s[0].close(); s[2].close(); late.close()
    return { syncKeys: Object.keys(sync).sort(), echoed, removed: removedA.id, bad }
  }
}

const fn = modes[args.mode]
if (!fn) fail('unknown mode ' + args.mode)
const timer = setTimeout(() => fail('scenario timed out'), args.timeoutMs ?? 60000)
fn().then((res) => {
  clearTimeout(timer)
  console.log(JSON.stringify(res))
  setTimeout(() => process.exit(0), 50)
}, (err) => fail(err.stack ?? String(err)))
