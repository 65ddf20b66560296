package main

import (
	"os"
	"syscall"
	"time"
)

// selfCPU returns the user + system time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfSwitches is the number of context switches of the process's
// threads so far, voluntary and not.
func selfSwitches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw + ru.Nivcsw
}

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// childAttr makes the kernel send the server SIGTERM if the tool dies
// without stopping it (tied to the thread that started it, which in
// practice lives as long as the process).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
