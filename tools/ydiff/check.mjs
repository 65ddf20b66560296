#!/usr/bin/env node
// Live check of what the Go side wrote next to the sessions.
//   node tools/ydiff/check.mjs DIR [--yjs yjs|yjs14]
// For every DIR/X.json with DIR/X.go-state.bin: load the Go-encoded full state
// into a fresh Yjs doc and compare canonical content + state vector with the
// session's "final". If DIR/X.go-sv.bin exists it must decode to the expected
// state vector. Prints one line per divergence and ends with
// "ydiff: N passed, M failed" (exit 1 if M > 0).
// --replay: instead, replay every session's delivered updates in the chosen
// Yjs and compare all checkpoints and the final content (fixture self-check;
// with --yjs yjs14 it checks that Yjs 14 reads Yjs 13 sessions identically).
import fs from 'node:fs'
import path from 'node:path'
import { loadYjs, listSessions, parseArgs, makeReaders, svToObject, stableStringify } from './lib.mjs'

const args = parseArgs(process.argv.slice(2), { verbose: 'bool', replay: 'bool' })
const dir = args._[0]
if (!dir) { console.error('usage: node tools/ydiff/check.mjs DIR [--yjs yjs|yjs14]'); process.exit(2) }
const { Y } = await loadYjs(args.yjs || 'yjs')
const { canonicalContent } = makeReaders(Y)

const short = v => { const s = v === undefined ? 'undefined' : JSON.stringify(v); return s.length > 160 ? s.slice(0, 157) + '...' : s }

// first difference between two JSON values, as "path: want X, got Y"
function firstDiff (want, got, p = '') {
  if (stableStringify(want) === stableStringify(got)) return null
  if (want && got && typeof want === 'object' && typeof got === 'object' && Array.isArray(want) === Array.isArray(got)) {
    if (Array.isArray(want)) {
      for (let i = 0; i < Math.max(want.length, got.length); i++) {
        if (i >= want.length || i >= got.length) return `${p}: length want ${want.length}, got ${got.length}`
        const d = firstDiff(want[i], got[i], `${p}[${i}]`); if (d) return d
      }
    } else {
      for (const k of [...new Set([...Object.keys(want), ...Object.keys(got)])].sort()) {
        if (!(k in got)) return `${p}.${k}: missing (want ${short(want[k])})`
        if (!(k in want)) return `${p}.${k}: unexpected ${short(got[k])}`
        const d = firstDiff(want[k], got[k], `${p}.${k}`); if (d) return d
      }
    }
  }
  return `${p || '(root)'}: want ${short(want)}, got ${short(got)}`
}

let passed = 0; let failed = 0; let skipped = 0
for (const name of listSessions(dir)) {
  const stateFile = path.join(dir, name + '.go-state.bin')
  const svFile = path.join(dir, name + '.go-sv.bin')
  const hasState = !args.replay && fs.existsSync(stateFile); const hasSv = !args.replay && fs.existsSync(svFile)
  if (!hasState && !hasSv && !args.replay) { skipped++; continue }
  const s = JSON.parse(fs.readFileSync(path.join(dir, name + '.json'), 'utf8'))
  const problems = []
  if (args.replay) {
    try {
      const doc = new Y.Doc({ gc: s.gc })
      const cps = new Map(s.checkpoints.map(c => [c.after, c]))
      s.updates.forEach((b, i) => {
        Y.applyUpdate(doc, new Uint8Array(Buffer.from(b, 'base64')))
        const c = cps.get(i + 1)
        if (c) {
          // reading defines the root types; read a copy so that the replay doc
          // keeps undefined roots like the generator's receiver
          const probe = new Y.Doc({ gc: s.gc })
          s.updates.slice(0, i + 1).forEach(x => Y.applyUpdate(probe, new Uint8Array(Buffer.from(x, 'base64'))))
          const d = firstDiff(c.content, canonicalContent(probe, s.roots), `checkpoint@${c.after}.content`) ||
            firstDiff(c.stateVector, svToObject(Y, Y.encodeStateVector(probe)), `checkpoint@${c.after}.stateVector`)
          if (d) problems.push('replay: ' + d)
          probe.destroy()
        }
      })
      const d = firstDiff(s.final.content, canonicalContent(doc, s.roots), 'final.content') ||
        firstDiff(s.final.stateVector, svToObject(Y, Y.encodeStateVector(doc)), 'final.stateVector')
      if (d) problems.push('replay: ' + d)
    } catch (e) {
      problems.push('replay: Yjs threw: ' + String(e && e.message || e).split('\n')[0])
    }
  }
  if (hasState) {
    const doc = new Y.Doc({ gc: s.gc })
    try {
      Y.applyUpdate(doc, new Uint8Array(fs.readFileSync(stateFile)))
      if (doc.store?.pendingStructs || doc.store?.pendingDs) problems.push('go-state: Yjs has pending structs/deletes after applying it (missing dependencies)')
      const sv = svToObject(Y, Y.encodeStateVector(doc))
      const dsv = firstDiff(s.final.stateVector, sv, 'stateVector')
      if (dsv) problems.push('go-state: ' + dsv)
      const content = canonicalContent(doc, s.roots)
      const dc = firstDiff(s.final.content, content, 'content')
      if (dc) problems.push('go-state: ' + dc)
    } catch (e) {
      problems.push('go-state: Yjs failed to apply it: ' + String(e && e.message || e).split('\n')[0])
    }
    doc.destroy()
  }
  if (hasSv) {
    try {
      const sv = svToObject(Y, new Uint8Array(fs.readFileSync(svFile)))
      const d = firstDiff(s.final.stateVector, sv, 'stateVector')
      if (d) problems.push('go-sv: ' + d)
    } catch (e) {
      problems.push('go-sv: Yjs failed to decode it: ' + String(e && e.message || e).split('\n')[0])
    }
  }
  if (problems.length) { failed++; for (const p of problems) console.log(`FAIL ${name}: ${p}`) } else { passed++; if (args.verbose) console.log(`ok   ${name}`) }
}
if (skipped && args.verbose) console.log(`(${skipped} sessions without Go output skipped)`)
console.log(`ydiff: ${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
