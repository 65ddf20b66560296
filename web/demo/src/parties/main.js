// The party demo pages (poll presenter, phone voting page, chat), on the
// built-in parties with the stock partysocket client. One bundle; the
// page's <body data-page> picks the view. ?room= picks the room (a new
// one is made up when missing), ?token= is passed on to collabd.
import PartySocket from 'partysocket'
import qrcode from 'qrcode-generator'

const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
const page = document.body.dataset.page

let room = params.get('room')
if (!room) {
  room = Math.random().toString(36).slice(2, 8)
  params.set('room', room)
  history.replaceState(null, '', location.pathname + '?' + params)
}
const token = params.get('token')

// A stable id per page kind and room (partysocket sends it as _pk): a
// reload keeps the voter's vote and the presenter's ownership.
function stableID (kind) {
  const key = `collabd-${kind}-${room}`
  let id = localStorage.getItem(key)
  if (!id) {
    id = crypto.randomUUID()
    localStorage.setItem(key, id)
  }
  return id
}

function open (party, kind, extra = {}) {
  const ws = new PartySocket({
    host: location.host,
    protocol: location.protocol === 'https:' ? 'wss' : 'ws',
    party,
    room,
    id: stableID(kind),
    query: () => ({ ...(token ? { token } : {}), ...extra() })
  })
  const status = $('status')
  const set = (s, text) => { status.dataset.status = s; status.textContent = text }
  ws.addEventListener('open', () => set('connected', 'live'))
  ws.addEventListener('close', () => set('connecting', 'reconnecting…'))
  ws.json = (v) => ws.send(JSON.stringify(v))
  return ws
}

function showError (msg) {
  const e = $('error')
  e.textContent = msg
  e.hidden = false
  clearTimeout(showError.t)
  showError.t = setTimeout(() => { e.hidden = true }, 4000)
}

function onJSON (ws, fn) {
  ws.addEventListener('message', (e) => {
    let m
    try { m = JSON.parse(e.data) } catch { return }
    if (m.type === 'error') showError(m.error)
    else fn(m)
  })
}

function presenter () {
  const ws = open('poll', 'presenter', () => ({}))
  const voteURL = new URL('/poll/vote', location.href)
  voteURL.searchParams.set('room', room)
  if (token) voteURL.searchParams.set('token', token)
  $('vote-link').href = voteURL.href
  $('vote-link').textContent = voteURL.href.replace(/[?&]token=[^&]*/, '')
  const qr = qrcode(0, 'M')
  qr.addData(voteURL.href)
  qr.make()
  $('qr').innerHTML = qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true })

  let poll = null
  const render = () => {
    $('setup').hidden = !!poll && !poll.closed
    $('live').hidden = !poll
    if (!poll) return
    $('live-question').textContent = poll.question
    const total = poll.tallies.reduce((a, b) => a + b, 0)
    const ol = $('results')
    ol.replaceChildren(...poll.options.map((o, i) => {
      const li = document.createElement('li')
      const pct = total ? Math.round(100 * poll.tallies[i] / total) : 0
      li.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="count"></span>'
      li.querySelector('.label').textContent = o
      li.querySelector('.fill').style.width = pct + '%'
      li.querySelector('.count').textContent = `${poll.tallies[i]} · ${pct}%`
      li.dataset.count = poll.tallies[i]
      return li
    }))
    $('total').textContent = poll.votes
    $('closed-badge').hidden = !poll.closed
    $('close').hidden = poll.closed
    $('new-poll').hidden = !poll.closed
  }
  onJSON(ws, (m) => {
    if (m.type === 'poll') poll = m.poll
    if (m.type === 'tally' && poll && m.id === poll.id) { poll.tallies = m.tallies; poll.votes = m.votes }
    render()
  })
  $('create-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const options = $('options').value.split('\n').map((s) => s.trim()).filter(Boolean)
    ws.json({ type: 'create', question: $('question').value.trim(), options })
  })
  $('close').addEventListener('click', () => ws.json({ type: 'close' }))
  $('new-poll').addEventListener('click', () => { $('setup').hidden = false; $('question').focus() })
}

function voter () {
  const ws = open('poll', 'voter', () => ({}))
  let poll = null
  let mine = null
  let counted = false
  const render = () => {
    if (!poll) return
    $('question').textContent = poll.question
    $('choices').replaceChildren(...poll.options.map((o, i) => {
      const b = document.createElement('button')
      b.type = 'button'
      b.className = 'choice' + (mine === i ? ' chosen' : '')
      b.textContent = o
      b.disabled = poll.closed
      b.setAttribute('aria-pressed', String(mine === i))
      b.addEventListener('click', () => { mine = i; counted = false; ws.json({ type: 'vote', option: i }); render() })
      return b
    }))
    $('note').textContent = poll.closed
      ? 'The poll is closed. ' + poll.options.map((o, i) => `${o}: ${poll.tallies[i]}`).join(' · ')
      : mine === null ? 'Tap your answer. You can change it until the poll closes.' : counted ? 'Your vote is counted ✓' : 'Sending…'
    document.body.dataset.counted = String(counted)
  }
  onJSON(ws, (m) => {
    if (m.type === 'poll') {
      if (poll && m.poll && m.poll.id !== poll.id) mine = null
      poll = m.poll
      if (m.vote !== null && m.vote !== undefined) { mine = m.vote; counted = true }
    }
    if (m.type === 'tally' && poll) poll.tallies = m.tallies
    if (m.type === 'voted' && m.option === mine) counted = true
    render()
  })
}

function chat () {
  $('room-name').textContent = room
  const nameKey = 'collabd-chat-name'
  $('name').value = localStorage.getItem(nameKey) || ''
  const ws = open('chat', 'chat', () => ({ name: $('name').value || 'anonymous' }))
  const list = $('messages')
  const add = (cls, parts) => {
    const li = document.createElement('li')
    li.className = cls
    for (const [c, text] of parts) {
      const s = document.createElement('span')
      s.className = c
      s.textContent = text
      li.append(s)
    }
    list.append(li)
    li.scrollIntoView({ block: 'end' })
  }
  const message = (m) => add('msg' + (m.conn === ws.id ? ' mine' : ''), [['who', m.name], ['text', m.text],
    ['time', new Date(m.time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })]])
  onJSON(ws, (m) => {
    if (m.type === 'history') { list.replaceChildren(); m.messages.forEach(message) }
    if (m.type === 'message') message(m.message)
    if (m.type === 'join') add('notice', [['text', `${m.name} joined`]])
    if (m.type === 'leave') add('notice', [['text', `${m.name} left`]])
  })
  $('name').addEventListener('change', () => {
    localStorage.setItem(nameKey, $('name').value)
    ws.json({ type: 'name', name: $('name').value || 'anonymous' })
  })
  $('post-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const text = $('text').value
    if (!text.trim()) return
    ws.json({ type: 'message', text })
    $('text').value = ''
  })
}

({ presenter, voter, chat })[page]()
