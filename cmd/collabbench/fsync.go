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
// and prints the latency distribution. collabd relays an update only once
// the store's commit (bbolt: page writes and two fdatasyncs) is done, so
// this bounds what fan-out latency can be on that disk.
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
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= *duration {
			break
		}
		time.Sleep(time.Until(due))
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i%64)*4096); err != nil {
			return err
		}
		if err := fdatasync(f); err != nil {
			return err
		}
		h.add(int64(time.Since(t)))
	}
	fmt.Fprintf(w, "write 4 KiB + fdatasync in %s, %g/s for %v: %s\n", *dir, *rate, *duration, h.summary())
	return nil
}
