#!/usr/bin/env node
// Reports which struct and content kinds a session corpus exercises.
//   node tools/ydiff/coverage.mjs DIR [--yjs yjs|yjs14]
import fs from 'node:fs'
import path from 'node:path'
import { loadYjs, listSessions, parseArgs, unb64 } from './lib.mjs'

const args = parseArgs(process.argv.slice(2), {})
const dir = args._[0]
if (!dir) { console.error('usage: node tools/ydiff/coverage.mjs DIR'); process.exit(2) }
const { Y } = await loadYjs(args.yjs || 'yjs')
const count = {}
const sessionsWith = {}
const inc = (k, sess) => { count[k] = (count[k] || 0) + 1; (sessionsWith[k] ||= new Set()).add(sess) }
for (const name of listSessions(dir)) {
  const s = JSON.parse(fs.readFileSync(path.join(dir, name + '.json'), 'utf8'))
  for (const b of [...s.updates, s.final.state]) {
    const { structs, ds } = Y.decodeUpdate(unb64(b))
    for (const st of structs) {
      const sk = st.constructor.name
      if (sk !== 'Item') { inc('struct:' + sk, name); continue }
      inc('struct:Item', name)
      const c = st.content
      const ck = c.constructor.name
      if (ck === 'ContentType') inc('ContentType:' + c.type.constructor.name, name)
      else inc(ck, name)
      if (ck === 'ContentString' && /\uFFFD/.test(c.str)) inc('string-with-U+FFFD', name)
      if (ck === 'ContentString' && /[\uD800-\uDFFF]/.test(c.str)) inc('string-with-surrogate-pair', name)
      if (st.parentSub !== null && st.parentSub !== undefined) inc('item-with-parentSub', name)
    }
    if (ds.clients.size > 0) inc('deleteSet', name)
  }
}
const keys = Object.keys(count).sort()
for (const k of keys) console.log(`${k.padEnd(32)} ${String(count[k]).padStart(8)} structs in ${sessionsWith[k].size} sessions`)
