//go:build unix && !linux

package browser

import "syscall"

// childAttr puts a child in its own process group, killed as a whole.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
