package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// fsyncProbe measures the disk the store would use: it writes 4 KiB and
// fdatasyncs, rate times a second, for a while, in a new file under dir,
// and prints the latency distribution and the CPU each write + fdatasync
// costs. collabd relays an update only once the store's commit (the
// embedded store: one write and one fdatasync of its log) is done, so this
// bounds what fan-out latency can be on that disk, and the CPU is what a
// commit costs at least.
func fsyncProbe(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("collabbench fsync", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "directory to write the probe file in")
	duration := fs.Duration("duration", 5*time.Second, "how long to probe (at most a minute)")
	rate := fs.Float64("rate", 200, "writes per second (at most 10000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration <= 0 || *duration > time.Minute || *rate <= 0 || *rate > 10000 {
		return fmt.Errorf("fsync: -duration must be in (0, 1m], -rate in (0, 10000]")
	}
	f, err := os.CreateTemp(*dir, "collabbench-fsync-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	interval := time.Duration(float64(time.Second) / *rate)
	var h hist
	var cpu time.Duration
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= *duration {
			break
		}
		time.Sleep(time.Until(due))
		t, c := time.Now(), selfCPU()
		if _, err := f.WriteAt(buf, int64(i%64)*4096); err != nil {
			return err
		}
		if err := fdatasync(f); err != nil {
			return err
		}
		h.add(int64(time.Since(t)))
		cpu += selfCPU() - c
	}
	fmt.Fprintf(w, "write 4 KiB + fdatasync in %s, %g/s for %v: %s; CPU %.0f µs each\n",
		*dir, *rate, *duration, h.summary(), float64(cpu.Microseconds())/float64(max(h.n, uint64(1))))
	return nil
}
