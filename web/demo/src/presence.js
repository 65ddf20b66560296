// Who is here: the local user's name and colour (kept in localStorage and
// published in awareness as `user`, where y-prosemirror's cursors read it)
// and the list of everyone connected to the note.

const palette = ['#c2255c', '#7048e8', '#1971c2', '#0c8599', '#2b8a3e', '#d9480f', '#5f3dc4', '#a61e4d', '#087f5b', '#1864ab']
const adjectives = ['Curious', 'Brave', 'Calm', 'Quick', 'Bright', 'Gentle', 'Witty', 'Sunny', 'Clever', 'Lucky', 'Bold', 'Merry']
const animals = ['Otter', 'Fox', 'Heron', 'Lynx', 'Panda', 'Koala', 'Badger', 'Falcon', 'Moose', 'Gecko', 'Puffin', 'Wombat']

const pick = (list) => list[crypto.getRandomValues(new Uint32Array(1))[0] % list.length]

function load (key) {
  try {
    return localStorage.getItem(key)
  } catch {
    return null // storage disabled
  }
}

function save (key, value) {
  try {
    localStorage.setItem(key, value)
  } catch {}
}

const hexColor = /^#[0-9a-fA-F]{6}$/

// localUser returns the name and colour this browser uses, choosing and
// remembering them on first use.
export function localUser () {
  let name = (load('collabd.name') || '').trim().slice(0, 32)
  if (!name) {
    name = `${pick(adjectives)} ${pick(animals)}`
    save('collabd.name', name)
  }
  let color = load('collabd.color')
  if (!hexColor.test(color || '')) {
    color = pick(palette)
    save('collabd.color', color)
  }
  return { name, color, colorLight: color + '33' }
}

function initials (name) {
  const words = name.split(/\s+/).filter(Boolean)
  const letters = words.length > 1 ? words[0][0] + words[1][0] : (words[0] || '?').slice(0, 2)
  return letters.toUpperCase()
}

// setupPresence publishes the local user in awareness, binds the name
// input and renders the people list on every awareness change.
export function setupPresence ({ awareness, list, nameInput }) {
  let me = localUser()
  awareness.setLocalStateField('user', me)
  nameInput.value = me.name

  const rename = () => {
    const name = nameInput.value.trim().slice(0, 32)
    if (!name || name === me.name) return
    // A new object: awareness compares the old state with the new one, and
    // the old one holds the previous object.
    me = { ...me, name }
    save('collabd.name', name)
    awareness.setLocalStateField('user', me)
  }
  nameInput.addEventListener('change', rename)
  nameInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') nameInput.blur()
  })
  nameInput.addEventListener('blur', () => {
    if (!nameInput.value.trim()) nameInput.value = me.name
  })

  const render = () => {
    const people = []
    awareness.getStates().forEach((state, clientID) => {
      const user = state && state.user
      if (!user || typeof user.name !== 'string') return
      people.push({
        clientID,
        self: clientID === awareness.clientID,
        name: user.name.slice(0, 32) || 'Someone',
        color: hexColor.test(user.color) ? user.color : '#868e96'
      })
    })
    people.sort((a, b) => (b.self - a.self) || a.name.localeCompare(b.name) || a.clientID - b.clientID)
    const items = people.map(p => {
      const li = document.createElement('li')
      li.className = 'person' + (p.self ? ' self' : '')
      li.dataset.client = String(p.clientID)
      li.title = p.self ? `${p.name} (you)` : p.name
      const avatar = document.createElement('span')
      avatar.className = 'avatar'
      avatar.style.backgroundColor = p.color
      avatar.textContent = initials(p.name)
      avatar.setAttribute('aria-hidden', 'true')
      const label = document.createElement('span')
      label.className = 'person-name'
      label.textContent = p.self ? `${p.name} (you)` : p.name
      li.append(avatar, label)
      return li
    })
    list.replaceChildren(...items)
    list.dataset.count = String(people.length)
  }
  awareness.on('change', render)
  render()
}
