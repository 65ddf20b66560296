// The rich-text editor: a ProseMirror view bound to a Y.XmlFragment with
// y-prosemirror (document, remote cursors, undo), a formatting toolbar, and
// a read-only view for previewing a version.
import { Schema } from 'prosemirror-model'
import { EditorState, Plugin } from 'prosemirror-state'
import { EditorView } from 'prosemirror-view'
import { schema as basicSchema } from 'prosemirror-schema-basic'
import { addListNodes, liftListItem, sinkListItem, splitListItem, wrapInList } from 'prosemirror-schema-list'
import { baseKeymap, chainCommands, exitCode, lift, setBlockType, toggleMark, wrapIn } from 'prosemirror-commands'
import { keymap } from 'prosemirror-keymap'
import { inputRules, textblockTypeInputRule, wrappingInputRule, ellipsis, emDash } from 'prosemirror-inputrules'
import { dropCursor } from 'prosemirror-dropcursor'
import { gapCursor } from 'prosemirror-gapcursor'
import { redoCommand, undoCommand, yCursorPlugin, ySyncPlugin, yUndoPlugin, yXmlFragmentToProseMirrorRootNode } from 'y-prosemirror'

export const schema = new Schema({
  nodes: addListNodes(basicSchema.spec.nodes, 'paragraph block*', 'block'),
  marks: basicSchema.spec.marks
})

const { nodes, marks } = schema

const hexColor = /^#[0-9a-fA-F]{6}$/

// A remote user's colour, only if it is a plain #rrggbb: the awareness
// state comes from other clients and must not inject CSS.
const safeColor = (user) => (hexColor.test(user.color) ? user.color : '#868e96')

// The caret of another person: a coloured bar with their name above it.
function caret (user) {
  const color = safeColor(user)
  const el = document.createElement('span')
  el.className = 'remote-caret'
  el.style.borderColor = color
  const label = document.createElement('span')
  label.className = 'remote-caret-label'
  label.style.backgroundColor = color
  label.textContent = String(user.name ?? 'Someone').slice(0, 32)
  // Word joiners keep the caret from breaking a line on its own.
  el.append('\u2060', label, '\u2060')
  return el
}

// The highlighted selection of another person.
function selection (user) {
  return { class: 'remote-selection', style: `background-color: ${safeColor(user)}33` }
}

function markActive (state, type) {
  const { from, $from, to, empty } = state.selection
  if (empty) return !!type.isInSet(state.storedMarks || $from.marks())
  return state.doc.rangeHasMark(from, to, type)
}

function blockActive (state, type, attrs = {}) {
  const { $from, to } = state.selection
  return to <= $from.end() && $from.parent.hasMarkup(type, attrs)
}

function inside (state, type) {
  const { $from } = state.selection
  for (let d = $from.depth; d > 0; d--) {
    if ($from.node(d).type === type) return true
  }
  return false
}

// A list button: wraps in the list, or lifts out of it when already inside.
function toggleList (type) {
  return (state, dispatch, view) => {
    if (inside(state, type)) return liftListItem(nodes.list_item)(state, dispatch, view)
    return wrapInList(type)(state, dispatch, view)
  }
}

function toggleQuote (state, dispatch, view) {
  if (inside(state, nodes.blockquote)) return lift(state, dispatch, view)
  return wrapIn(nodes.blockquote)(state, dispatch, view)
}

const toolbarItems = [
  { id: 'bold', label: 'B', title: 'Bold (Ctrl+B)', run: toggleMark(marks.strong), active: s => markActive(s, marks.strong) },
  { id: 'italic', label: 'I', title: 'Italic (Ctrl+I)', run: toggleMark(marks.em), active: s => markActive(s, marks.em) },
  { id: 'code', label: '</>', title: 'Inline code (Ctrl+`)', run: toggleMark(marks.code), active: s => markActive(s, marks.code) },
  null,
  { id: 'h1', label: 'H1', title: 'Title (Ctrl+Alt+1, or type # and a space)', run: setBlockType(nodes.heading, { level: 1 }), active: s => blockActive(s, nodes.heading, { level: 1 }) },
  { id: 'h2', label: 'H2', title: 'Heading (Ctrl+Alt+2, or type ## and a space)', run: setBlockType(nodes.heading, { level: 2 }), active: s => blockActive(s, nodes.heading, { level: 2 }) },
  { id: 'paragraph', label: '¶', title: 'Plain text (Ctrl+Alt+0)', run: setBlockType(nodes.paragraph), active: s => blockActive(s, nodes.paragraph) },
  null,
  { id: 'bullets', label: '•', title: 'Bullet list (or type - and a space)', run: toggleList(nodes.bullet_list), active: s => inside(s, nodes.bullet_list) },
  { id: 'numbers', label: '1.', title: 'Numbered list (or type 1. and a space)', run: toggleList(nodes.ordered_list), active: s => inside(s, nodes.ordered_list) },
  { id: 'quote', label: '❝', title: 'Quote (or type > and a space)', run: toggleQuote, active: s => inside(s, nodes.blockquote) },
  null,
  { id: 'undo', label: '↶', title: 'Undo your last change (Ctrl+Z)', run: undoCommand },
  { id: 'redo', label: '↷', title: 'Redo (Ctrl+Shift+Z)', run: redoCommand }
]

// The toolbar's buttons, kept in step with the selection by a plugin view.
function toolbarPlugin (container) {
  const buttons = []
  for (const item of toolbarItems) {
    if (item === null) {
      const sep = document.createElement('span')
      sep.className = 'toolbar-sep'
      sep.setAttribute('aria-hidden', 'true')
      container.append(sep)
      continue
    }
    const b = document.createElement('button')
    b.type = 'button'
    b.className = 'tool tool-' + item.id
    b.dataset.tool = item.id
    b.textContent = item.label
    b.title = item.title
    b.setAttribute('aria-label', item.title.replace(/ \(.*\)$/, ''))
    container.append(b)
    buttons.push({ b, item })
  }
  return new Plugin({
    view (view) {
      const onDown = (e) => {
        const hit = buttons.find(x => x.b === e.target.closest('button'))
        if (!hit) return
        e.preventDefault() // keep the editor's selection and focus
        hit.item.run(view.state, view.dispatch, view)
        view.focus()
      }
      container.addEventListener('mousedown', onDown)
      // Keyboard users activate buttons with Enter/Space (a click event).
      const onClick = (e) => {
        if (e.detail !== 0) return // a mouse click, handled on mousedown
        const hit = buttons.find(x => x.b === e.target.closest('button'))
        if (hit) hit.item.run(view.state, view.dispatch, view)
      }
      container.addEventListener('click', onClick)
      const update = () => {
        for (const { b, item } of buttons) {
          const active = item.active ? item.active(view.state) : false
          if (item.active) b.setAttribute('aria-pressed', String(active))
          b.disabled = !active && !item.run(view.state, null, view)
        }
      }
      update()
      return {
        update,
        destroy () {
          container.removeEventListener('mousedown', onDown)
          container.removeEventListener('click', onClick)
          container.replaceChildren()
        }
      }
    }
  })
}

function rules () {
  return inputRules({
    rules: [
      ellipsis,
      emDash,
      textblockTypeInputRule(/^(#{1,2})\s$/, nodes.heading, m => ({ level: m[1].length })),
      textblockTypeInputRule(/^```$/, nodes.code_block),
      wrappingInputRule(/^\s*>\s$/, nodes.blockquote),
      wrappingInputRule(/^\s*([-+*])\s$/, nodes.bullet_list),
      wrappingInputRule(/^(\d+)\.\s$/, nodes.ordered_list, m => ({ order: +m[1] }),
        (m, node) => node.childCount + node.attrs.order === +m[1])
    ]
  })
}

function keys () {
  const hardBreak = chainCommands(exitCode, (state, dispatch) => {
    if (dispatch) dispatch(state.tr.replaceSelectionWith(nodes.hard_break.create()).scrollIntoView())
    return true
  })
  return keymap({
    'Mod-z': undoCommand,
    'Mod-y': redoCommand,
    'Mod-Shift-z': redoCommand,
    'Mod-b': toggleMark(marks.strong),
    'Mod-i': toggleMark(marks.em),
    'Mod-`': toggleMark(marks.code),
    'Mod-Alt-0': setBlockType(nodes.paragraph),
    'Mod-Alt-1': setBlockType(nodes.heading, { level: 1 }),
    'Mod-Alt-2': setBlockType(nodes.heading, { level: 2 }),
    'Shift-Enter': hardBreak,
    'Mod-Enter': hardBreak,
    Enter: splitListItem(nodes.list_item),
    Tab: sinkListItem(nodes.list_item),
    'Shift-Tab': liftListItem(nodes.list_item)
  })
}

function isEmpty (doc) {
  return doc.childCount === 0 || (doc.childCount === 1 && doc.firstChild.isTextblock && doc.firstChild.content.size === 0)
}

// createEditor binds an editable view in place to fragment, showing the
// cursors of awareness's other users.
export function createEditor ({ place, toolbar, fragment, awareness }) {
  const state = EditorState.create({
    schema,
    plugins: [
      ySyncPlugin(fragment),
      yCursorPlugin(awareness, { cursorBuilder: caret, selectionBuilder: selection }),
      yUndoPlugin(),
      rules(),
      keys(),
      keymap(baseKeymap),
      dropCursor(),
      gapCursor(),
      toolbarPlugin(toolbar)
    ]
  })
  return new EditorView(place, {
    state,
    attributes: s => ({
      class: isEmpty(s.doc) ? 'note is-empty' : 'note',
      'aria-label': 'Note text',
      'aria-multiline': 'true',
      role: 'textbox',
      spellcheck: 'true'
    })
  })
}

// createPreview renders fragment (of a version's own Y.Doc) read-only in
// place.
export function createPreview ({ place, fragment }) {
  let doc = yXmlFragmentToProseMirrorRootNode(fragment, schema)
  try {
    doc.check()
  } catch {
    doc = schema.topNodeType.createAndFill()
  }
  return new EditorView(place, {
    state: EditorState.create({ schema, doc }),
    editable: () => false,
    attributes: { class: 'note', 'aria-label': 'Version text (read-only)' }
  })
}
