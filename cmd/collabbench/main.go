// Command collabbench is a load tool for collabd. It opens WebSocket clients
// over a number of rooms of a running collabd (or of one it starts itself),
// speaks the y-websocket protocol as stock clients do, replays a real
// editing trace as Yjs updates and sends presence (awareness) updates at set
// rates, and reports:
//
//   - delivered updates per second;
//   - fan-out latency: from a writer handing an update to its socket to each
//     other client of the room receiving the relayed update (matched by the
//     update's bytes, nothing is embedded in it), p50/p90/p99/max;
//   - updates never delivered to some client of their room after a drain
//     period, and clients missing another client's final presence state;
//   - the server's CPU time per delivered message and its resident memory
//     (from /proc/PID), per connection when idle connections are opened.
//
// It connects only to loopback addresses unless -allow-remote is given, and
// every run is bounded by its -warmup, -duration and -drain.
//
// Example (collabd started by the tool, one room, 50 clients, 200 updates/s):
//
//	collabbench -server-cmd "/tmp/collabd -addr 127.0.0.1:8099 -data-dir /tmp/d" \
//	    -url ws://127.0.0.1:8099 -rooms 1 -clients 50 -rate 200 -duration 20s
//
// "collabbench summarize A.json B.json ..." prints the reports that -json
// wrote as one Markdown table. "collabbench fsync -dir DIR" measures the
// latency of write + fdatasync on the disk a store would use; "collabbench
// wake" what it costs a Go program on this machine to wake from idle;
// "collabbench poll -voters 1000" votes/s, tally broadcast latency and
// server CPU of the built-in poll party (poll.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, errChecksFailed):
		fmt.Fprintln(os.Stderr, "collabbench:", err)
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "collabbench:", err)
		os.Exit(1)
	}
}

// errChecksFailed is returned when the run completed but a -check-* target
// (or delivery) was missed.
var errChecksFailed = errors.New("some checks failed")

type config struct {
	url           string
	allowRemote   bool
	clients       int
	rooms         int
	writers       int
	turn          int
	rate          float64
	awarenessRate float64
	duration      time.Duration
	warmup        time.Duration
	drain         time.Duration
	idle          int
	idleRooms     int
	settle        time.Duration
	pid           int
	serverCmd     string
	serverLog     string
	jsonOut       string
	label         string
	tracePath     string
	roomPrefix    string
	token         string
	protocol      protocol
	dialParallel  int
	connTimeout   time.Duration
	seed          uint64

	// -capacity: search for the highest sustained rate (capacity.go).
	capacity   bool
	capStart   float64
	capMax     float64
	capSteps   int
	capRetries int
	capP99     time.Duration

	checkP99        time.Duration
	checkCPUPerMsg  float64 // µs
	checkRSSPerConn float64 // bytes

	args []string // as given, for the report
}

// defaultTrace is the repository's copy of the trace, relative to the
// module root, where the load scripts run the tool.
const defaultTrace = "testdata/automerge-paper.json.gz"

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{args: args}
	fs := flag.NewFlagSet("collabbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:8080", "collabd base URL; clients connect to URL/ws/ROOM. A comma-separated list (the nodes of a cluster) spreads each room's clients over them in turn")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a URL whose host is not a loopback address")
	fs.IntVar(&c.clients, "clients", 10, "active clients in total, spread round-robin over the rooms")
	fs.IntVar(&c.rooms, "rooms", 1, "rooms (documents) under load")
	fs.IntVar(&c.writers, "writers", 1, "clients per room that send document updates, taking turns")
	fs.IntVar(&c.turn, "turn", 20, "consecutive updates a writer sends before the next writer's turn")
	fs.Float64Var(&c.rate, "rate", 20, "document updates per second per room (0: none)")
	fs.Float64Var(&c.awarenessRate, "awareness-rate", 0, "presence updates per second per active client (0: none)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured period")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "load before the measured period (delivery is still checked)")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "longest wait after the load for every update to arrive")
	fs.IntVar(&c.idle, "idle", 0, "idle connections: handshake, then stay open sending nothing")
	fs.IntVar(&c.idleRooms, "idle-rooms", 0, "rooms the idle connections spread over (0: the -rooms rooms)")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "pause after connecting before the server's memory is sampled")
	fs.IntVar(&c.pid, "pid", 0, "PID of the collabd process to sample CPU and memory of")
	fs.StringVar(&c.serverCmd, "server-cmd", "", "start collabd with this command (split on spaces, no shell) and stop it at the end")
	fs.StringVar(&c.serverLog, "server-log", "", "file for the output of -server-cmd (default: discarded)")
	fs.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file (- for stdout)")
	fs.StringVar(&c.label, "label", "", "name of the scenario in the report")
	fs.StringVar(&c.tracePath, "trace", defaultTrace, "editing trace (automerge-paper.json.gz)")
	fs.StringVar(&c.token, "token", "", "collabd token every client sends (?token=), for a server with access control")
	c.protocol = protoYWebsocket
	fs.Var(&c.protocol, "protocol", "wire protocol of the server: y-websocket (collabd, y-websocket's server) or hocuspocus")
	fs.StringVar(&c.roomPrefix, "room-prefix", "", "prefix of room names (default: bench-RANDOM, new rooms each run)")
	fs.IntVar(&c.dialParallel, "dial-parallel", 32, "connections opened at the same time")
	fs.DurationVar(&c.connTimeout, "connect-timeout", 15*time.Second, "time for one connection to open and finish its handshake")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed for client IDs and names (0: random)")
	fs.BoolVar(&c.capacity, "capacity", false, "search for the highest update rate per room the server sustains (ramp, then bisect); -rate is ignored")
	fs.Float64Var(&c.capStart, "capacity-start", 50, "first rate of the capacity search, updates/s per room")
	fs.Float64Var(&c.capMax, "capacity-max", 20000, "highest rate the capacity search tries")
	fs.IntVar(&c.capSteps, "capacity-steps", 4, "bisection steps after the ramp")
	fs.IntVar(&c.capRetries, "capacity-retries", 1, "times a failing capacity step is tried again before it counts as failed")
	fs.DurationVar(&c.capP99, "capacity-p99", 20*time.Millisecond, "fan-out p99 a sustained rate must keep")
	fs.DurationVar(&c.checkP99, "check-p99", 0, "fail unless the p99 fan-out latency is at most this (0: no check)")
	fs.Float64Var(&c.checkCPUPerMsg, "check-cpu-per-msg", 0, "fail unless server CPU per delivered message is at most this many µs (0: no check)")
	fs.Float64Var(&c.checkRSSPerConn, "check-rss-per-conn", 0, "fail unless server RSS per connection is at most this many bytes (0: no check)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: collabbench [flags]\n\nLoad tool for collabd: y-websocket clients replaying a real editing trace.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Upper bounds that keep a run bounded.
const (
	maxConnections = 100_000
	maxRooms       = 10_000
	maxRate        = 100_000
	maxRunTime     = time.Hour
)

func (c *config) validate() error {
	switch {
	case c.clients < 0 || c.idle < 0 || c.clients+c.idle > maxConnections:
		return fmt.Errorf("-clients + -idle must be between 0 and %d", maxConnections)
	case c.clients+c.idle == 0:
		return errors.New("nothing to do: -clients and -idle are both 0")
	case c.rooms < 1 || c.rooms > maxRooms || c.idleRooms < 0 || c.idleRooms > maxRooms:
		return fmt.Errorf("-rooms must be between 1 and %d, -idle-rooms between 0 and %d", maxRooms, maxRooms)
	case c.clients > 0 && c.clients < c.rooms:
		return fmt.Errorf("-clients %d < -rooms %d: some rooms would have no client", c.clients, c.rooms)
	case c.rate < 0 || c.rate > maxRate || c.awarenessRate < 0 || c.awarenessRate > 1000:
		return fmt.Errorf("-rate must be between 0 and %d, -awareness-rate between 0 and 1000", maxRate)
	case c.writers < 1 || c.turn < 1:
		return errors.New("-writers and -turn must be at least 1")
	case c.rate > 0 && c.clients > 0 && c.writers > c.clients/c.rooms:
		return fmt.Errorf("-writers %d: rooms have only %d clients", c.writers, c.clients/c.rooms)
	case c.duration <= 0 || c.warmup < 0 || c.drain < 0 || c.settle < 0 || c.connTimeout <= 0:
		return errors.New("-duration must be positive; -warmup, -drain, -settle not negative; -connect-timeout positive")
	case c.duration+c.warmup+c.drain > maxRunTime:
		return fmt.Errorf("-warmup + -duration + -drain must not exceed %v", maxRunTime)
	case c.dialParallel < 1:
		return errors.New("-dial-parallel must be at least 1")
	case c.capacity && (c.capStart <= 0 || c.capMax < c.capStart || c.capMax > maxRate || c.capSteps < 0 || c.capRetries < 0 || c.capRetries > 5 || c.capP99 <= 0):
		return fmt.Errorf("-capacity: need 0 < -capacity-start <= -capacity-max <= %d, -capacity-steps >= 0, 0 <= -capacity-retries <= 5, -capacity-p99 > 0", maxRate)
	case c.pid != 0 && c.serverCmd != "":
		return errors.New("-pid and -server-cmd exclude each other")
	}
	_, err := c.wsBase()
	return err
}

// wsBase parses -url and returns the base that room names are appended to
// (ws://host:port/ws), the first of a list. It refuses hosts that are not
// loopback addresses unless -allow-remote is set.
func (c *config) wsBase() (*url.URL, error) {
	us, err := c.wsBases()
	if err != nil {
		return nil, err
	}
	return us[0], nil
}

// wsBases parses every URL of -url's comma-separated list.
func (c *config) wsBases() ([]*url.URL, error) {
	var us []*url.URL
	for _, s := range strings.Split(c.url, ",") {
		u, err := c.parseBase(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	return us, nil
}

func (c *config) parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("-url %q: scheme must be ws or wss", s)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("-url %q: give the port", s)
	}
	if !c.allowRemote && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("-url %q: %s is not a loopback address (use -allow-remote to load a remote server)", s, u.Hostname())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("-url %q: no query, fragment or user info", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if u.Path == "" {
		u.Path = "/ws"
	}
	u.RawPath = ""
	return u, nil
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// healthURL is the server's /healthz, for -server-cmd.
func (c *config) healthURL() string {
	u, _ := c.wsBase()
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + u.Host + "/healthz"
}

// roomURL returns the WebSocket URL of a room at the first -url, with the
// -token.
func (c *config) roomURL(name string) string { return c.roomURLs(name)[0] }

// roomURLs returns the room's URL at every -url.
func (c *config) roomURLs(name string) []string {
	us, _ := c.wsBases()
	out := make([]string, 0, len(us))
	for _, u := range us {
		s := u.String() + "/" + url.PathEscape(name)
		if c.token != "" {
			s += "?token=" + url.QueryEscape(c.token)
		}
		out = append(out, s)
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "summarize":
			return summarize(args[1:], stdout)
		case "fsync":
			return fsyncProbe(args[1:], stdout)
		case "wake":
			return wakeProbe(args[1:], stdout)
		case "joinstorm":
			return joinStorm(ctx, args[1:], stdout, stderr)
		case "poll":
			return pollBench(ctx, args[1:], stdout)
		}
	}
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	if c.capacity {
		return runCapacity(ctx, c, stdout, stderr)
	}
	rep, err := runBench(ctx, c, stderr)
	if rep != nil {
		table := stdout
		if c.jsonOut == "-" {
			table = stderr // stdout is for the JSON
		}
		rep.writeTable(table)
		if c.jsonOut != "" {
			if jerr := rep.writeJSON(c.jsonOut, stdout); jerr != nil {
				err = errors.Join(err, jerr)
			}
		}
		if err == nil && !rep.Passed {
			err = errChecksFailed
		}
	}
	return err
}
