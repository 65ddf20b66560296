//go:build !linux

package main

import (
	"os"
	"syscall"
	"time"
)

func selfCPU() time.Duration { return 0 }

func selfSwitches() int64 { return 0 }

// The tool reads /proc and is meant for Linux; elsewhere it builds, and
// sampling the server reports errors.

func fdatasync(f *os.File) error { return f.Sync() }

func childAttr() *syscall.SysProcAttr { return nil }
