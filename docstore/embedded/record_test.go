package embedded

import (
	"bytes"
	"errors"
	"testing"

	"github.com/collabd/collabd/docstore"
)

func TestDocRecordRoundTrip(t *testing.T) {
	recs := []docRecord{
		{},
		{created: 1, updated: 2, lastSeq: 7, logEntries: 7, logBytes: 100},
		{created: 1 << 50, updated: 1 << 51, lastSeq: 10, baseVersion: 3, baseThrough: 8, lastVersion: 5,
			versions: 2, logEntries: 2, logBytes: 2, snapshotSize: 1 << 40},
	}
	for _, r := range recs {
		got, err := decodeDocRecord(r.encode())
		if err != nil || got != r {
			t.Errorf("decode(encode(%+v)) = %+v, %v", r, got, err)
		}
	}
}

func TestDocRecordInvalid(t *testing.T) {
	valid := docRecord{created: 1, updated: 2, lastSeq: 10, baseVersion: 3, baseThrough: 8, lastVersion: 5,
		versions: 2, logEntries: 2, logBytes: 2, snapshotSize: 9}
	tests := []struct {
		name string
		edit func(*docRecord)
	}{
		{"negative", func(r *docRecord) { r.created = -1 }},
		{"base beyond last seq", func(r *docRecord) { r.baseThrough = 11 }},
		{"base version beyond last", func(r *docRecord) { r.baseVersion = 6 }},
		{"more versions than assigned", func(r *docRecord) { r.versions = 6 }},
		{"versions without base", func(r *docRecord) { r.baseVersion = 0 }},
		{"base without versions", func(r *docRecord) { r.versions = 0 }},
		{"empty base snapshot", func(r *docRecord) { r.snapshotSize = 0 }},
		{"entries disagree with seqs", func(r *docRecord) { r.logEntries = 3 }},
		{"log smaller than entries", func(r *docRecord) { r.logBytes = 1 }},
		{"snapshot without version", func(r *docRecord) {
			*r = docRecord{lastSeq: 2, logEntries: 2, logBytes: 2, snapshotSize: 5}
		}},
	}
	for _, tt := range tests {
		r := valid
		tt.edit(&r)
		if _, err := decodeDocRecord(r.encode()); !errors.Is(err, docstore.ErrCorrupt) {
			t.Errorf("%s: decode = %v, want ErrCorrupt", tt.name, err)
		}
	}
	for _, n := range []int{0, 1, docRecordLen - 1, docRecordLen + 1} {
		if _, err := decodeDocRecord(make([]byte, n)); !errors.Is(err, docstore.ErrCorrupt) {
			t.Errorf("decode of %d bytes = %v, want ErrCorrupt", n, err)
		}
	}
}

func TestVersionRecord(t *testing.T) {
	r := versionRecord{created: 1700000000000000, size: 123, through: 45, trigger: docstore.TriggerHibernate}
	got, err := decodeVersionRecord(r.encode())
	if err != nil || got != r {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", r, got, err)
	}
	bad := [][]byte{
		nil,
		r.encode()[:versionRecordMinLen-1],
		append(r.encode(), 'x'),        // trigger length disagrees
		r.encode()[:len(r.encode())-1], // trigger cut short
		(&versionRecord{created: 1, size: 0, through: 1, trigger: "manual"}).encode(),
		(&versionRecord{created: -1, size: 1, through: 1, trigger: "manual"}).encode(),
		(&versionRecord{created: 1, size: 1, through: -1, trigger: "manual"}).encode(),
		(&versionRecord{created: 1, size: 1, through: 1, trigger: ""}).encode(),
		(&versionRecord{created: 1, size: 1, through: 1, trigger: "Not Valid"}).encode(),
	}
	for _, b := range bad {
		if _, err := decodeVersionRecord(b); !errors.Is(err, docstore.ErrCorrupt) {
			t.Errorf("decode(%x) = %v, want ErrCorrupt", b, err)
		}
	}
}

func TestKey(t *testing.T) {
	for _, n := range []int64{1, 255, 256, 1 << 40, 1<<63 - 1} {
		got, err := decodeKey(key(n))
		if err != nil || got != n {
			t.Errorf("decodeKey(key(%d)) = %d, %v", n, got, err)
		}
	}
	if bytes.Compare(key(255), key(256)) >= 0 || bytes.Compare(key(1<<40), key(1<<40+1)) >= 0 {
		t.Error("keys do not sort like their numbers")
	}
	for _, k := range [][]byte{nil, {1}, make([]byte, 8), make([]byte, 9), key(-1)} {
		if _, err := decodeKey(k); !errors.Is(err, docstore.ErrCorrupt) {
			t.Errorf("decodeKey(%x) = %v, want ErrCorrupt", k, err)
		}
	}
}

// FuzzDecodeDocRecord: the decoder never panics, and what it accepts
// encodes back to the same bytes.
func FuzzDecodeDocRecord(f *testing.F) {
	f.Add((&docRecord{}).encode())
	f.Add((&docRecord{created: 1, updated: 2, lastSeq: 10, baseVersion: 3, baseThrough: 8, lastVersion: 5,
		versions: 2, logEntries: 2, logBytes: 2, snapshotSize: 9}).encode())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeDocRecord(b)
		if err != nil {
			if !errors.Is(err, docstore.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(r.encode(), b) {
			t.Fatalf("decode then encode changed %x to %x", b, r.encode())
		}
	})
}

// FuzzDecodeVersionRecord: likewise for version records.
func FuzzDecodeVersionRecord(f *testing.F) {
	f.Add((&versionRecord{created: 1, size: 2, through: 3, trigger: docstore.TriggerManual}).encode())
	f.Add((&versionRecord{created: 1 << 60, size: 1 << 31, through: 1 << 40, trigger: "x"}).encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeVersionRecord(b)
		if err != nil {
			if !errors.Is(err, docstore.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(r.encode(), b) {
			t.Fatalf("decode then encode changed %x to %x", b, r.encode())
		}
		if v := r.version(1); v.Size != int(r.size) || v.Through != r.through || v.Trigger != r.trigger {
			t.Fatalf("version() = %+v from %+v", v, r)
		}
	})
}
