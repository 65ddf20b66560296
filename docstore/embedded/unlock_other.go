//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package embedded

import "os"

// unlockFile does nothing here: on these systems bbolt's lock goes with the
// file handle.
func unlockFile(*os.File) {}
