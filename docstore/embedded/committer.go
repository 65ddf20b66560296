package embedded

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/collabd/collabd/docstore"
)

// logState is the write-ahead log and what the committer knows about it.
// The committer goroutine owns it (Open, before starting the committer,
// and the committer's exit path, after the last request, too).
type logState struct {
	file   *os.File
	size   int64  // bytes in file
	writes uint64 // writes in file, the number of the last one

	// seqs caches each document's last seq, committed to the log or to
	// bbolt, for the documents touched since the last eviction (see fold).
	seqs map[string]int64

	// pending holds the records in the log that bbolt does not have yet,
	// in log order.
	pending []walRecord

	// logged holds the documents that have records in the log file,
	// folded or not: a replay after a crash would fold them again, so a
	// Delete of one of them first replaces the log (see deleteDoc).
	logged map[string]bool

	// broken holds the documents whose fold failed (their bucket is
	// damaged, or the log's seqs do not fit it), and stuck their records
	// that are in the log and not in bbolt. Such a document takes no more
	// Appends and its reads fail; its records stay in the log, so they are
	// not lost, and the next Open tries again.
	broken map[string]error
	stuck  map[string][]walRecord

	// foldErr, once set, stops folding: a fold's commit found the file
	// corrupt, and bbolt's state after that is not worth another try.
	foldErr error

	// unfoldedDocs counts each document's records that bbolt does not
	// have yet (pending, folding or stuck).
	unfoldedDocs map[string]int

	// folding delivers the outcome of the fold under way on its own
	// goroutine (startFold); nil when none is. Its records are in neither
	// pending nor bbolt until then.
	folding chan foldOutcome

	buf []byte // encoding buffer, reused between writes
}

// maxCachedSeqs bounds logState.seqs: once a fold leaves more, they are
// forgotten (bbolt has them all then) and reloaded on the next Append.
const maxCachedSeqs = 4096

// foldRequest asks the committer to fold the log into bbolt.
type foldRequest struct {
	doc  string     // the document the caller is about to read; "" for all
	done chan error // buffered: the committer never blocks on it
}

// deleteRequest is one Delete waiting for the committer.
type deleteRequest struct {
	ctx  context.Context // the caller's; a request whose ctx is done is not carried out
	doc  string
	done chan error // buffered: the committer never blocks on it
}

// appendRequest is one Append waiting for the committer.
type appendRequest struct {
	ctx     context.Context // the caller's; a request whose ctx is done is not committed
	doc     string
	updates [][]byte
	done    chan appendResult          // buffered: the committer never blocks on it; nil for AppendAsync
	answer  func(seq int64, err error) // AppendAsync's done
}

// finish answers r: exactly once, without blocking the committer.
func (r *appendRequest) finish(res appendResult) {
	if r.answer == nil {
		r.done <- res // Append wraps the error itself
		return
	}
	if res.err != nil {
		res.err = appendError(r.doc, res.err)
	}
	r.answer(res.seq, res.err)
}

type appendResult struct {
	seq int64
	err error
}

// event marks a point of the committer's work for tests that kill the
// process there.
func (s *Store) event(name string) {
	if s.opts.hook != nil {
		s.opts.hook(name)
	}
}

// logFailure returns the error that stopped the log, if any.
func (s *Store) logFailure() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// openLog replays the log left by the previous Store on this file: it
// folds the records bbolt does not have yet in one transaction, then
// replaces the log with a fresh one, which drops a torn tail. If the log is
// corrupt, or was written for another database file, the files are left as
// they are. legacy: the file was of format 1, whose logs have no header.
func (s *Store) openLog(legacy bool) error {
	l := &s.log
	l.seqs = map[string]int64{}
	l.logged = map[string]bool{}
	l.unfoldedDocs = map[string]int{}
	l.broken = map[string]error{}
	l.stuck = map[string][]walRecord{}
	if err := os.Remove(s.walPath + ".tmp"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	data, err := os.ReadFile(s.walPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	switch {
	case legacy:
		// A format 1 file, which has no store ID yet. Its log has no
		// header, unless an earlier Open got as far as replacing the
		// log and no further: then the file takes the ID that log
		// carries. Otherwise it gets a new one.
		if id, err := decodeLogHeader(data); err == nil {
			s.id, data = id, data[logHeaderLen:]
		} else if _, err := rand.Read(s.id[:]); err != nil {
			return err
		}
	case len(data) > 0:
		id, err := decodeLogHeader(data)
		if err != nil {
			return fmt.Errorf("log %s: %w", s.walPath, err)
		}
		if id != s.id {
			return fmt.Errorf("%w: %s was written for the database file with store ID %x, and %s has %x. "+
				"Both are left as they are. If this database file was restored from a backup, the log "+
				"holds updates it cannot take: move the log away to open it",
				ErrLogMismatch, s.walPath, id, s.path, s.id)
		}
		data = data[logHeaderLen:]
	}
	recs, _, err := scanLog(data)
	if err != nil {
		return fmt.Errorf("log %s: %w", s.walPath, err)
	}
	l.pending = recs
	s.unfolded.Store(int64(len(recs)))
	for _, r := range recs {
		l.unfoldedDocs[r.doc]++
	}
	if err := s.foldPending(nil); err != nil {
		return fmt.Errorf("replay log %s: %w", s.walPath, err)
	}
	if err := s.rotate(); err != nil || !legacy {
		return err
	}
	// The new log carries the ID, and holds whatever could not be folded:
	// now the file may change format (a crash before leaves a format 1
	// file beside a log with a header, which the next Open takes up).
	if err := s.upgradeFormat(); err != nil {
		return fmt.Errorf("upgrade to format %d: %w", formatVersion, err)
	}
	return nil
}

// commitLoop is the committer goroutine: it writes queued Appends to the
// log in batches, folds the log into bbolt when asked, when it is big or
// when it has held unfolded records for a while, until Close closes
// s.appends.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	l := &s.log
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	timerOn := false
	batch := make([]*appendRequest, 0, s.opts.MaxBatch)
	var folds []*foldRequest
	for {
		closing := false
		select {
		case req, ok := <-s.appends:
			if !ok {
				closing = true
				break
			}
			batch = append(batch, req)
		collect:
			for len(batch) < s.opts.MaxBatch {
				select {
				case r, ok := <-s.appends:
					if !ok {
						closing = true
						break collect
					}
					batch = append(batch, r)
				default:
					break collect
				}
			}
			s.commitBatch(batch)
			clear(batch)
			batch = batch[:0]
			if l.size >= s.opts.LogSize {
				s.startFold() // on failure, the next fold tries again
			}
		case o := <-l.folding:
			s.foldDone(o)
		case d := <-s.deletes:
			d.done <- s.deleteDoc(d.ctx, d.doc)
		case f := <-s.folds:
			folds = append(folds, f)
			for more := true; more; {
				select {
				case f := <-s.folds:
					folds = append(folds, f)
				default:
					more = false
				}
			}
			// A reader of one document whose records are all in bbolt
			// need not wait for a fold of everyone else's (a room
			// opening, say, while others are busy).
			var (
				err  error
				all  bool
				docs map[string]bool
			)
			for _, f := range folds {
				if f.doc == "" {
					all = true
				} else if l.unfoldedDocs[f.doc] > 0 {
					if docs == nil {
						docs = map[string]bool{}
					}
					docs[f.doc] = true
				}
			}
			switch {
			case all:
				err = s.fold(nil)
			case docs != nil:
				err = s.fold(docs)
			}
			for _, f := range folds {
				f.done <- l.readable(f.doc, err)
			}
			clear(folds)
			folds = folds[:0]
		case <-timer.C:
			timerOn = false
			s.startFold()
		}
		if closing {
			s.closeErr = s.closeLog()
			return
		}
		if len(l.pending) > 0 && !timerOn {
			timer.Reset(s.opts.FoldInterval)
			timerOn = true
		} else if len(l.pending) == 0 && timerOn {
			timer.Stop()
			timerOn = false
		}
	}
}

// readable returns the error for a reader of doc ("" for every document)
// after a fold that returned foldErr: bbolt does not have all of doc's
// acknowledged updates if the fold failed or doc is broken.
func (l *logState) readable(doc string, foldErr error) error {
	if foldErr != nil {
		return foldErr
	}
	if doc != "" {
		if err := l.broken[doc]; err != nil {
			return fmt.Errorf("updates in the log could not be folded into the database file: %w", err)
		}
		return nil
	}
	for doc, err := range l.broken {
		return fmt.Errorf("%q: updates in the log could not be folded into the database file: %w", doc, err)
	}
	return nil
}

// commitBatch writes reqs to the log with one write and one fdatasync and
// answers each. A request that cannot be committed (its context is done,
// its document is broken) gets its error; the others are committed without
// it.
func (s *Store) commitBatch(reqs []*appendRequest) {
	l := &s.log
	now := s.now()
	live := make([]*appendRequest, 0, len(reqs))
	recs := make([]walRecord, 0, len(reqs))
	for _, r := range reqs {
		err := r.ctx.Err()
		if err == nil {
			err = s.logFailure()
		}
		if err == nil && l.broken[r.doc] != nil {
			err = fmt.Errorf("earlier updates could not be folded into the database file: %w", l.broken[r.doc])
		}
		var last int64
		if err == nil {
			last, err = s.lastSeq(r.doc)
		}
		rec := walRecord{write: l.writes + 1, time: now, seq: last + 1, doc: r.doc, updates: r.updates}
		if err == nil && rec.bodyLen() > walMaxBody {
			err = fmt.Errorf("%d bytes of updates in one Append, more than the log takes", rec.bytes())
		}
		if err != nil {
			r.finish(appendResult{err: err})
			continue
		}
		l.seqs[r.doc] = last + int64(len(r.updates))
		l.logged[r.doc] = true // before the write: it may reach the file even if it fails
		live = append(live, r)
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return
	}
	recs[len(recs)-1].last = true
	buf := l.buf[:0]
	for i := range recs {
		buf = appendWALRecord(buf, &recs[i])
	}
	s.commits.Add(1)
	s.writing.Store(int64(time.Since(s.epoch)) + 1)
	_, err := l.file.WriteAt(buf, l.size)
	s.event("log-written")
	if err == nil {
		err = datasync(l.file)
	}
	s.writing.Store(0)
	if err != nil {
		// The file's state is unknown now (part of the write may be on
		// disk, and after a failed fsync even earlier writes may be
		// dirty), so nothing more is written to it: the counters in seqs
		// are no longer used, the records acknowledged before still get
		// folded, and the next Open sorts out the rest.
		err = fmt.Errorf("write to %s: %w", s.walPath, err)
		s.failed.CompareAndSwap(nil, &err)
		for _, r := range live {
			r.finish(appendResult{err: err})
		}
		return
	}
	l.size += int64(len(buf))
	l.writes++
	l.pending = append(l.pending, recs...)
	s.unfolded.Add(int64(len(recs)))
	for _, r := range recs {
		l.unfoldedDocs[r.doc]++
	}
	for i, r := range live {
		r.finish(appendResult{seq: recs[i].seq + int64(len(recs[i].updates)) - 1})
	}
	if cap(buf) <= 1<<20 {
		l.buf = buf
	} else {
		l.buf = nil
	}
}

// lastSeq returns doc's last seq, loading it from bbolt on first use. bbolt
// is up to date for a document missing from the cache: only the committer
// folds, and it evicts only documents it has folded.
func (s *Store) lastSeq(doc string) (int64, error) {
	if seq, ok := s.log.seqs[doc]; ok {
		return seq, nil
	}
	var seq int64
	err := s.view(func(tx *bolt.Tx) error {
		_, rec, err := docBucket(tx, doc)
		if errors.Is(err, docstore.ErrNotFound) {
			return nil
		}
		seq = rec.lastSeq
		return err
	})
	if err != nil {
		return 0, err
	}
	s.log.seqs[doc] = seq
	return seq, nil
}

// fold folds the pending records of docs (all of them if docs is nil)
// into bbolt now and, if the log has grown to Options.LogSize, starts a
// fresh log. It returns the fold's error only: bbolt has every acknowledged
// update even if the log could not be replaced, which the next fold tries
// again and Ping reports meanwhile.
func (s *Store) fold(docs map[string]bool) error {
	if err := s.foldPending(docs); err != nil {
		return err
	}
	s.rotateIfBig()
	return nil
}

// rotateIfBig starts a fresh log if this one has grown to Options.LogSize.
func (s *Store) rotateIfBig() {
	if s.log.size < s.opts.LogSize || s.log.folding != nil {
		return
	}
	if err := s.rotate(); err != nil {
		s.rotateErr.Store(&err)
	} else {
		s.rotateErr.Store(nil)
	}
}

// foldOutcome is what folding some records did; the committer applies it
// (applyFold).
type foldOutcome struct {
	recs   []walRecord      // the records folded (or not)
	broken map[string]error // documents left out: folding them failed
	err    error            // the commit failed: nothing was folded
}

// foldRecords writes recs into bbolt in one transaction. Records whose seqs
// bbolt already has are skipped, so that replaying a log that was folded
// just before a crash adds nothing twice. A document that fails to fold is
// left out and the others are folded without it. It touches no committer
// state, so it can run on a goroutine of its own (startFold) while the
// committer goes on writing the log.
func (s *Store) foldRecords(recs []walRecord) foldOutcome {
	o := foldOutcome{recs: recs}
	var order []string
	byDoc := map[string][]*walRecord{}
	for i := range recs {
		r := &recs[i]
		if _, ok := byDoc[r.doc]; !ok {
			order = append(order, r.doc)
		}
		byDoc[r.doc] = append(byDoc[r.doc], r)
	}
	for len(order) > 0 {
		current := ""
		err := s.update(func(tx *bolt.Tx) error {
			docs := tx.Bucket(bucketDocs)
			for _, doc := range order {
				current = doc
				if err := foldDoc(docs, doc, byDoc[doc]); err != nil {
					return err
				}
			}
			current = ""
			return nil
		})
		if err == nil {
			break
		}
		if current == "" { // the commit failed: keep everything pending
			o.err = err
			return o
		}
		if o.broken == nil {
			o.broken = map[string]error{}
		}
		o.broken[current] = err
		order = slices.DeleteFunc(order, func(d string) bool { return d == current })
	}
	s.event("fold-committed")
	return o
}

// applyFold records the outcome of a fold in the committer's state.
func (s *Store) applyFold(o foldOutcome) error {
	l := &s.log
	if o.err != nil {
		if errors.Is(o.err, docstore.ErrCorrupt) {
			l.foldErr = fmt.Errorf("fold: %w", o.err)
			s.failed.CompareAndSwap(nil, &l.foldErr)
		}
		// Still pending, ahead of what was logged since.
		l.pending = append(o.recs, l.pending...)
		return o.err
	}
	folded := 0
	for _, r := range o.recs {
		if _, bad := o.broken[r.doc]; bad {
			l.stuck[r.doc] = append(l.stuck[r.doc], r)
			continue
		}
		folded++
		if l.unfoldedDocs[r.doc]--; l.unfoldedDocs[r.doc] <= 0 {
			delete(l.unfoldedDocs, r.doc)
		}
	}
	maps.Copy(l.broken, o.broken)
	s.unfolded.Add(-int64(folded))
	// Forget the cached seqs only when bbolt has every document's.
	if len(l.seqs) > maxCachedSeqs && len(l.pending) == 0 && l.folding == nil {
		clear(l.seqs)
	}
	return nil
}

// foldPending folds the pending records of docs (all if docs is nil) into
// bbolt now, after the fold under way, if any. A reader of one document
// waits for that document's records only, not for a fold of everyone's.
// The log itself is left alone: it may still hold records bbolt has, which
// a replay skips.
func (s *Store) foldPending(docs map[string]bool) error {
	l := &s.log
	if l.folding != nil {
		o := <-l.folding
		l.folding = nil
		if err := s.applyFold(o); err != nil {
			return err
		}
	}
	if l.foldErr != nil {
		return l.foldErr
	}
	if len(l.pending) == 0 {
		return nil
	}
	recs, rest := l.pending, []walRecord(nil)
	if docs != nil {
		// Each document's records keep their order; other documents'
		// stay pending, in order, for a later fold.
		recs = nil
		for _, r := range l.pending {
			if docs[r.doc] {
				recs = append(recs, r)
			} else {
				rest = append(rest, r)
			}
		}
		if len(recs) == 0 {
			return nil
		}
	}
	l.pending = rest
	return s.applyFold(s.foldRecords(recs))
}

// startFold starts folding the pending records on a goroutine of its
// own, unless a fold is under way: the committer goes on writing Appends
// to the log meanwhile (a fold's bbolt commit takes milliseconds to tens
// of them, which Appends should not wait for), and applies the outcome
// when it arrives on l.folding (foldDone).
func (s *Store) startFold() {
	l := &s.log
	if l.folding != nil || l.foldErr != nil || len(l.pending) == 0 {
		return
	}
	recs := l.pending
	l.pending = nil
	done := make(chan foldOutcome, 1)
	l.folding = done
	go func() { done <- s.foldRecords(recs) }()
}

// foldDone applies the outcome of the fold startFold began and starts a
// fresh log if this one has grown to Options.LogSize.
func (s *Store) foldDone(o foldOutcome) {
	s.log.folding = nil
	if s.applyFold(o) != nil {
		return // the records stay pending; the next fold tries again
	}
	s.rotateIfBig()
}

// foldDoc appends doc's records, in log order, to its bucket.
func foldDoc(docs *bolt.Bucket, doc string, recs []*walRecord) error {
	b := docs.Bucket([]byte(doc))
	var rec docRecord
	if b == nil {
		var err error
		if b, err = createDoc(docs, doc); err != nil {
			return err
		}
		rec.created = recs[0].time
	} else {
		var err error
		if rec, err = readDocRecord(b); err != nil {
			return err
		}
	}
	log := b.Bucket(bucketLog)
	log.FillPercent = 0.95 // keys only ever grow: fill pages before splitting
	changed := false
	for _, r := range recs {
		for i, u := range r.updates {
			seq := r.seq + int64(i)
			if seq <= rec.lastSeq {
				continue // folded before, then the process stopped before the log was replaced
			}
			if seq != rec.lastSeq+1 {
				return fmt.Errorf("%w: log holds seq %d, the document's last is %d", docstore.ErrCorrupt, seq, rec.lastSeq)
			}
			if err := log.Put(key(seq), u); err != nil {
				return err
			}
			rec.lastSeq = seq
			rec.logEntries++
			rec.logBytes += int64(len(u))
			// A Compact may have run after this record was logged.
			rec.updated = max(rec.updated, r.time)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return b.Put(keyInfo, rec.encode())
}

// rotate replaces the log by a fresh file holding only the records bbolt
// does not have: the stuck ones (usually none) and the pending ones (those
// logged while a fold ran). No fold may be under way. The new file is
// complete and synced before it takes the old one's name, so a crash leaves
// one or the other; the old one's other records are all in bbolt, and
// bbolt's are skipped on replay.
func (s *Store) rotate() (err error) {
	l := &s.log
	tmp := s.walPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("new log: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	var recs []walRecord
	for _, doc := range slices.Sorted(maps.Keys(l.stuck)) {
		recs = append(recs, l.stuck[doc]...)
	}
	recs = append(recs, l.pending...) // copies: renumbered below
	buf := appendLogHeader(nil, s.id)
	for i := range recs {
		recs[i].write, recs[i].last = 1, i == len(recs)-1
		buf = appendWALRecord(buf, &recs[i])
	}
	if _, err := f.Write(buf); err != nil {
		return fmt.Errorf("new log: %w", err)
	}
	preallocate(f, max(s.opts.LogSize, int64(len(buf))))
	if err := f.Sync(); err != nil {
		return fmt.Errorf("new log: %w", err)
	}
	s.event("rotate-written")
	// Some systems (Windows) cannot rename over an open file. The old
	// file is complete on disk, so it can be reopened if the rename fails.
	if l.file != nil {
		_ = l.file.Close()
		l.file = nil
	}
	if err := os.Rename(tmp, s.walPath); err != nil {
		err = fmt.Errorf("new log: %w", err)
		old, oerr := os.OpenFile(s.walPath, os.O_RDWR, 0)
		if oerr != nil {
			err = fmt.Errorf("%w; reopening the old log: %w", err, oerr)
			s.failed.CompareAndSwap(nil, &err)
			return err
		}
		l.file = old
		return err
	}
	renamed = true
	l.file, l.size, l.writes = f, int64(len(buf)), 0
	clear(l.logged)
	for _, r := range recs {
		l.logged[r.doc] = true
	}
	if len(recs) > 0 {
		l.writes = 1
	}
	s.event("rotate-renamed")
	if err := syncDir(filepath.Dir(s.walPath)); err != nil {
		// Until the rename is durable, a crash may bring the old file
		// back in place of the new one, with whatever was appended to
		// the new one lost: no more appends.
		err = fmt.Errorf("new log: sync directory: %w", err)
		s.failed.CompareAndSwap(nil, &err)
		return err
	}
	return nil
}

// deleteDoc deletes doc from bbolt, on the committer goroutine, so that no
// Append of doc is logged while it runs and the seq cache can be reset
// after it.
//
// A delete is one bbolt transaction that removes the document's bucket.
// What makes that enough is that a replay must not bring the document
// back: if the log file holds records of doc (folded or not), they are
// folded first, and the log is replaced by a fresh one without them (it
// keeps the other documents' pending records) before the transaction. A
// crash before the transaction's commit leaves the document as it was,
// with all its records in bbolt or in the log, whichever log file
// survives; one after it leaves a log without records of doc, and records
// of doc logged after the Delete belong to the new document, whose seqs
// start again from 1, as its bucket does.
//
// A broken document (see logState.broken) is not deleted: its records
// cannot be folded, and dropping them from the log before its bucket is
// gone would leave it changed if the process crashed between the two.
func (s *Store) deleteDoc(ctx context.Context, doc string) error {
	l := &s.log
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.logFailure(); err != nil {
		return fmt.Errorf("the log cannot be written: %w", err)
	}
	if err := l.broken[doc]; err != nil {
		return fmt.Errorf("earlier updates could not be folded into the database file: %w", err)
	}
	if l.logged[doc] {
		if err := s.foldPending(map[string]bool{doc: true}); err != nil {
			return err
		}
		if err := l.readable(doc, nil); err != nil {
			return err // its fold failed just now: broken
		}
		s.event("delete-folded")
		if err := s.rotate(); err != nil {
			s.rotateErr.Store(&err)
			return err
		}
		s.rotateErr.Store(nil)
		s.event("delete-rotated")
	}
	err := s.update(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		if docs.Bucket([]byte(doc)) == nil {
			return docstore.ErrNotFound
		}
		return docs.DeleteBucket([]byte(doc))
	})
	if err != nil {
		return err
	}
	s.event("delete-committed")
	// bbolt holds every record of doc's (none), so its last seq may be
	// loaded from there again: 0, or that of a Compact creating it anew.
	delete(l.seqs, doc)
	return nil
}

// closeLog folds everything and removes the log, so that the bbolt file
// alone holds the store. If something cannot be folded, the log keeps it
// for the next Open and closeLog reports why.
func (s *Store) closeLog() error {
	l := &s.log
	err := s.foldPending(nil)
	if err == nil && len(l.broken) > 0 {
		if err = s.rotate(); err == nil {
			err = l.readable("", nil)
		}
	}
	if l.file != nil {
		if cerr := l.file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	if err := os.Remove(s.walPath); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.walPath))
}

// foldFor makes bbolt hold every update acknowledged so far before a
// caller reads or compacts doc ("" for every document). The caller holds
// s.mu for reading, so the committer is running.
func (s *Store) foldFor(ctx context.Context, doc string) error {
	if s.unfolded.Load() == 0 {
		return nil
	}
	req := &foldRequest{doc: doc, done: make(chan error, 1)}
	select {
	case s.folds <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
