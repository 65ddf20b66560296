package main

import (
	"flag"
	"fmt"
	"io"
	"time"
)

// wakeProbe measures what it costs a Go program on this machine to wake up
// from idle: it sleeps for interval, count times, doing nothing else, and
// prints the process's CPU and context switches per wake.
//
// A server relaying a few thousand updates a second spends most of its
// time idle between them, so every update starts with such a wake-up: the
// runtime's poller thread returns, an idle P's thread is started to look
// for more work (and goes back to sleep), and the sysmon thread is woken
// and polls for a while. On a virtual machine each of those context
// switches costs tens of µs, and how many depends on the host's load, so
// the load runs' CPU per delivered frame moves with it from day to day
// (bench/load/README.md); this probe, run beside them, shows by how much.
func wakeProbe(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("collabbench wake", flag.ContinueOnError)
	interval := fs.Duration("interval", 5*time.Millisecond, "time asleep before each wake (1 µs to 1 s)")
	count := fs.Int("count", 1000, "wakes to measure (1 to 100000; at most a minute in all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval < time.Microsecond || *interval > time.Second || *count < 1 || *count > 100000 ||
		time.Duration(*count)**interval > time.Minute {
		return fmt.Errorf("wake: -interval must be in [1µs, 1s], -count in [1, 100000], and together at most a minute")
	}
	time.Sleep(*interval) // the first wake starts the runtime's threads
	cpu0, sw0 := selfCPU(), selfSwitches()
	start := time.Now()
	for range *count {
		time.Sleep(*interval)
	}
	elapsed := time.Since(start)
	cpu, sw := selfCPU()-cpu0, selfSwitches()-sw0
	fmt.Fprintf(w, "%d wakes after %v asleep (%v in all): CPU %.1f µs and %.1f context switches per wake\n",
		*count, *interval, elapsed.Round(time.Millisecond),
		float64(cpu.Nanoseconds())/1e3/float64(*count), float64(sw)/float64(*count))
	return nil
}
