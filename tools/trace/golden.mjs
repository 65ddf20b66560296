// Replays the automerge-paper editing trace (testdata/) as local edits
// in real Yjs and prints SHA-256 digests of every update it emits and of the
// final encoded state. ydoc's trace test checks that collabd's local edits
// produce byte-identical updates. Usage: node tools/trace/golden.mjs > ydoc/testdata/trace-golden.json
import * as Y from 'yjs'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { join } from 'node:path'

const trace = JSON.parse(gunzipSync(readFileSync(join(import.meta.dirname, '..', '..', 'testdata', 'automerge-paper.json.gz'))))
const doc = new Y.Doc()
doc.clientID = 1
const text = doc.getText('text')
const updates = createHash('sha256')
let count = 0
doc.on('update', u => {
  const len = Buffer.alloc(4)
  len.writeUInt32LE(u.length)
  updates.update(len).update(u)
  count++
})
for (const txn of trace.txns) {
  doc.transact(() => {
    for (const [pos, del, ins] of txn.patches) {
      if (del > 0) text.delete(pos, del)
      if (ins !== '') text.insert(pos, ins)
    }
  })
}
if (text.toString() !== trace.endContent) throw new Error('replay does not reach endContent')
const final = createHash('sha256').update(Y.encodeStateAsUpdate(doc)).digest('hex')
console.log(JSON.stringify({ yjs: '13.6.33', updates: count, updatesSHA256: updates.digest('hex'), finalSHA256: final }, null, 2))
