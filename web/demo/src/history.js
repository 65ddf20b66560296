// The history panel: the note's versions from collabd's REST API, a
// read-only preview of any of them (its Yjs update applied to a fresh
// Y.Doc and rendered by a second, non-editable editor), restore, "save a
// version now" and downloads (links to the REST export).
import * as Y from 'yjs'
import { createPreview } from './editor.js'

const triggerLabels = {
  current: 'now',
  interval: 'auto',
  manual: 'saved',
  hibernate: 'idle',
  threshold: 'auto',
  restore: 'restored'
}

function formatSize (bytes) {
  if (bytes < 1000) return `${bytes} B`
  if (bytes < 1000 * 1000) return `${(bytes / 1000).toFixed(1)} kB`
  return `${(bytes / 1000 / 1000).toFixed(1)} MB`
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
const sameDayFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })

function formatTime (date) {
  return date.toDateString() === new Date().toDateString() ? `Today ${sameDayFormat.format(date)}` : timeFormat.format(date)
}

// A name for downloaded files: the room name without characters that
// file systems dislike.
const fileStem = (room) => room.replace(/[^\w.-]+/g, '_').slice(0, 80) || 'note'

async function errorOf (res) {
  try {
    const body = await res.json()
    if (body && body.error) return `${body.error} (${res.status})`
  } catch {}
  return `HTTP ${res.status}`
}

// setupHistory wires the panel. api is the note's REST base
// (…/api/docs/{room}); fragmentName the Y.XmlFragment the editor uses.
// token, if set, is sent with every request. hasContent tells whether the note has been written to at all: collabd
// knows no history (404) for a note nobody wrote, and the panel does not
// ask.
export function setupHistory ({ room, api, token, fragmentName, hasContent, toast }) {
  const $ = (id) => document.getElementById(id)
  // With access control on, every request carries the page's token (as
  // ?token=, so that download links work too).
  const q = (url) => token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url
  const panel = $('history')
  const toggle = $('history-toggle')
  const list = $('versions')
  const empty = $('versions-empty')
  const dialog = $('preview')
  const previewPlace = $('preview-editor')
  let previewView = null
  let previewID = null
  let timer = null
  let queue = Promise.resolve()

  $('export-json').href = q(api)
  $('export-json').download = `${fileStem(room)}.json`
  $('export-update').href = q(`${api}/update`)
  $('export-update').download = `${fileStem(room)}.ydoc`

  const download = (id, format, ext, label) => {
    const a = document.createElement('a')
    a.href = q(`${api}/history/${id}?format=${format}`)
    a.download = `${fileStem(room)}-v${id}.${ext}`
    a.textContent = label
    a.dataset.format = format
    return a
  }

  const button = (text, act, id) => {
    const b = document.createElement('button')
    b.type = 'button'
    b.textContent = text
    b.dataset.act = act
    b.dataset.version = String(id)
    return b
  }

  const render = (versions) => {
    // The current state (id 0) heads the list, then versions newest first.
    versions.sort((a, b) => (Number(!!b.current) - Number(!!a.current)) || b.id - a.id)
    empty.hidden = versions.length > 0
    list.replaceChildren(...versions.map(v => {
      const li = document.createElement('li')
      li.className = v.current ? 'version current' : 'version'
      li.dataset.version = String(v.id)
      li.dataset.trigger = v.trigger

      const head = document.createElement('div')
      head.className = 'version-head'
      const num = document.createElement('span')
      num.className = 'version-id'
      num.textContent = v.current ? 'Current' : `#${v.id}`
      const time = document.createElement('time')
      const created = new Date(v.created)
      time.dateTime = created.toISOString()
      time.textContent = formatTime(created)
      const trigger = document.createElement('span')
      trigger.className = `trigger trigger-${String(v.trigger).replace(/\W/g, '')}`
      trigger.textContent = triggerLabels[v.trigger] || v.trigger
      trigger.title = `Trigger: ${v.trigger}`
      const size = document.createElement('span')
      size.className = 'version-size'
      size.textContent = formatSize(v.size)
      size.title = `${v.size} bytes as a Yjs update`
      head.append(num, time, trigger, size)

      const actions = document.createElement('div')
      actions.className = 'version-actions'
      const downloads = document.createElement('span')
      downloads.className = 'downloads'
      downloads.append('Download ', download(v.id, 'json', 'json', 'JSON'), ' ', download(v.id, 'text', 'txt', 'Text'), ' ', download(v.id, 'update', 'ydoc', 'Yjs'))
      // The current state can be previewed and downloaded; restoring it
      // would change nothing.
      actions.append(button('Preview', 'preview', v.id), ...(v.current ? [] : [button('Restore', 'restore', v.id)]), downloads)
      li.append(head, actions)
      return li
    }))
  }

  const fetchVersions = async () => {
    try {
      if (!hasContent()) {
        render([])
        return
      }
      const res = await fetch(q(`${api}/history`), { cache: 'no-store' })
      if (res.status === 404) {
        render([]) // nothing written to this note yet
        return
      }
      if (!res.ok) throw new Error(await errorOf(res))
      const body = await res.json()
      render(Array.isArray(body.versions) ? body.versions : [])
    } catch (err) {
      toast(`Could not load the history: ${err.message}`, 'error')
    }
  }

  // load refreshes the list, after any refresh under way (so that a
  // refresh after a change never returns an older list).
  const load = () => {
    queue = queue.then(fetchVersions)
    return queue
  }

  const open = (yes) => {
    panel.hidden = !yes
    toggle.setAttribute('aria-expanded', String(yes))
    document.body.classList.toggle('history-open', yes)
    clearInterval(timer)
    if (yes) {
      load()
      // Versions also appear as the note is edited (every few minutes),
      // when it goes idle, or when someone else saves.
      timer = setInterval(load, 15000)
    }
  }

  const post = async (path) => {
    const res = await fetch(q(`${api}${path}`), { method: 'POST' })
    if (!res.ok) throw new Error(await errorOf(res))
    return res.json()
  }

  const saveVersion = async () => {
    if (!hasContent()) throw new Error('Nothing to save yet: write something first')
    const v = await post('/history')
    await load()
    return v
  }

  const restore = async (id) => {
    // Keep what is there now as a version of its own first.
    try {
      await post('/history')
    } catch {
      // Nothing to keep (an empty note): restore anyway.
    }
    await post(`/history/${id}/restore`)
    await load()
    toast(`Restored version #${id}`)
  }

  const closePreview = () => {
    if (previewView) {
      previewView.destroy()
      previewView = null
    }
    previewPlace.replaceChildren()
    previewID = null
    if (dialog.open) dialog.close()
  }

  const preview = async (id) => {
    const res = await fetch(q(`${api}/history/${id}?format=update`))
    if (!res.ok) throw new Error(await errorOf(res))
    const update = new Uint8Array(await res.arrayBuffer())
    const doc = new Y.Doc()
    Y.applyUpdate(doc, update)
    closePreview()
    previewID = id
    const created = res.headers.get('X-Collabd-Version-Created')
    const trigger = res.headers.get('X-Collabd-Version-Trigger')
    $('preview-title').textContent = `Version #${id}` + (created ? ` · ${formatTime(new Date(created))}` : '')
    dialog.dataset.version = String(id)
    dialog.dataset.trigger = trigger || ''
    previewView = createPreview({ place: previewPlace, fragment: doc.getXmlFragment(fragmentName) })
    doc.destroy()
    dialog.showModal()
  }

  // Restore asks for a second click, so that a stray tap changes nothing.
  let armed = null
  const confirmRestore = (b, id) => {
    if (armed && armed.b === b) {
      clearTimeout(armed.timer)
      armed = null
      return true
    }
    if (armed) {
      clearTimeout(armed.timer)
      armed.b.textContent = 'Restore'
      armed.b.classList.remove('armed')
    }
    b.textContent = 'Confirm restore'
    b.classList.add('armed')
    armed = {
      b,
      timer: setTimeout(() => {
        b.textContent = 'Restore'
        b.classList.remove('armed')
        armed = null
      }, 5000)
    }
    return false
  }

  const busy = async (b, fn) => {
    b.disabled = true
    try {
      await fn()
    } catch (err) {
      toast(err.message, 'error')
    } finally {
      b.disabled = false
    }
  }

  toggle.addEventListener('click', () => open(panel.hidden))
  $('history-close').addEventListener('click', () => open(false))
  $('history-refresh').addEventListener('click', () => load())
  $('save-version').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    const v = await saveVersion()
    toast(`Saved version #${v.id}`)
  }))
  list.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]')
    if (!b) return
    const id = Number(b.dataset.version)
    if (b.dataset.act === 'preview') busy(b, () => preview(id))
    if (b.dataset.act === 'restore' && confirmRestore(b, id)) busy(b, () => restore(id))
  })
  $('preview-close').addEventListener('click', closePreview)
  dialog.addEventListener('close', closePreview)
  $('preview-restore').addEventListener('click', (e) => {
    const id = previewID
    if (id == null) return
    busy(e.currentTarget, async () => {
      await restore(id)
      closePreview()
    })
  })
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) closePreview() // a click on the backdrop
  })
}
