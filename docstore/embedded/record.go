package embedded

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/collabd/collabd/docstore"
)

// The records this package encodes itself. Integers are big-endian; times
// are Unix microseconds (the precision Postgres keeps, so both backends
// report the same times). Decoders check lengths and invariants and return
// errors wrapping docstore.ErrCorrupt; they never panic.

// docRecord is a document's metadata, stored under keyInfo in its bucket.
type docRecord struct {
	created, updated int64 // Unix µs
	lastSeq          int64 // seq of the newest update; 0 if none
	baseVersion      int64 // ID of the newest version; 0 if none
	baseThrough      int64 // seq the base snapshot covers
	lastVersion      int64 // highest version ID ever assigned
	versions         int64 // number of versions stored
	logEntries       int64 // entries in the log (seqs baseThrough+1 .. lastSeq)
	logBytes         int64 // their total size
	snapshotSize     int64 // size of the base snapshot
}

const docRecordLen = 10 * 8

func (r *docRecord) encode() []byte {
	b := make([]byte, 0, docRecordLen)
	for _, v := range [...]int64{r.created, r.updated, r.lastSeq, r.baseVersion, r.baseThrough,
		r.lastVersion, r.versions, r.logEntries, r.logBytes, r.snapshotSize} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func decodeDocRecord(b []byte) (docRecord, error) {
	if len(b) != docRecordLen {
		return docRecord{}, fmt.Errorf("%w: document record of %d bytes, want %d", docstore.ErrCorrupt, len(b), docRecordLen)
	}
	var v [10]int64
	for i := range v {
		v[i] = int64(binary.BigEndian.Uint64(b[8*i:]))
		if v[i] < 0 {
			return docRecord{}, fmt.Errorf("%w: document record field %d is negative", docstore.ErrCorrupt, i)
		}
	}
	r := docRecord{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]}
	var bad string
	switch {
	case r.baseThrough > r.lastSeq:
		bad = "base covers seqs beyond the last"
	case r.baseVersion > r.lastVersion || r.versions > r.lastVersion:
		bad = "version beyond the last assigned"
	case (r.baseVersion == 0) != (r.versions == 0):
		bad = "base version and version count disagree"
	case r.baseVersion == 0 && (r.baseThrough != 0 || r.snapshotSize != 0):
		bad = "snapshot without a version"
	case r.baseVersion != 0 && r.snapshotSize == 0:
		bad = "empty base snapshot"
	case r.logEntries != r.lastSeq-r.baseThrough:
		bad = "log entry count disagrees with seqs"
	case r.logBytes < r.logEntries:
		bad = "log smaller than its entry count"
	}
	if bad != "" {
		return docRecord{}, fmt.Errorf("%w: document record: %s", docstore.ErrCorrupt, bad)
	}
	return r, nil
}

// versionRecord is a version's metadata, stored under the version's ID in
// the document's versions bucket; the snapshot itself is stored under the
// same ID in the snapshots bucket.
type versionRecord struct {
	created int64 // Unix µs
	size    int64
	through int64
	trigger docstore.Trigger
}

const versionRecordMinLen = 3*8 + 1

func (r *versionRecord) encode() []byte {
	b := make([]byte, 0, versionRecordMinLen+len(r.trigger))
	b = binary.BigEndian.AppendUint64(b, uint64(r.created))
	b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.through))
	b = append(b, byte(len(r.trigger)))
	return append(b, r.trigger...)
}

func decodeVersionRecord(b []byte) (versionRecord, error) {
	if len(b) < versionRecordMinLen {
		return versionRecord{}, fmt.Errorf("%w: version record of %d bytes", docstore.ErrCorrupt, len(b))
	}
	r := versionRecord{
		created: int64(binary.BigEndian.Uint64(b)),
		size:    int64(binary.BigEndian.Uint64(b[8:])),
		through: int64(binary.BigEndian.Uint64(b[16:])),
	}
	n := int(b[24])
	if len(b)-versionRecordMinLen != n {
		return versionRecord{}, fmt.Errorf("%w: version record: trigger of %d bytes in %d", docstore.ErrCorrupt, n, len(b)-versionRecordMinLen)
	}
	r.trigger = docstore.Trigger(b[versionRecordMinLen:])
	switch {
	case r.created < 0 || r.size <= 0 || r.through < 0:
		return versionRecord{}, fmt.Errorf("%w: version record: negative or zero field", docstore.ErrCorrupt)
	case !r.trigger.Valid():
		return versionRecord{}, fmt.Errorf("%w: version record: invalid trigger %q", docstore.ErrCorrupt, r.trigger)
	}
	return r, nil
}

func (r *versionRecord) version(id int64) docstore.Version {
	return docstore.Version{
		ID:      id,
		Created: fromMicros(r.created),
		Size:    int(r.size),
		Trigger: r.trigger,
		Through: r.through,
	}
}

// key encodes a seq or version ID as a bucket key: big-endian, so that keys
// sort like the numbers.
func key(n int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(n))
}

// decodeKey is the inverse of key.
func decodeKey(k []byte) (int64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("%w: key of %d bytes", docstore.ErrCorrupt, len(k))
	}
	n := int64(binary.BigEndian.Uint64(k))
	if n <= 0 {
		return 0, fmt.Errorf("%w: key %d", docstore.ErrCorrupt, n)
	}
	return n, nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
