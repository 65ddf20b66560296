package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLogIsPreallocated: a fresh log takes LogSize on disk up front and
// Appends write within it, so its size stays put; a copy of the files taken
// while the store is open, as a crash leaves them (records, then zeros),
// replays every acknowledged Append.
func TestLogIsPreallocated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.db")
	const logSize = 64 << 10
	s := openT(t, path, Options{LogSize: logSize, FoldInterval: time.Hour})
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if got := size(); got != logSize {
		t.Fatalf("fresh log: %d bytes, want %d", got, logSize)
	}
	var want []string
	for i := range 50 {
		u := fmt.Sprintf("update %d", i)
		if _, err := s.Append(t.Context(), "a", []byte(u)); err != nil {
			t.Fatal(err)
		}
		want = append(want, u)
	}
	if got := size(); got != logSize {
		t.Fatalf("log after 50 Appends: %d bytes, want %d (written within)", got, logSize)
	}

	crash := filepath.Join(dir, "crash.db")
	writeFile(t, crash, readFile(t, path))
	writeFile(t, crash+"-wal", readFile(t, path+"-wal"))
	c := openT(t, crash, Options{})
	if got, err := loadUpdates(c, "a"); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after the crash: %q, %v; want %q", got, err, want)
	}
}
