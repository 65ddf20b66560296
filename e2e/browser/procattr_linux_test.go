package browser

import "syscall"

// childAttr puts a child in its own process group (killed as a whole) and
// has the kernel kill it if the test process dies first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
