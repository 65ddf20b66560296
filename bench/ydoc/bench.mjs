#!/usr/bin/env node
// Yjs side of the ydoc benchmarks, on the automerge-paper editing trace.
//   node --expose-gc bench/ydoc/bench.mjs [--filter RE] [--count K] [--benchtime SECONDS] [--yjs yjs|yjs14]
// Prints Go-benchmark-format lines ("BenchmarkName <iters> <ns/op> ns/op [<v> <unit>]...")
// with the same names as the Go benchmarks in ./ydoc, so one parser reads both.
// Without --count every benchmark runs (after warm-up) until at least
// --benchtime seconds (default 1) have been measured; --count K runs exactly K
// timed iterations.
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { fileURLToPath } from 'node:url'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

function parseArgs (argv) {
  const o = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new Error('unexpected argument ' + a)
    o[a.slice(2)] = argv[++i]
    if (o[a.slice(2)] === undefined) throw new Error('missing value for ' + a)
  }
  return o
}
const args = parseArgs(process.argv.slice(2))
const filter = args.filter ? new RegExp(args.filter) : null
const fixedCount = args.count ? Number(args.count) : 0
const benchtimeNs = BigInt(Math.round(Number(args.benchtime ?? 1) * 1e9))
const which = args.yjs ?? 'yjs'
const Y = await import(which)

if (typeof global.gc !== 'function') {
  console.error('bench.mjs: run with node --expose-gc (needed for BenchmarkHeapPerDoc and between benchmarks)')
  process.exit(2)
}

// ---------- trace ----------
function traceFile () {
  // The repository's copy, the one ydoc's trace tests read.
  return path.join(repoRoot, 'testdata', 'automerge-paper.json.gz')
}

const log = (...a) => console.error('#', ...a)
const t0 = Date.now()
const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(traceFile())).toString('utf8'))
const patches = trace.txns.flatMap(t => t.patches)
const N = patches.length
const HALF = Math.floor(N / 2) // 129,889 for the 259,778-patch trace
const CHECK_AT = new Set([10000, 160000, HALF, N])

// 1. The trace itself must replay to endContent (positions in Unicode code points).
const expectedAt = new Map()
{
  let doc = [...trace.startContent]
  let i = 0
  for (const [pos, del, ins] of patches) {
    doc.splice(pos, del, ...ins)
    i++
    if (CHECK_AT.has(i)) expectedAt.set(i, doc.join(''))
  }
  if (doc.join('') !== trace.endContent) throw new Error('trace does not replay to endContent')
  doc = null
}
// Yjs positions are UTF-16 code units; the trace has no astral characters, so they coincide.
if (/[\uD800-\uDFFF]/.test(trace.endContent) || patches.some(p => /[\uD800-\uDFFF]/.test(p[2]))) {
  throw new Error('trace contains astral characters: convert code-point positions to UTF-16 offsets first')
}

// 2. Replay as local edits (clientID 1, one transaction per patch), capturing v1 updates.
const updates = []
const src = new Y.Doc()
src.clientID = 1
src.on('update', u => updates.push(u))
const stext = src.getText('text')
for (const [pos, del, ins] of patches) {
  src.transact(() => {
    if (del > 0) stext.delete(pos, del)
    if (ins.length > 0) stext.insert(pos, ins)
  })
}
if (updates.length !== N) throw new Error(`expected ${N} updates, got ${updates.length}`)
if (stext.toString() !== trace.endContent) throw new Error('traced Y.Doc does not match endContent')
const finalState = Y.encodeStateAsUpdate(src)
src.destroy()

let halfSV
{
  const d = new Y.Doc()
  for (let i = 0; i < HALF; i++) Y.applyUpdate(d, updates[i])
  if (d.getText('text').toString() !== expectedAt.get(HALF)) throw new Error('half-trace doc mismatch')
  halfSV = Y.encodeStateVector(d)
  d.destroy()
}
log(`yjs ${JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', which, 'package.json'), 'utf8')).version}, node ${process.version}; trace: ${N} updates (${updates.reduce((a, u) => a + u.length, 0)} bytes), final state ${finalState.length} bytes; prepared in ${((Date.now() - t0) / 1000).toFixed(1)} s`)

// ---------- harness ----------
let sink = 0
const now = () => process.hrtime.bigint()

function run (name, fn, { extra, setup } = {}) {
  if (filter && !filter.test(name)) return
  global.gc()
  const state = setup ? setup() : undefined
  // warm-up: at least one call, and up to ~0.3 s
  const wStart = now()
  do fn(state); while (now() - wStart < 300_000_000n && !fixedCount)
  global.gc()
  let iters = 0
  let elapsed = 0n
  while (true) {
    const s = now()
    fn(state)
    elapsed += now() - s
    iters++
    if (fixedCount ? iters >= fixedCount : elapsed >= benchtimeNs) break
  }
  const nsPerOp = Number(elapsed) / iters
  let line = `${name} ${iters} ${nsPerOp.toFixed(0)} ns/op`
  if (extra) for (const [v, unit] of extra(nsPerOp)) line += ` ${v} ${unit}`
  console.log(line)
}

function applyN (n) {
  const expected = expectedAt.get(n)
  let checked = false
  return () => {
    const d = new Y.Doc()
    for (let i = 0; i < n; i++) Y.applyUpdate(d, updates[i])
    if (!checked) { // outside of the measured loop on the first (warm-up) call only
      checked = true
      if (d.getText('text').toString() !== expected) throw new Error(`apply of ${n} updates gives wrong text`)
    }
    sink += d.store.clients.size
    d.destroy()
  }
}
const perUpdate = n => ns => [[(ns / n).toFixed(2), 'ns/update']]

run('BenchmarkTraceApplyRemote', applyN(N), { extra: perUpdate(N) })
run('BenchmarkTraceApplyRemote10k', applyN(10000), { extra: perUpdate(10000) })
run('BenchmarkTraceApplyRemote160k', applyN(160000), { extra: perUpdate(160000) })

run('BenchmarkLoadFinalState', () => {
  const d = new Y.Doc()
  Y.applyUpdate(d, finalState)
  sink += d.store.clients.size
  d.destroy()
})

let loaded = null
const getLoaded = () => {
  if (!loaded) {
    loaded = new Y.Doc()
    Y.applyUpdate(loaded, finalState)
    if (loaded.getText('text').toString() !== trace.endContent) throw new Error('loaded final state mismatch')
  }
  return loaded
}

run('BenchmarkEncodeFullState', d => { sink += Y.encodeStateAsUpdate(d).length }, { setup: getLoaded })
run('BenchmarkEncodeDiff', d => { sink += Y.encodeStateAsUpdate(d, halfSV).length }, { setup: getLoaded })
// toString builds a rope (V8 cons string); reading a character flattens it
// into the contiguous string a caller needs (to send or store it), which is
// what the Go side's String returns.
run('BenchmarkReadText', d => { const s = d.getText('text').toString(); sink += s.charCodeAt(s.length >> 1) }, { setup: getLoaded })

const first10k = updates.slice(0, 10000)
run('BenchmarkMergeUpdates10k', () => { sink += Y.mergeUpdates(first10k).length })

if (!filter || filter.test('BenchmarkHeapPerDoc')) {
  const n = 20
  loaded = null
  global.gc(); global.gc()
  const before = process.memoryUsage().heapUsed
  const docs = []
  for (let i = 0; i < n; i++) {
    const d = new Y.Doc()
    Y.applyUpdate(d, finalState)
    docs.push(d)
  }
  global.gc(); global.gc()
  const after = process.memoryUsage().heapUsed
  sink += docs.length
  console.log(`BenchmarkHeapPerDoc 1 0 ns/op ${Math.round((after - before) / n)} B/doc`)
}
if (sink === 0.5) console.log('') // keep results observable
log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`)
