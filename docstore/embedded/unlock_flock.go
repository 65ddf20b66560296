//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package embedded

import (
	"os"
	"syscall"
)

// unlockFile releases bbolt's flock on f. Closing f is not enough when bbolt
// has mapped it: the mapping keeps the open file, and with it the lock,
// alive.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
