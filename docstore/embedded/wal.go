package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/collabd/collabd/docstore"
)

// The write-ahead log file starts with a header that binds it to its
// database file,
//
//	magic    4 bytes  walFileMagic
//	version  4 bytes  walFileVersion
//	store    16 bytes the store ID of the database file (meta "id")
//	crc      4 bytes  CRC-32C of the 24 bytes before
//
// so that a log is never replayed into another file than the one it was
// written for (a database file restored from a backup, with the log of
// the crashed newer copy still beside it, say): its records would be
// folded into documents whose history they do not belong to. Format 1
// database files had logs without a header (see formatVersion).
//
// Then come the records, one per committed Append, back to back. A record is
//
//	magic   4 bytes  walMagic
//	crc     4 bytes  CRC-32C of length and body
//	length  4 bytes  length of the body
//	body:
//	  flags   1 byte   walLastInWrite if the record ends its write
//	  write   8 bytes  number of the write (group commit) in this file, from 1
//	  time    8 bytes  commit time, Unix µs
//	  seq     8 bytes  seq of the first update
//	  doc     uvarint length, then the name
//	  count   uvarint number of updates (at least 1)
//	  updates count × (uvarint length, then the bytes)
//
// Integers are big-endian like the rest of the file formats here. The write
// number and the flag make a file's history checkable: writes are numbered
// 1, 2, 3, ... and every write's records end with one flagged record, so a
// reader knows at every record boundary which write comes next (see
// scanLog).

const (
	walMagic       uint32 = 0xc011ab0d
	walHeaderLen          = 12
	walFixedBody          = 1 + 3*8
	walLastInWrite byte   = 1
	// walMaxBody bounds a record; a single Append of more than this fails.
	walMaxBody = math.MaxUint32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	walFileMagic   uint32 = 0xc011ab1f
	walFileVersion uint32 = 1
	logHeaderLen          = 4 + 4 + 16 + 4
)

// storeID identifies a database file; its log carries it.
type storeID [16]byte

// ErrLogMismatch: the write-ahead log beside the database file was written
// for another database file.
var ErrLogMismatch = errors.New("embedded: the write-ahead log beside the database file belongs to another database file")

// appendLogHeader appends the header of a log of store id to buf.
func appendLogHeader(buf []byte, id storeID) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, walFileMagic)
	buf = binary.BigEndian.AppendUint32(buf, walFileVersion)
	buf = append(buf, id[:]...)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf[start:], castagnoli))
}

// decodeLogHeader checks the header at the start of a log file's data and
// returns the store ID it names. Errors wrap docstore.ErrCorrupt; it never
// panics.
func decodeLogHeader(b []byte) (storeID, error) {
	var id storeID
	if len(b) < logHeaderLen {
		return id, fmt.Errorf("%w: log file of %d bytes, shorter than its header", docstore.ErrCorrupt, len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != walFileMagic {
		return id, fmt.Errorf("%w: log file magic %#x", docstore.ErrCorrupt, m)
	}
	if crc := crc32.Checksum(b[:logHeaderLen-4], castagnoli); crc != binary.BigEndian.Uint32(b[logHeaderLen-4:]) {
		return id, fmt.Errorf("%w: log file header checksum mismatch", docstore.ErrCorrupt)
	}
	if v := binary.BigEndian.Uint32(b[4:]); v != walFileVersion {
		return id, fmt.Errorf("%w: log file version %d, this collabd knows %d", docstore.ErrCorrupt, v, walFileVersion)
	}
	copy(id[:], b[8:])
	return id, nil
}

// walRecord is one Append as the log holds it, and, once committed and
// until folded, as the committer keeps it in memory.
type walRecord struct {
	last    bool   // the record ends its write
	write   uint64 // number of the write in its file
	time    int64  // commit time, Unix µs
	seq     int64  // seq of updates[0]; the others follow contiguously
	doc     string
	updates [][]byte
}

// bodyLen returns the length of r's encoded body.
func (r *walRecord) bodyLen() int {
	n := walFixedBody + uvarintLen(uint64(len(r.doc))) + len(r.doc) + uvarintLen(uint64(len(r.updates)))
	for _, u := range r.updates {
		n += uvarintLen(uint64(len(u))) + len(u)
	}
	return n
}

// size returns the length of r's encoding.
func (r *walRecord) size() int { return walHeaderLen + r.bodyLen() }

// bytes returns the total length of r's updates.
func (r *walRecord) bytes() int64 {
	var n int64
	for _, u := range r.updates {
		n += int64(len(u))
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// appendWALRecord appends the encoding of r to buf. The caller has checked
// that r's body fits walMaxBody.
func appendWALRecord(buf []byte, r *walRecord) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, walMagic)
	buf = binary.BigEndian.AppendUint32(buf, 0) // crc, below
	buf = binary.BigEndian.AppendUint32(buf, uint32(r.bodyLen()))
	var flags byte
	if r.last {
		flags = walLastInWrite
	}
	buf = append(buf, flags)
	buf = binary.BigEndian.AppendUint64(buf, r.write)
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.time))
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.seq))
	buf = binary.AppendUvarint(buf, uint64(len(r.doc)))
	buf = append(buf, r.doc...)
	buf = binary.AppendUvarint(buf, uint64(len(r.updates)))
	for _, u := range r.updates {
		buf = binary.AppendUvarint(buf, uint64(len(u)))
		buf = append(buf, u...)
	}
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return buf
}

// errWALShort: the data ends inside the record.
var errWALShort = errors.New("record cut short")

// decodeWALRecord decodes the record at the start of b and returns it and
// its length. The record's doc and updates alias b. Errors wrap
// docstore.ErrCorrupt, or are errWALShort when b ends before the record
// does; it never panics.
func decodeWALRecord(b []byte) (walRecord, int, error) {
	if len(b) < walHeaderLen {
		return walRecord{}, 0, errWALShort
	}
	if m := binary.BigEndian.Uint32(b); m != walMagic {
		return walRecord{}, 0, fmt.Errorf("%w: log record magic %#x", docstore.ErrCorrupt, m)
	}
	n := uint64(binary.BigEndian.Uint32(b[8:]))
	if n > uint64(len(b)-walHeaderLen) {
		return walRecord{}, 0, errWALShort
	}
	end := walHeaderLen + int(n)
	if crc := crc32.Checksum(b[8:end], castagnoli); crc != binary.BigEndian.Uint32(b[4:]) {
		return walRecord{}, 0, fmt.Errorf("%w: log record checksum mismatch", docstore.ErrCorrupt)
	}
	r, err := decodeWALBody(b[walHeaderLen:end])
	if err != nil {
		return walRecord{}, 0, fmt.Errorf("%w: log record: %s", docstore.ErrCorrupt, err)
	}
	return r, end, nil
}

// decodeWALBody decodes a body whose checksum matched; an error here means
// a bug in the writer, or a checksum collision.
func decodeWALBody(b []byte) (walRecord, error) {
	if len(b) < walFixedBody {
		return walRecord{}, errors.New("body too short")
	}
	var r walRecord
	switch b[0] {
	case 0:
	case walLastInWrite:
		r.last = true
	default:
		return walRecord{}, fmt.Errorf("unknown flags %#x", b[0])
	}
	r.write = binary.BigEndian.Uint64(b[1:])
	r.time = int64(binary.BigEndian.Uint64(b[9:]))
	r.seq = int64(binary.BigEndian.Uint64(b[17:]))
	b = b[walFixedBody:]
	if r.write == 0 || r.time < 0 || r.seq <= 0 {
		return walRecord{}, errors.New("zero or negative field")
	}
	name, b, ok := uvarintBytes(b)
	if !ok {
		return walRecord{}, errors.New("bad document name length")
	}
	r.doc = string(name)
	if err := docstore.CheckName(r.doc); err != nil {
		return walRecord{}, err
	}
	count, k := binary.Uvarint(b)
	// Every update takes at least two bytes, which bounds the allocation.
	if k <= 0 || count == 0 || count > uint64(len(b)-k)/2 {
		return walRecord{}, errors.New("bad update count")
	}
	b = b[k:]
	if uint64(r.seq) > uint64(math.MaxInt64)-count+1 {
		return walRecord{}, errors.New("seqs overflow")
	}
	r.updates = make([][]byte, count)
	for i := range r.updates {
		var u []byte
		if u, b, ok = uvarintBytes(b); !ok || len(u) == 0 {
			return walRecord{}, fmt.Errorf("bad update %d", i)
		}
		r.updates[i] = u[:len(u):len(u)]
	}
	if len(b) != 0 {
		return walRecord{}, fmt.Errorf("%d bytes after the updates", len(b))
	}
	return r, nil
}

// uvarintBytes reads a length-prefixed byte string from b and returns it
// and the rest of b.
func uvarintBytes(b []byte) (s, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// scanLog decodes a log file's contents. It returns the records up to the
// first bad one (a record that does not decode or breaks the sequence of
// writes) and the offset where that one starts (len(data) if none).
//
// A bad record is what a crash during a write leaves: the write's bytes are
// on disk in part, in any order, so its records may be cut short, zeroed or
// garbled, while every earlier write is complete (each write is followed
// by an fdatasync before the next one starts). So the bad record is the
// torn tail if it lies in the last write, and the caller drops it and
// everything after it: none of that was acknowledged.
//
// If instead a valid record of a later write follows the bad record, the
// bad bytes are in a write that was completed, fdatasynced and possibly
// acknowledged, and were damaged afterwards. scanLog then reports
// docstore.ErrCorrupt instead of guessing: dropping the bad record might
// lose acknowledged updates, and skipping it would leave a gap in the
// document's seqs. It finds such records by looking for the magic number
// at every offset from the bad record on.
//
// What scanLog cannot see is damage to the last write alone after it was
// acknowledged (bit rot, or a disk that lies about flushing): that looks
// exactly like a torn write.
func scanLog(data []byte) (recs []walRecord, good int, err error) {
	next := uint64(1) // the write the next record belongs to
	off := 0
	for off < len(data) {
		r, n, err := decodeWALRecord(data[off:])
		if err != nil || r.write != next {
			break
		}
		recs = append(recs, r)
		off += n
		if r.last {
			next++
		}
	}
	if off == len(data) {
		return recs, off, nil
	}
	magic := binary.BigEndian.AppendUint32(nil, walMagic)
	for i := off; i < len(data); i++ {
		j := bytes.Index(data[i:], magic)
		if j < 0 {
			break
		}
		i += j
		if r, _, err := decodeWALRecord(data[i:]); err == nil && r.write > next {
			return nil, 0, fmt.Errorf("%w: bad log record at offset %d, followed by a valid record of a later write (%d, expected %d) at offset %d",
				docstore.ErrCorrupt, off, r.write, next, i)
		}
	}
	return recs, off, nil
}
