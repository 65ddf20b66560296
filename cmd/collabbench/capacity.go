package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Capacity mode (-capacity) searches for the highest offered update rate a
// server sustains: every update delivered to every client, no connection
// closed, fan-out p99 within -capacity-p99, and the tool really offering
// the rate (at least 95% of it sent in the window). It ramps by doubling
// from -capacity-start until a step fails or -capacity-max passes, then
// bisects (geometrically) between the last pass and the first failure for
// -capacity-steps more steps; a failing step is tried again up to
// -capacity-retries times. Every step is a whole run of its own: a new
// server from -server-cmd (when given), new rooms, warmup, hold for
// -duration, drain. This is the figure hardware is bought by; fixed-rate
// runs measure the cost per frame at a rate far below it.

// capacityStep is one step of the search.
type capacityStep struct {
	Rate         float64 `json:"updates_per_sec_per_room"`
	Passed       bool    `json:"passed"`
	Why          string  `json:"why,omitempty"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	CPUPerMsgUs  float64 `json:"cpu_us_per_delivered_message"`
	ServerCPUPct float64 `json:"server_cpu_percent"`
	BenchCPUPct  float64 `json:"bench_cpu_percent"`
	OtherCores   float64 `json:"other_cores"`
	Undelivered  int     `json:"undelivered"`
	OfferedShare float64 `json:"offered_share"` // updates sent in the window / nominal
}

type capacityReport struct {
	Label      string   `json:"label"`
	Args       []string `json:"args"`
	Started    string   `json:"started"`
	Rooms      int      `json:"rooms"`
	Clients    int      `json:"clients"`
	P99LimitMs float64  `json:"p99_limit_ms"`
	// The highest passing rate, per room and over all rooms (0: no step
	// passed), and that step's figures.
	PerRoom    float64        `json:"capacity_updates_per_sec_per_room"`
	Total      float64        `json:"capacity_updates_per_sec"`
	AtCapacity *capacityStep  `json:"at_capacity,omitempty"`
	Steps      []capacityStep `json:"steps"`
}

// minOfferedShare is how much of the nominal rate a step must really send
// for its result to count: below it the tool, not the server, is the limit.
const minOfferedShare = 0.95

func runCapacity(ctx context.Context, c *config, stdout, stderr io.Writer) error {
	rep := &capacityReport{
		Label: c.label, Args: c.args, Started: time.Now().UTC().Format(time.RFC3339),
		Rooms: c.rooms, Clients: c.clients, P99LimitMs: ms(int64(c.capP99)),
	}
	step := func(rate float64) (bool, error) {
		sc := *c
		sc.rate = rate
		sc.checkP99 = c.capP99
		sc.jsonOut = ""
		if c.roomPrefix != "" {
			sc.roomPrefix = fmt.Sprintf("%s-%d", c.roomPrefix, len(rep.Steps))
		}
		fmt.Fprintf(stderr, "collabbench: capacity step %d: %.0f updates/s per room\n", len(rep.Steps)+1, rate)
		r, err := runBench(ctx, &sc, io.Discard)
		if r == nil {
			return false, err // the server did not start, or setup failed: no figure
		}
		s := capacityStep{
			Rate: rate, P50Ms: r.Fanout.P50Ms, P99Ms: r.Fanout.P99Ms,
			CPUPerMsgUs: r.Server.CPUPerMsgUs, ServerCPUPct: r.Server.CPUPercent,
			OtherCores:  r.Machine.OtherCores,
			Undelivered: r.Updates.Undelivered + r.Updates.UndeliveredToClosed,
		}
		if r.Window.Seconds > 0 {
			s.BenchCPUPct = 100 * r.Bench.CPUSeconds / r.Window.Seconds
			s.OfferedShare = float64(r.Updates.SentInWindow) / (rate * float64(c.rooms) * r.Window.Seconds)
		}
		s.Passed = err == nil && r.Passed && s.OfferedShare >= minOfferedShare
		switch {
		case err != nil:
			s.Why = err.Error()
		case s.OfferedShare < minOfferedShare:
			s.Why = fmt.Sprintf("the tool sent only %.0f%% of the rate", 100*s.OfferedShare)
		case !r.Passed:
			for _, ch := range r.Checks {
				if !ch.Pass {
					s.Why = fmt.Sprintf("%s: %s (want %s)", ch.Name, ch.Got, ch.Want)
					break
				}
			}
			if s.Why == "" && len(r.Errors) > 0 {
				s.Why = r.Errors[0]
			}
		}
		rep.Steps = append(rep.Steps, s)
		verdict := "pass"
		if !s.Passed {
			verdict = "FAIL: " + s.Why
		}
		fmt.Fprintf(stderr, "collabbench:   p99 %.2f ms, %.2f µs/frame, server %.0f%% of a core: %s\n", s.P99Ms, s.CPUPerMsgUs, s.ServerCPUPct, verdict)
		if s.Passed && rate > rep.PerRoom {
			rep.PerRoom = rate
			rep.AtCapacity = &rep.Steps[len(rep.Steps)-1]
		}
		return s.Passed, ctx.Err()
	}

	// A step that fails is tried again (-capacity-retries): on a shared
	// machine one burst of other work can push a p99 over the limit, and a
	// search that stops at the first failure would report that burst, not
	// the server. A rate counts as sustained if any of its tries passes.
	try := func(rate float64) (bool, error) {
		for i := 0; ; i++ {
			ok, err := step(rate)
			if ok || err != nil || i >= c.capRetries {
				return ok, err
			}
		}
	}
	lo, hi := 0.0, 0.0 // last passing and first failing rate
	for rate := c.capStart; ; rate *= 2 {
		rate = math.Min(rate, c.capMax)
		ok, err := try(rate)
		if err != nil {
			return errors.Join(err, rep.write(c, stdout))
		}
		if !ok {
			hi = rate
			break
		}
		lo = rate
		if rate >= c.capMax {
			break
		}
	}
	for i := 0; i < c.capSteps && hi > 0 && lo > 0 && hi/lo > 1.05; i++ {
		mid := math.Round(math.Sqrt(lo * hi))
		ok, err := try(mid)
		if err != nil {
			return errors.Join(err, rep.write(c, stdout))
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	// A pointer into Steps may have moved with appends: take it again.
	for i := range rep.Steps {
		if rep.Steps[i].Passed && rep.Steps[i].Rate == rep.PerRoom {
			rep.AtCapacity = &rep.Steps[i]
		}
	}
	rep.Total = rep.PerRoom * float64(c.rooms)
	return rep.write(c, stdout)
}

func (r *capacityReport) write(c *config, stdout io.Writer) error {
	fmt.Fprintf(stdout, "== collabbench capacity ==\n")
	fmt.Fprintf(stdout, "load               %d clients, %d rooms; limits: fan-out p99 <= %.0f ms, all delivered\n", r.Clients, r.Rooms, r.P99LimitMs)
	for i, s := range r.Steps {
		v := "pass"
		if !s.Passed {
			v = "fail: " + s.Why
		}
		fmt.Fprintf(stdout, "step %-2d %8.0f/s/room  p50 %6.2f ms  p99 %7.2f ms  %7.2f µs/frame  server %4.0f%%  tool %4.0f%%  %s\n",
			i+1, s.Rate, s.P50Ms, s.P99Ms, s.CPUPerMsgUs, s.ServerCPUPct, s.BenchCPUPct, v)
	}
	if r.PerRoom > 0 {
		fmt.Fprintf(stdout, "capacity           %.0f updates/s per room, %.0f in all\n", r.PerRoom, r.PerRoom*float64(r.Rooms))
	} else {
		fmt.Fprintf(stdout, "capacity           none: the first step failed\n")
	}
	if c.jsonOut == "" {
		return nil
	}
	return writeJSON(c.jsonOut, r, stdout)
}
