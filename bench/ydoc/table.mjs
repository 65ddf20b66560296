#!/usr/bin/env node
// Reads Go-benchmark-format output of the Go side and the Yjs side and prints
// the comparison table (medians over rounds, Go/Yjs ratio, target, PASS/MISS).
//   node bench/ydoc/table.mjs --go FILE... --yjs FILE...
// Lines look like "BenchmarkName[-P] <iters> <value> <unit> [<value> <unit>]...".
import fs from 'node:fs'

const OPS = [
  // name, metric, target ratio (Go/Yjs)
  ['TraceApplyRemote', 'ns/op', 0.5],
  ['TraceApplyRemote10k', 'ns/op', 0.5],
  ['TraceApplyRemote160k', 'ns/op', 0.5],
  ['LoadFinalState', 'ns/op', 0.5],
  ['EncodeFullState', 'ns/op', 0.5],
  ['EncodeDiff', 'ns/op', 0.5],
  ['ReadText', 'ns/op', 1.0],
  ['MergeUpdates10k', 'ns/op', 0.5],
  ['HeapPerDoc', 'B/doc', 0.5]
]
const SUPERLINEAR_MAX = 1.5

const files = { go: [], yjs: [] }
let side = null
for (const a of process.argv.slice(2)) {
  if (a === '--go') side = 'go'
  else if (a === '--yjs') side = 'yjs'
  else if (side) files[side].push(a)
  else { console.error('usage: node bench/ydoc/table.mjs --go FILE... --yjs FILE...'); process.exit(2) }
}

// results[side][bench][unit] = [values, one per line found]
function parse (paths) {
  const res = {}
  for (const p of paths) {
    let text = ''
    try { text = fs.readFileSync(p, 'utf8') } catch { continue }
    for (const line of text.split('\n')) {
      const m = /^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$/.exec(line.trim())
      if (!m) continue
      const toks = m[3].trim().split(/\s+/)
      const b = (res[m[1]] ||= {})
      for (let i = 0; i + 1 < toks.length; i += 2) {
        const v = Number(toks[i])
        if (!Number.isFinite(v)) break
        ;(b[toks[i + 1]] ||= []).push(v)
      }
    }
  }
  return res
}
const median = xs => {
  if (!xs || xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b); const n = s.length
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}
function fmt (v, unit) {
  if (v === null) return 'missing'
  if (unit === 'ns/op' || unit === 'ns/update') {
    if (v >= 1e9) return (v / 1e9).toFixed(3) + ' s'
    if (v >= 1e6) return (v / 1e6).toFixed(2) + ' ms'
    if (v >= 1e3) return (v / 1e3).toFixed(1) + ' µs'
    return v.toFixed(0) + ' ns'
  }
  if (unit === 'B/doc') {
    if (v >= 1e6) return (v / 1e6).toFixed(2) + ' MB'
    if (v >= 1e3) return (v / 1e3).toFixed(1) + ' kB'
    return v.toFixed(0) + ' B'
  }
  return String(v)
}

const go = parse(files.go)
const yjs = parse(files.yjs)
const rounds = r => Math.max(0, ...Object.values(r).map(b => Math.max(0, ...Object.values(b).map(v => v.length))))

const rows = [['operation', 'metric', 'Go (median)', 'Yjs (median)', 'Go/Yjs', 'target', 'result']]
let misses = 0; let missing = 0
for (const [name, unit, target] of OPS) {
  const g = median(go[name]?.[unit]); const y = median(yjs[name]?.[unit])
  let ratio = '-'; let result
  if (g === null || y === null || y === 0) { result = 'missing'; missing++ } else {
    const r = g / y; ratio = r.toFixed(3)
    result = r <= target ? 'PASS' : 'MISS'
    if (result === 'MISS') misses++
  }
  rows.push([name, unit, fmt(g, unit), fmt(y, unit), ratio, '<= ' + target.toFixed(1), result])
}
const printTable = rs => {
  const w = rs[0].map((_, i) => Math.max(...rs.map(r => String(r[i]).length)))
  for (const [i, r] of rs.entries()) {
    console.log(r.map((c, j) => j === 0 ? String(c).padEnd(w[j]) : String(c).padStart(w[j])).join('  '))
    if (i === 0) console.log(w.map(n => '-'.repeat(n)).join('  '))
  }
}
console.log(`ydoc benchmarks: Go rounds ${rounds(go)}, Yjs rounds ${rounds(yjs)} (medians)`)
printTable(rows)

console.log('')
const sl = [['super-linearity', 'ns/update 10k', 'ns/update 160k', '160k/10k (median per round)', 'target', 'result']]
for (const [label, r] of [['Go', go], ['Yjs', yjs]]) {
  const as = r.TraceApplyRemote10k?.['ns/update']; const bs = r.TraceApplyRemote160k?.['ns/update']
  const a = median(as); const b = median(bs)
  if (a === null || b === null || a === 0) { sl.push([label, fmt(a, 'ns/update'), fmt(b, 'ns/update'), '-', '<= ' + SUPERLINEAR_MAX, 'missing']); continue }
  // per-round ratios (10k and 160k of one round run back to back) are less
  // exposed to machine noise than a ratio of medians; use them when rounds pair up
  const q = as.length === bs.length ? median(as.map((x, i) => bs[i] / x)) : b / a
  sl.push([label, fmt(a, 'ns/update'), fmt(b, 'ns/update'), q.toFixed(3), '<= ' + SUPERLINEAR_MAX, q <= SUPERLINEAR_MAX ? 'PASS' : 'MISS'])
}
printTable(sl)
console.log('')
console.log(`summary: ${OPS.length - misses - missing} PASS, ${misses} MISS, ${missing} missing`)
