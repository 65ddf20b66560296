package embedded

import (
	"os"
	"syscall"
)

// datasync flushes f's data and the metadata needed to read it back (its
// size), but not its times: that is all the log needs.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// preallocate reserves the first n bytes of f on disk, if the file system
// can: f's size becomes at least n and the new bytes read as zeros. The log
// is written within that space, so an append neither grows the file nor
// allocates blocks, and the fdatasync after it has less metadata to
// journal (on ext4, only marking preallocated extents as written): on this
// project's machines, a 200-byte write + fdatasync costs 40 µs of CPU
// instead of 64, and takes 83 µs instead of 126 (median; writing zeros
// into the file first instead measured 46 µs). scanLog reads the zeros after the last
// record as an empty tail. Preallocation is an optimisation only: where it
// fails (no space, no support), the log grows as it is written.
func preallocate(f *os.File, n int64) {
	for {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, n); err != syscall.EINTR {
			return
		}
	}
}

// syncDir makes the creation, renaming or removal of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
