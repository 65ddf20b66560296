package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/collabd/collabd/ydoc"
)

// edit is one patch of the editing trace: at pos, delete del characters,
// then insert ins.
type edit struct {
	pos, del int
	ins      string
}

// trace is an editing trace in the format of Joseph Gentle's
// editing-traces collection (testdata/README.md): transactions of
// patches [position, numDeleted, "inserted text"], positions in characters
// of the document as it is when the patch applies.
type trace struct {
	start string
	end   string
	txns  [][]edit
}

// loadTrace reads a trace file, gzip-compressed or not.
func loadTrace(path string) (*trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("trace %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	tr, err := parseTrace(r)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	return tr, nil
}

// parseTrace decodes a trace. It refuses text outside ASCII, where the
// trace's character positions and the UTF-16 offsets of Yjs text would
// differ (the automerge-paper trace is ASCII).
func parseTrace(r io.Reader) (*trace, error) {
	var raw struct {
		StartContent string `json:"startContent"`
		EndContent   string `json:"endContent"`
		Txns         []struct {
			Patches []json.RawMessage `json:"patches"`
		} `json:"txns"`
	}
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, err
	}
	if len(raw.Txns) == 0 {
		return nil, errors.New("no transactions")
	}
	tr := &trace{start: raw.StartContent, end: raw.EndContent, txns: make([][]edit, 0, len(raw.Txns))}
	if !isASCII(tr.start) {
		return nil, errors.New("start content is not ASCII (unsupported)")
	}
	// Most transactions hold one patch: allocate them from one slab.
	slab := make([]edit, 0, len(raw.Txns))
	for i, t := range raw.Txns {
		if len(t.Patches) == 0 {
			return nil, fmt.Errorf("transaction %d has no patches", i)
		}
		first := len(slab)
		for j, p := range t.Patches {
			var e edit
			var tuple []json.RawMessage
			if err := json.Unmarshal(p, &tuple); err != nil || len(tuple) != 3 {
				return nil, fmt.Errorf("transaction %d patch %d: want [pos, del, ins]", i, j)
			}
			if err := json.Unmarshal(tuple[0], &e.pos); err != nil || e.pos < 0 {
				return nil, fmt.Errorf("transaction %d patch %d: bad position %s", i, j, tuple[0])
			}
			if err := json.Unmarshal(tuple[1], &e.del); err != nil || e.del < 0 {
				return nil, fmt.Errorf("transaction %d patch %d: bad delete count %s", i, j, tuple[1])
			}
			if err := json.Unmarshal(tuple[2], &e.ins); err != nil {
				return nil, fmt.Errorf("transaction %d patch %d: bad insert %s", i, j, tuple[2])
			}
			if !isASCII(e.ins) {
				return nil, fmt.Errorf("transaction %d patch %d: inserted text is not ASCII (unsupported)", i, j)
			}
			slab = append(slab, e)
		}
		tr.txns = append(tr.txns, slab[first:len(slab):len(slab)])
	}
	return tr, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// replay applies the first n transactions to the start content as plain
// text and returns the result; n < 0 applies all. It checks the trace
// itself (positions in range), independently of Yjs. Quadratic in the
// document size: for tests and small prefixes.
func (tr *trace) replay(n int) (string, error) {
	if n < 0 || n > len(tr.txns) {
		n = len(tr.txns)
	}
	doc := []byte(tr.start)
	for i, t := range tr.txns[:n] {
		for _, e := range t {
			if e.pos+e.del > len(doc) {
				return "", fmt.Errorf("transaction %d: patch at %d deleting %d beyond length %d", i, e.pos, e.del, len(doc))
			}
			doc = append(doc[:e.pos], append([]byte(e.ins), doc[e.pos+e.del:]...)...)
		}
	}
	return string(doc), nil
}

// generator turns the trace into real Yjs updates: writers take turns (turn
// transactions each), each editing its own ydoc.Doc with its own client ID
// through local edits on the root "text", and every update is applied to the
// other writers' documents before the next one is made, as if the writers
// had received each other's updates. Past the end of the trace it starts
// over; the documents keep what they have, and the trace edits the start of
// the text.
type generator struct {
	tr    *trace
	turn  int
	docs  []*ydoc.Doc
	texts []*ydoc.Type
	next  int // index of the next update
	len   int // expected length of the text
}

func newGenerator(tr *trace, clientIDs []uint64, turn int) (*generator, error) {
	if len(clientIDs) == 0 {
		return nil, errors.New("generator: no writers")
	}
	g := &generator{tr: tr, turn: max(turn, 1)}
	for _, id := range clientIDs {
		d := ydoc.New(ydoc.Options{ClientID: id})
		g.docs = append(g.docs, d)
		g.texts = append(g.texts, d.Root("text"))
	}
	if tr.start != "" {
		u, err := g.docs[0].Transact(func(tx *ydoc.Txn) error {
			return tx.InsertText(g.texts[0], 0, tr.start)
		})
		if err != nil {
			return nil, err
		}
		for _, d := range g.docs[1:] {
			if err := d.ApplyUpdate(u); err != nil {
				return nil, err
			}
		}
		g.len = len(tr.start)
	}
	return g, nil
}

// writer returns the index of the writer that makes update i.
func (g *generator) writer(i int) int { return (i / g.turn) % len(g.docs) }

// nextUpdate returns the next update, made by writer g.writer(index).
func (g *generator) nextUpdate() ([]byte, error) {
	i := g.next
	w := g.writer(i)
	t := g.tr.txns[i%len(g.tr.txns)]
	text := g.texts[w]
	u, err := g.docs[w].Transact(func(tx *ydoc.Txn) error {
		for _, e := range t {
			if e.del > 0 {
				if err := tx.Delete(text, e.pos, e.del); err != nil {
					return err
				}
			}
			if e.ins != "" {
				if err := tx.InsertText(text, e.pos, e.ins); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update %d (trace transaction %d): %w", i, i%len(g.tr.txns), err)
	}
	for _, e := range t {
		g.len += len(e.ins) - e.del
	}
	if got := text.Len(); got != g.len {
		return nil, fmt.Errorf("update %d (trace transaction %d): text has %d characters, the trace says %d", i, i%len(g.tr.txns), got, g.len)
	}
	if u == nil {
		return nil, fmt.Errorf("update %d (trace transaction %d) changes nothing", i, i%len(g.tr.txns))
	}
	for j, d := range g.docs {
		if j == w {
			continue
		}
		if err := d.ApplyUpdate(u); err != nil {
			return nil, fmt.Errorf("update %d at writer %d: %w", i, j, err)
		}
	}
	g.next++
	return u, nil
}

// text returns writer w's text.
func (g *generator) text(w int) string { return g.texts[w].String() }

// checkEnd reports whether the documents hold the trace's end content after
// exactly one pass over the trace.
func (g *generator) checkEnd() error {
	if g.next != len(g.tr.txns) {
		return fmt.Errorf("generator at update %d, trace has %d", g.next, len(g.tr.txns))
	}
	for w := range g.docs {
		if got := g.text(w); got != g.tr.end {
			return fmt.Errorf("writer %d: text differs from the trace's end content (%d vs %d characters, common prefix %d)",
				w, len(got), len(g.tr.end), commonPrefix(got, g.tr.end))
		}
	}
	return nil
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// describe returns a one-line description of the trace.
func (tr *trace) describe() string {
	patches := 0
	for _, t := range tr.txns {
		patches += len(t)
	}
	return fmt.Sprintf("%d transactions, %d patches, %d characters at the end", len(tr.txns), patches, len(tr.end))
}
