// Turns a delivery list (v1 updates) into a session file object: applies the
// list to a fresh receiver, records checkpoints and the final state.
import { b64, svToObject, makeReaders, stableStringify } from './lib.mjs'

// YDIFF_VERIFY=1: compare the canonical renderings with Yjs' own toString/toJSON
// on the receiver and count differences (only meaningful with Yjs 13).
export const verifyStats = { roots: 0, xmlToStringDiffers: 0, toJSONDiffers: 0, examples: [], referenceDiverged: [], sessions: 0, withPendingStructs: 0, withPendingDs: 0 }

function verifyAgainstYjs (Y, doc, roots, content) {
  const { canon } = makeReaders(Y)
  for (const [name, kind] of Object.entries(roots)) {
    verifyStats.roots++
    if (kind === 'xml') {
      const yjs = doc.getXmlFragment(name).toString()
      if (yjs !== content[name].json) { verifyStats.xmlToStringDiffers++; if (verifyStats.examples.length < 5) verifyStats.examples.push([yjs, content[name].json]) }
    } else if (kind === 'map' || kind === 'array') {
      const t = kind === 'map' ? doc.getMap(name) : doc.getArray(name)
      const yjs = stableStringify(JSON.parse(JSON.stringify(t.toJSON(), function (k, v) {
        if (this[k] instanceof Y.Doc) return { guid: this[k].guid }
        if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
        return v
      })))
      if (yjs !== stableStringify(content[name].json)) { verifyStats.toJSONDiffers++; if (verifyStats.examples.length < 5) verifyStats.examples.push([yjs, stableStringify(content[name].json)]) }
    }
  }
}

export const RECEIVER_CLIENT_ID = 4294967295 // never used by a generated client

function freshDoc (Y, gc) {
  const d = new Y.Doc({ gc })
  d.clientID = RECEIVER_CLIENT_ID
  return d
}

function hasPending (doc) {
  const s = doc.store
  if (!s) return false
  return (s.pendingStructs != null) || (s.pendingDs != null)
}

// True if two delivered updates carry different characters for the same
// struct ID. That happens when one replica split a surrogate pair (both halves
// become U+FFFD) and re-encoded the item (re-emitted remote update, merged,
// diff or full-state update) while the original update still has the pair.
// Whichever copy a receiver integrates first wins, so content depends on the
// delivery order -- deterministic, but not order-independent.
export function hasConflictingCopies (Y, updates) {
  const seen = new Map()
  for (const u of updates) {
    for (const st of Y.decodeUpdate(u).structs) {
      const str = st.content?.str
      if (typeof str !== 'string') continue
      for (let k = 0; k < str.length; k++) {
        const key = st.id.client + ':' + (st.id.clock + k)
        const c = str.charCodeAt(k)
        const prev = seen.get(key)
        if (prev === undefined) seen.set(key, c); else if (prev !== c) return true
      }
    }
  }
  return false
}

/**
 * @param {object} o
 * @param {any} o.Y
 * @param {string} o.version
 * @param {string} o.name
 * @param {number|null} o.seed
 * @param {boolean} o.gc receiver gc
 * @param {Object<string,string>} o.roots
 * @param {Uint8Array[]} o.updates delivery list
 * @param {number[]} o.checkpointsAt values of K (0 < K < updates.length)
 * @param {Uint8Array[]} [o.reference] optional list that must lead to the same content
 * @param {object} [o.extra] extra top-level fields
 */
// The message of sessions that gen.mjs leaves out (see buildSession).
export const PENDING_AT_END = 'receiver still has pending structs/deletes at the end'

export function buildSession ({ Y, version, name, seed, gc, roots, updates, checkpointsAt, reference, referenceMayDiverge, extra }) {
  const { canonicalContent } = makeReaders(Y)
  const checkpoints = []
  for (const K of [...new Set(checkpointsAt)].sort((a, b) => a - b)) {
    if (!(K > 0 && K < updates.length)) continue
    const d = freshDoc(Y, gc)
    for (let i = 0; i < K; i++) Y.applyUpdate(d, updates[i])
    // state: the receiver's own deletions so far (formatting cleanup)
    // differ from the final state's, see ydoc's runSession.
    checkpoints.push({ after: K, stateVector: svToObject(Y, Y.encodeStateVector(d)), content: canonicalContent(d, roots), state: b64(Y.encodeStateAsUpdate(d)) })
    d.destroy()
  }
  const r = freshDoc(Y, gc)
  let ps = false; let pds = false
  for (const u of updates) {
    Y.applyUpdate(r, u)
    if (r.store?.pendingStructs) ps = true
    if (r.store?.pendingDs) pds = true
  }
  verifyStats.sessions++; if (ps) verifyStats.withPendingStructs++; if (pds) verifyStats.withPendingDs++
  // Yjs 13 sometimes keeps structs pending although everything they need
  // has arrived (it retries pending structs only when a missing clock
  // advanced); such a receiver's own encoded state then loads into
  // different content, so the session has no single expected result.
  if (hasPending(r)) throw new Error(`${name}: ${PENDING_AT_END}`)
  const svBytes = Y.encodeStateVector(r)
  const final = {
    stateVector: svToObject(Y, svBytes),
    content: canonicalContent(r, roots),
    state: b64(Y.encodeStateAsUpdate(r)),
    stateVectorBytes: b64(svBytes)
  }
  if (process.env.YDIFF_VERIFY) verifyAgainstYjs(Y, r, roots, final.content)
  if (reference) {
    const ref = freshDoc(Y, true)
    for (const u of reference) Y.applyUpdate(ref, u)
    const a = stableStringify(canonicalContent(ref, roots))
    const b = stableStringify(final.content)
    // Yjs does not converge when the same struct ID arrives with different
    // characters (see hasConflictingCopies), and Yjs 13's receivers also
    // delete formatting they find redundant after remote changes
    // (cleanupYTextAfterTransaction), which depends on the order updates
    // arrive in. Such sessions are kept: the fixture records what Yjs does
    // for this delivery order, which the Go side must reproduce.
    if (a !== b) verifyStats.referenceDiverged.push(name)
    if (stableStringify(svToObject(Y, Y.encodeStateVector(ref))) !== stableStringify(final.stateVector)) throw new Error(`${name}: state vector differs from reference`)
    ref.destroy()
  }
  // Loading the final state into a fresh doc must give the same content (sanity).
  const l = freshDoc(Y, gc)
  Y.applyUpdate(l, Y.encodeStateAsUpdate(r))
  if (stableStringify(canonicalContent(l, roots)) !== stableStringify(final.content)) throw new Error(`${name}: final state does not round-trip`)
  l.destroy(); r.destroy()
  return {
    name,
    seed,
    yjs: version,
    gc,
    roots,
    ...(extra || {}),
    updates: updates.map(b64),
    checkpoints,
    final
  }
}
