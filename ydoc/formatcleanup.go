package ydoc

// Yjs 13 cleans up formatting after every remote transaction that changed
// a formatted text (Transaction.js cleanupTransactions →
// YText.js cleanupYTextAfterTransaction): in a new local transaction of its
// own, the receiving document deletes format items it finds redundant. The
// result is part of that replica's state (its delta and XML string start a
// new run at every format item, see Delta), so a document that must equal
// a Yjs replica fed the same updates does the same, with Yjs's exact rules,
// quirks included:
//
//   - The clean-up runs only if the transaction changed a text of the Yjs
//     class Text or XmlText that has ever had a format item integrated
//     (_hasFormatting), and that text was not created by the transaction
//     nor deleted. Root types are never of that class here: a Yjs server
//     (y-websocket's) and the differential tests' receiver never call
//     getText, so their roots stay AbstractType, whose observer does not ask
//     for the clean-up. Nested texts always have their class.
//   - Every type that received a format item that is still visible gets a
//     "full" clean-up. Yjs's cleanupYTextFormatting only ever examines the
//     formats before the first visible content (each later gap starts at a
//     content item and is empty): there, a format is deleted unless it is
//     the last of its key in that gap and its value is not null.
//   - Then, for each deleted struct of the transaction (clients in the
//     order the transaction first deleted from them, clocks ascending),
//     whose parent has had formatting and is not (yet) marked for the full
//     clean-up: a deleted format marks its parent; any other deleted item
//     gets the "contextless" clean-up of the run of deleted and format
//     items around it: from the run's right end leftwards, a visible format
//     whose key was already seen in the run is deleted.
//
// formattingCleanup runs that clean-up for the remote transaction tx, after
// its structs and delete set are integrated and before its own clean-up,
// and returns the clean-up transaction (nil when it deleted nothing or did
// not run).
func (tx *Txn) formattingCleanup() *Txn {
	need := false
	for _, t := range tx.formatted {
		if !t.deleted() {
			need = true
			break
		}
	}
	if !need {
		return nil
	}
	d := tx.doc
	ctx := d.newTxn()
	full := make(map[*Type]bool)
	var fullOrder []*Type
	mark := func(t *Type) {
		if !full[t] {
			full[t] = true
			fullOrder = append(fullOrder, t)
		}
	}
	for _, it := range tx.newFormats {
		if !it.deleted() && !it.isGC() && it.parent != nil {
			mark(it.parent)
		}
	}
	tx.ds.sortAndMerge()
	for _, client := range tx.dsOrder {
		l := d.clients[client]
		for _, r := range tx.ds[client] {
			end := r.clock + r.len
			for si := l.find(r.clock); si < len(l.items); si++ {
				s := l.items[si]
				if s.id.Clock >= end {
					break
				}
				p := s.parent
				if s.isGC() || p == nil || !p.hasFormatting || full[p] {
					continue
				}
				if _, ok := s.content.(*contentFormat); ok {
					mark(p)
				} else {
					ctx.contextlessFormatCleanup(s)
				}
			}
		}
	}
	for _, t := range fullOrder {
		ctx.leadingFormatCleanup(t)
	}
	if len(ctx.ds) == 0 {
		return nil
	}
	return ctx
}

func isFormat(it *item) (*contentFormat, bool) {
	f, ok := it.content.(*contentFormat)
	return f, ok
}

// contextlessFormatCleanup is Yjs's cleanupContextlessFormattingGap.
func (tx *Txn) contextlessFormatCleanup(it *item) {
	for it.right != nil && (it.right.deleted() || !it.right.countable()) {
		it = it.right
	}
	var seen map[string]bool
	for ; it != nil && (it.deleted() || !it.countable()); it = it.left {
		f, ok := isFormat(it)
		if !ok || it.deleted() {
			continue
		}
		if seen[f.key] {
			tx.deleteItem(it)
			continue
		}
		if seen == nil {
			seen = make(map[string]bool)
		}
		seen[f.key] = true
	}
}

// leadingFormatCleanup is what Yjs's cleanupYTextFormatting deletes: the
// formats before the first visible content that are overridden later in
// that gap or set null. Nothing happens without visible content.
func (tx *Txn) leadingFormatCleanup(t *Type) {
	var first *item
	last := make(map[string]*item)
	for it := t.start; it != nil; it = it.right {
		if it.deleted() {
			continue
		}
		f, ok := isFormat(it)
		if !ok {
			first = it
			break
		}
		last[f.key] = it
	}
	if first == nil {
		return
	}
	for it := t.start; it != first; it = it.right {
		if it.deleted() {
			continue
		}
		if f, ok := isFormat(it); ok && (last[f.key] != it || isJSONNull(f.json)) {
			tx.deleteItem(it)
		}
	}
}

// noteChanged records p as a changed type that asks for the formatting
// cleanup, as Yjs's addChangedTypeToTransaction and YText's _callObserver
// decide it (see formattingCleanup).
func (tx *Txn) noteChanged(p *Type) {
	if !p.hasFormatting || p.item == nil || (p.kind != KindText && p.kind != KindXMLText) {
		return
	}
	if n := len(tx.formatted); n > 0 && tx.formatted[n-1] == p {
		return
	}
	if p.item.deleted() || p.item.id.Clock >= tx.beforeState(p.item.id.Client) {
		return
	}
	tx.formatted = append(tx.formatted, p)
}
