//go:build unix && !linux

package e2e

import "syscall"

// childAttr: group puts the child in its own process group, which the
// tests kill as a whole.
func childAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}
