// collabd notes: a collaborative rich-text editor on a collabd server.
//
// The note is the room named by ?room= (a random one when missing), synced
// with the stock y-websocket provider over /ws/{room} on the page's own
// origin. The document lives in the Y.XmlFragment "prosemirror", which is
// what collabd's REST export and text download read.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { createEditor } from './editor.js'
import { setupPresence } from './presence.js'
import { setupHistory } from './history.js'

const fragmentName = 'prosemirror'
const $ = (id) => document.getElementById(id)

// A new room name: "note-" and 12 random base-32 characters.
function randomRoom () {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789'
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return 'note-' + Array.from(bytes, b => alphabet[b % alphabet.length]).join('')
}

// The room names collabd accepts: 1 to 256 bytes of UTF-8 without control
// characters.
function validRoom (name) {
  // eslint-disable-next-line no-control-regex
  return name.length > 0 && new TextEncoder().encode(name).length <= 256 && !/[\u0000-\u001f\u007f]/.test(name)
}

function currentRoom () {
  const params = new URLSearchParams(location.search)
  const room = params.get('room')
  if (room !== null && validRoom(room)) return room
  const fresh = randomRoom()
  params.set('room', fresh)
  history.replaceState(null, '', `${location.pathname}?${params}${location.hash}`)
  return fresh
}

let toastTimer = null
function toast (message, kind = 'info') {
  const el = $('toast')
  el.textContent = message
  el.dataset.kind = kind
  el.classList.add('show')
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => el.classList.remove('show'), kind === 'error' ? 6000 : 2500)
}

async function copyText (text) {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    // No clipboard API (a page not served over https or localhost) or no
    // permission: fall back to a selected text field.
    const input = document.createElement('textarea')
    input.value = text
    input.setAttribute('readonly', '')
    input.className = 'offscreen'
    document.body.append(input)
    input.select()
    let ok = false
    try {
      ok = document.execCommand('copy')
    } catch {}
    input.remove()
    return ok
  }
}

// The connection indicator; a click goes offline or reconnects (edits
// made offline merge when the connection is back).
function setupStatus (provider) {
  const button = $('status')
  const text = $('status-text')
  const labels = {
    connecting: ['Connecting…', 'Connecting to collabd'],
    syncing: ['Syncing…', 'Connected, exchanging changes'],
    synced: ['Synced', 'All changes are on the server. Click to go offline.'],
    offline: ['Offline', 'Edits stay in this tab and merge when you reconnect. Click to reconnect.']
  }
  let connected = false
  const render = () => {
    let status
    if (!provider.shouldConnect) status = 'offline'
    else if (!connected) status = 'connecting'
    else status = provider.synced ? 'synced' : 'syncing'
    button.dataset.status = status
    text.textContent = labels[status][0]
    button.title = labels[status][1]
    document.body.dataset.status = status
  }
  provider.on('status', ({ status }) => {
    connected = status === 'connected'
    render()
  })
  provider.on('sync', render)
  button.addEventListener('click', () => {
    if (provider.shouldConnect) provider.disconnect()
    else provider.connect()
    render()
  })
  render()
}

function main () {
  const room = currentRoom()
  const encoded = encodeURIComponent(room)
  $('room-name').textContent = room
  document.title = `${room} · collabd notes`

  const base = new URL('./', location.href)
  const wsBase = new URL('ws', base)
  wsBase.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const api = new URL(`api/docs/${encoded}`, base).pathname

  const doc = new Y.Doc()
  // disableBc: tabs of one browser talk through collabd too, so the status
  // shows what the server has.
  // ?token=... (a collabd token for this note) is passed on to collabd:
  // y-websocket puts params in the connection's query.
  const token = new URLSearchParams(location.search).get('token') || ''
  const provider = new WebsocketProvider(wsBase.href, encoded, doc, { disableBc: true, params: token ? { token } : {} })

  setupStatus(provider)
  setupPresence({ awareness: provider.awareness, list: $('people'), nameInput: $('my-name') })
  const view = createEditor({
    place: $('editor'),
    toolbar: $('toolbar'),
    fragment: doc.getXmlFragment(fragmentName),
    awareness: provider.awareness
  })
  // A click on the page around the text puts the caret at its end.
  $('editor').addEventListener('mousedown', (e) => {
    if (e.target === e.currentTarget) {
      e.preventDefault()
      view.focus()
    }
  })
  setupHistory({ room, api, token, fragmentName, hasContent: () => doc.store.clients.size > 0, toast })

  $('new-note').addEventListener('click', () => {
    const url = new URL(location.href)
    url.searchParams.set('room', randomRoom())
    location.assign(url.href)
  })
  $('copy-link').addEventListener('click', async () => {
    toast(await copyText(location.href) ? 'Link copied: share it to edit together' : `Copy this link: ${location.href}`)
  })
}

main()
