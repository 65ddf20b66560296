//go:build !linux

package embedded

import "os"

// datasync flushes f's data; elsewhere than on Linux with a full fsync.
func datasync(f *os.File) error { return f.Sync() }

// preallocate does nothing here: the log grows as it is written.
func preallocate(*os.File, int64) {}

// syncDir makes the creation, renaming or removal of files in dir durable
// where the system can sync a directory; where it cannot (Windows), the
// error is ignored: renames there are durable without it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	_ = d.Sync()
	return d.Close()
}
