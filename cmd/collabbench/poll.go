package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// pollBench is "collabbench poll": the built-in poll party (parties/poll)
// under N voters, each a WebSocket client speaking its JSON protocol as
// partysocket would carry it. A presenter creates a poll of four options;
// then, -rounds times, every voter votes at once (a new option each round,
// so from the second round on every vote moves), and the tool measures
//
//   - votes/s: the round's votes over the time from its first send to the
//     last voter's "voted" answer (the vote is stored and counted);
//   - broadcast latency: per voter, its send to the first tally broadcast
//     it receives after its answer (the one that counts its vote);
//     p50/p99/max over all voters and rounds;
//   - the server's CPU per vote (with -server-cmd, from /proc);
//
// and checks that the presenter's last tally of each round is exact.
//
// A single address opens all the connections: run collabd with
// --max-conns-per-ip 0 and --max-conns-per-room above N.
func pollBench(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("collabbench poll", flag.ContinueOnError)
	base := fs.String("url", "ws://127.0.0.1:8080", "collabd's WebSocket base URL")
	voters := fs.Int("voters", 1000, "voters (1 to 20000)")
	rounds := fs.Int("rounds", 3, "rounds of votes (1 to 100)")
	room := fs.String("room", "", "poll room (default: a new one)")
	serverCmd := fs.String("server-cmd", "", "start this collabd (split on spaces) and measure its CPU")
	serverLog := fs.String("server-log", "", "file for the started server's output")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *voters < 1 || *voters > 20000 || *rounds < 1 || *rounds > 100 {
		return errors.New("poll: -voters must be 1 to 20000, -rounds 1 to 100")
	}
	u, err := url.Parse(*base)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Errorf("poll: -url %q: want ws://HOST:PORT", *base)
	}
	if *room == "" {
		*room = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	}
	var sp *serverProc
	if *serverCmd != "" {
		health := "http://" + u.Host + "/healthz"
		if sp, err = startServer(ctx, *serverCmd, *serverLog, health, 20*time.Second); err != nil {
			return err
		}
		defer sp.stop(10 * time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	roomURL := strings.TrimRight(*base, "/") + "/parties/poll/" + url.PathEscape(*room) + "?_pk="

	presenter, err := dialPoll(ctx, roomURL+"presenter")
	if err != nil {
		return err
	}
	defer presenter.ws.CloseNow()
	const options = 4
	presenter.send(ctx, map[string]any{"type": "create", "question": "Which?", "options": []string{"a", "b", "c", "d"}})
	if _, err := presenter.await(ctx, func(m pollMsg) bool { return m.Type == "poll" && m.Poll != nil }); err != nil {
		return fmt.Errorf("creating the poll: %w", err)
	}

	vs := make([]*pollClient, *voters)
	var wg sync.WaitGroup
	errs := make(chan error, *voters)
	sem := make(chan struct{}, 64) // dial at most 64 at once
	for i := range vs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dialPoll(ctx, fmt.Sprintf("%svoter-%d", roomURL, i))
			if err != nil {
				errs <- err
				return
			}
			if _, err := c.await(ctx, func(m pollMsg) bool { return m.Type == "poll" }); err != nil {
				errs <- err
				return
			}
			vs[i] = c
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("connecting voters: %w", err)
	}
	defer func() {
		for _, c := range vs {
			c.ws.CloseNow()
		}
	}()

	var lat hist
	var total, tallies int
	var elapsed, cpu time.Duration
	var cpu0 procSample
	if sp != nil {
		cpu0, _ = readProc(sp.pid())
	}
	for r := range *rounds {
		before := presenter.count("tally")
		want := make([]int, options)
		start := time.Now()
		sent := make([]time.Time, len(vs))
		for i, c := range vs {
			o := (i + r) % options
			want[o]++
			sent[i] = time.Now()
			c.send(ctx, map[string]any{"type": "vote", "option": o})
		}
		var mu sync.Mutex
		var last time.Time
		roundLat := make([]int64, len(vs))
		var rerr error
		for i, c := range vs {
			wg.Go(func() {
				o := (i + r) % options
				at, err := c.await(ctx, func(m pollMsg) bool { return m.Type == "voted" && m.Option != nil && *m.Option == o })
				if err == nil {
					var got time.Time
					got, err = c.await(ctx, func(m pollMsg) bool { return m.Type == "tally" })
					roundLat[i] = int64(got.Sub(sent[i]))
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil && rerr == nil {
					rerr = fmt.Errorf("voter %d: %w", i, err)
				}
				if at.After(last) {
					last = at
				}
			})
		}
		wg.Wait()
		if rerr != nil {
			return rerr
		}
		elapsed += last.Sub(start)
		total += len(vs)
		for _, l := range roundLat {
			lat.add(l)
		}
		// The presenter's tally must reach the exact counts.
		wantJSON, _ := json.Marshal(want)
		if _, err := presenter.await(ctx, func(m pollMsg) bool {
			b, _ := json.Marshal(m.Tallies)
			return m.Type == "tally" && string(b) == string(wantJSON) && m.Votes == len(vs)
		}); err != nil {
			return fmt.Errorf("round %d: the presenter never saw the tally %s: %w", r+1, wantJSON, err)
		}
		tallies += presenter.count("tally") - before
	}
	if sp != nil {
		if s, err := readProc(sp.pid()); err == nil {
			cpu = s.CPU - cpu0.CPU
		}
	}
	rep := struct {
		Voters, Rounds, Votes int
		VotesPerSecond        float64 `json:"votes_per_second"`
		Broadcast             latency `json:"broadcast_latency"`
		TallyBroadcasts       int     `json:"tally_broadcasts_seen_by_presenter"`
		ServerCPUPerVoteUs    float64 `json:"server_cpu_per_vote_us,omitempty"`
		ServerCPUSeconds      float64 `json:"server_cpu_s,omitempty"`
	}{Voters: len(vs), Rounds: *rounds, Votes: total, VotesPerSecond: float64(total) / elapsed.Seconds(),
		Broadcast: lat.summary(), TallyBroadcasts: tallies}
	if cpu > 0 {
		rep.ServerCPUSeconds = cpu.Seconds()
		rep.ServerCPUPerVoteUs = float64(cpu.Microseconds()) / float64(total)
	}
	if *jsonOut {
		return json.NewEncoder(w).Encode(rep)
	}
	fmt.Fprintf(w, "poll: %d voters × %d rounds = %d votes, all counted exactly\n", rep.Voters, rep.Rounds, rep.Votes)
	fmt.Fprintf(w, "votes/s %.0f; broadcast latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d tally broadcasts\n",
		rep.VotesPerSecond, rep.Broadcast.P50Ms, rep.Broadcast.P99Ms, rep.Broadcast.MaxMs, rep.TallyBroadcasts)
	if cpu > 0 {
		fmt.Fprintf(w, "server CPU %.2f s, %.0f µs per vote\n", rep.ServerCPUSeconds, rep.ServerCPUPerVoteUs)
	}
	return nil
}

// pollMsg is what the poll party sends.
type pollMsg struct {
	Type    string          `json:"type"`
	Poll    json.RawMessage `json:"poll"`
	Option  *int            `json:"option"`
	Tallies []int           `json:"tallies"`
	Votes   int             `json:"votes"`
	Error   string          `json:"error"`
}

// pollClient is one connection; a goroutine reads its messages into got.
type pollClient struct {
	ws *websocket.Conn

	mu     sync.Mutex
	got    []timedMsg
	read   int // messages await has looked at
	err    error
	notify chan struct{}
}

type timedMsg struct {
	at time.Time
	m  pollMsg
}

func dialPoll(ctx context.Context, u string) (*pollClient, error) {
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, u, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	c := &pollClient{ws: ws, notify: make(chan struct{}, 1)}
	go func() {
		for {
			_, b, err := ws.Read(ctx)
			at := time.Now()
			c.mu.Lock()
			if err != nil {
				c.err = err
			} else {
				var m pollMsg
				if json.Unmarshal(b, &m) == nil {
					c.got = append(c.got, timedMsg{at, m})
				}
			}
			c.mu.Unlock()
			select {
			case c.notify <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return c, nil
}

func (c *pollClient) send(ctx context.Context, v any) {
	b, _ := json.Marshal(v)
	_ = c.ws.Write(ctx, websocket.MessageText, b)
}

// await returns the arrival time of the next message (after those looked
// at before) for which pred holds; an "error" message fails it.
func (c *pollClient) await(ctx context.Context, pred func(pollMsg) bool) (time.Time, error) {
	for {
		c.mu.Lock()
		for ; c.read < len(c.got); c.read++ {
			tm := c.got[c.read]
			if tm.m.Type == "error" {
				c.mu.Unlock()
				return time.Time{}, errors.New("server: " + tm.m.Error)
			}
			if pred(tm.m) {
				c.read++
				c.mu.Unlock()
				return tm.at, nil
			}
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return time.Time{}, err
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func (c *pollClient) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tm := range c.got {
		if tm.m.Type == typ {
			n++
		}
	}
	return n
}
