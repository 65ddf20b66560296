package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (the kernel fixes it for the ABI).
const clockTicks = 100

// procSample is what /proc says about a process at one moment.
type procSample struct {
	CPU     time.Duration // user + system time so far
	RSS     int64         // resident set size, bytes
	Threads int
}

func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	rss, threads, err := parseStatus(status)
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return procSample{CPU: cpu, RSS: rss, Threads: threads}, nil
}

// parseStatCPU returns utime + stime from the contents of /proc/PID/stat.
// The command name (field 2) is in parentheses and may contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * (time.Second / clockTicks), nil
}

// parseStatus returns VmRSS (in bytes) and Threads from the contents of
// /proc/PID/status.
func parseStatus(status []byte) (rss int64, threads int, err error) {
	foundRSS := false
	for line := range strings.Lines(string(status)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "VmRSS":
			num, unit, _ := strings.Cut(val, " ")
			kb, err := strconv.ParseInt(num, 10, 64)
			if err != nil || strings.TrimSpace(unit) != "kB" {
				return 0, 0, fmt.Errorf("bad VmRSS %q", val)
			}
			rss, foundRSS = kb<<10, true
		case "Threads":
			if threads, err = strconv.Atoi(val); err != nil {
				return 0, 0, fmt.Errorf("bad Threads %q", val)
			}
		}
	}
	if !foundRSS {
		return 0, 0, errors.New("no VmRSS (a kernel thread or a zombie?)")
	}
	return rss, threads, nil
}

// serverProc is a collabd started by the tool (--server-cmd).
type serverProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before exited is closed
	log    io.Closer
}

// startServer starts command (split on white space, no shell) with its
// output going to logPath (discarded if empty), and waits until
// healthURL answers 200.
func startServer(ctx context.Context, command, logPath, healthURL string, timeout time.Duration) (*serverProc, error) {
	args := strings.Fields(command)
	if len(args) == 0 {
		return nil, errors.New("empty --server-cmd")
	}
	// A server already listening there would answer the health check in
	// place of ours (which would then fail to listen, unnoticed).
	if u, err := url.Parse(healthURL); err == nil {
		if ln, err := net.Listen("tcp", u.Host); err != nil {
			return nil, fmt.Errorf("%s is not free for the server to start: %w", u.Host, err)
		} else {
			ln.Close()
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = childAttr()
	sp := &serverProc{cmd: cmd, exited: make(chan struct{})}
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr, sp.log = f, f, f
	}
	if err := cmd.Start(); err != nil {
		if sp.log != nil {
			sp.log.Close()
		}
		return nil, fmt.Errorf("starting server: %w", err)
	}
	go func() {
		sp.err = cmd.Wait()
		close(sp.exited)
	}()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
		if err != nil {
			sp.stop(time.Second)
			return nil, err
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				select {
				case <-sp.exited:
					return nil, fmt.Errorf("server exited: %v", sp.err)
				default:
					return sp, nil
				}
			}
		}
		select {
		case <-sp.exited:
			return nil, fmt.Errorf("server exited before it was healthy: %v", sp.err)
		case <-ctx.Done():
			sp.stop(5 * time.Second)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			sp.stop(5 * time.Second)
			return nil, fmt.Errorf("server not healthy at %s after %v", healthURL, timeout)
		}
	}
}

func (sp *serverProc) pid() int { return sp.cmd.Process.Pid }

// stop sends SIGTERM, waits up to grace for the process to exit, then
// kills it. It returns the process's exit error, if it exited on its own
// terms with one.
func (sp *serverProc) stop(grace time.Duration) error {
	defer func() {
		if sp.log != nil {
			sp.log.Close()
		}
	}()
	select {
	case <-sp.exited:
		return sp.err
	default:
	}
	_ = sp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sp.exited:
		return sp.err
	case <-time.After(grace):
	}
	_ = sp.cmd.Process.Kill()
	<-sp.exited
	return fmt.Errorf("server did not stop within %v after SIGTERM; killed", grace)
}

// machineSample is the machine-wide CPU time from /proc/stat.
type machineSample struct {
	Busy  time.Duration // all CPUs, everything but idle and iowait
	Steal time.Duration
}

func readMachine() (machineSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineSample{}, err
	}
	return parseMachineStat(b)
}

// parseMachineStat reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal (guest time is already in user).
func parseMachineStat(b []byte) (machineSample, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineSample{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var v [8]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return machineSample{}, fmt.Errorf("/proc/stat: %w", err)
		}
		v[i] = n
	}
	tick := time.Second / clockTicks
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return machineSample{Busy: time.Duration(busy) * tick, Steal: time.Duration(v[7]) * tick}, nil
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
