package e2e

import "syscall"

// childAttr: the child is killed if the test process dies (a panic, a
// -timeout), so that no collabd or node outlives the tests; group puts it
// in its own process group, which the tests kill as a whole.
func childAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
}
