package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the result of a run, as printed and as written in JSON.
type report struct {
	Label   string   `json:"label"`
	Args    []string `json:"args"`
	Started string   `json:"started"`
	Machine struct {
		CPUs       int    `json:"cpus"`
		GoMaxProcs int    `json:"gomaxprocs"`
		GoVersion  string `json:"go_version"`
		// CPU use of the whole machine during the window, in cores: all of
		// it, and what neither the server nor this tool used (other
		// processes: noise).
		BusyCores    float64 `json:"busy_cores"`
		OtherCores   float64 `json:"other_cores"`
		StealCores   float64 `json:"steal_cores"`
		LoadAvgStart string  `json:"loadavg_start"`
		LoadAvgEnd   string  `json:"loadavg_end"`
	} `json:"machine"`
	Config struct {
		Rooms         int     `json:"rooms"`
		Writers       int     `json:"writers_per_room"`
		Rate          float64 `json:"updates_per_sec_per_room"`
		AwarenessRate float64 `json:"awareness_hz_per_client"`
		WarmupSec     float64 `json:"warmup_sec"`
		DurationSec   float64 `json:"duration_sec"`
		DrainSec      float64 `json:"drain_sec"`
	} `json:"config"`
	Clients int `json:"clients"`
	Idle    int `json:"idle"`

	Connect struct {
		Seconds          float64        `json:"seconds"`
		Failed           int            `json:"failed"`
		ClosedEarly      int            `json:"closed_early"`
		CloseReasons     map[string]int `json:"close_reasons,omitempty"`
		SyncStep2        int            `json:"sync_step2_received"`
		PermissionDenied int            `json:"permission_denied"`
	} `json:"connections"`

	Window struct {
		Seconds         float64 `json:"seconds"`
		FramesDelivered int64   `json:"frames_delivered"`
		FramesPerSec    float64 `json:"frames_per_sec"`
	} `json:"window"`

	Updates struct {
		Generated           int     `json:"generated"`
		Sent                int     `json:"sent"`
		SentInWindow        int     `json:"sent_in_window"`
		SendFailed          int     `json:"send_failed"`
		Delivered           int     `json:"delivered"`
		WindowDelivered     int64   `json:"window_delivered"`
		DeliveredPerSec     float64 `json:"delivered_per_sec"`
		Undelivered         int     `json:"undelivered"`
		UndeliveredToClosed int     `json:"undelivered_to_closed"`
		Duplicates          int     `json:"duplicates"`
		Unknown             int     `json:"unknown"`
		MergedRelays        int     `json:"merged_relays"` // server relays that merged several updates
		NoopRelays          int     `json:"noop_relays"`
	} `json:"updates"`
	Fanout latency `json:"fanout_latency"`
	Echo   latency `json:"echo_latency"`

	Presence struct {
		Sent             int     `json:"sent"`
		EntriesDelivered int     `json:"entries_delivered"`
		WindowDelivered  int64   `json:"window_messages_delivered"`
		Latency          latency `json:"latency"`
		ViewsChecked     int     `json:"views_checked"`
		FinalMismatches  int     `json:"final_mismatches"`
	} `json:"awareness"`

	DrainSeconds float64 `json:"drain_seconds"`

	Server struct {
		PID             int     `json:"pid"`
		CPUSeconds      float64 `json:"cpu_seconds"`
		CPUPercent      float64 `json:"cpu_percent"`
		CPUPerMsgUs     float64 `json:"cpu_us_per_delivered_message"`
		RSSBeforeKB     int64   `json:"rss_before_kb"`
		RSSConnectedKB  int64   `json:"rss_connected_kb"`
		RSSEndKB        int64   `json:"rss_end_kb"`
		RSSPerConnBytes float64 `json:"rss_per_connection_bytes"`
		ThreadsEnd      int     `json:"threads_end"`
	} `json:"server"`

	Bench struct {
		CPUSeconds     float64 `json:"cpu_seconds"`
		PacerLateMaxMs float64 `json:"pacer_late_max_ms"`
		SendErrors     int64   `json:"send_errors"`
	} `json:"bench"`

	Errors []string `json:"errors,omitempty"`
	Checks []check  `json:"checks"`
	Passed bool     `json:"passed"`
}

// check is one target the run is held to.
type check struct {
	Name  string `json:"name"`
	Got   string `json:"got"`
	Want  string `json:"want"`
	Pass  bool   `json:"pass"`
	Value any    `json:"value"`
}

func newReport(cfg *config) *report {
	r := &report{Label: cfg.label, Args: cfg.args, Started: time.Now().UTC().Format(time.RFC3339)}
	r.Machine.CPUs = runtime.NumCPU()
	r.Machine.GoVersion = runtime.Version()
	r.Config.Rooms = cfg.rooms
	r.Config.Writers = cfg.writers
	r.Config.Rate = cfg.rate
	r.Config.AwarenessRate = cfg.awarenessRate
	r.Config.WarmupSec = cfg.warmup.Seconds()
	r.Config.DurationSec = cfg.duration.Seconds()
	r.Config.DrainSec = cfg.drain.Seconds()
	return r
}

// finish evaluates the checks.
func (r *report) finish(cfg *config) {
	add := func(name string, pass bool, got, want string, value any) {
		r.Checks = append(r.Checks, check{Name: name, Got: got, Want: want, Pass: pass, Value: value})
	}
	add("connections opened and synced", r.Connect.Failed == 0,
		fmt.Sprint(r.Clients+r.Idle-r.Connect.Failed), fmt.Sprint(r.Clients+r.Idle), r.Connect.Failed)
	add("no connection closed by the server", r.Connect.ClosedEarly == 0,
		fmt.Sprint(r.Connect.ClosedEarly), "0", r.Connect.ClosedEarly)
	if r.Updates.Generated > 0 {
		add("every update delivered to every client", r.Updates.Undelivered+r.Updates.UndeliveredToClosed == 0 && r.Updates.SendFailed == 0,
			fmt.Sprintf("%d undelivered (+%d to closed clients), %d not sent", r.Updates.Undelivered, r.Updates.UndeliveredToClosed, r.Updates.SendFailed),
			"0", r.Updates.Undelivered+r.Updates.UndeliveredToClosed)
	}
	if cfg.checkP99 > 0 {
		want := ms(int64(cfg.checkP99))
		add("p99 fan-out latency", r.Fanout.Count > 0 && r.Fanout.P99Ms <= want,
			fmt.Sprintf("%.2f ms", r.Fanout.P99Ms), fmt.Sprintf("<= %.2f ms", want), r.Fanout.P99Ms)
	}
	if cfg.checkCPUPerMsg > 0 {
		add("server CPU per delivered message", r.Server.PID != 0 && r.Server.CPUSeconds > 0 && r.Server.CPUPerMsgUs <= cfg.checkCPUPerMsg,
			fmt.Sprintf("%.2f µs", r.Server.CPUPerMsgUs), fmt.Sprintf("<= %g µs", cfg.checkCPUPerMsg), r.Server.CPUPerMsgUs)
	}
	if cfg.checkRSSPerConn > 0 {
		add("server RSS per connection", r.Server.PID != 0 && r.Server.RSSBeforeKB > 0 && r.Server.RSSConnectedKB > 0 && r.Server.RSSPerConnBytes <= cfg.checkRSSPerConn,
			fmt.Sprintf("%.0f B", r.Server.RSSPerConnBytes), fmt.Sprintf("<= %.0f B", cfg.checkRSSPerConn), r.Server.RSSPerConnBytes)
	}
	if cfg.awarenessRate > 0 {
		add("every client has every other client's final presence", r.Presence.FinalMismatches == 0 && r.Presence.ViewsChecked > 0,
			fmt.Sprintf("%d of %d views stale", r.Presence.FinalMismatches, r.Presence.ViewsChecked), "0 stale", r.Presence.FinalMismatches)
	}
	r.Passed = len(r.Errors) == 0
	for _, c := range r.Checks {
		r.Passed = r.Passed && c.Pass
	}
}

func (r *report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	title := r.Label
	if title == "" {
		title = "collabbench"
	}
	fmt.Fprintf(tw, "== %s ==\n", title)
	load := fmt.Sprintf("%d clients + %d idle, %d rooms", r.Clients, r.Idle, r.Config.Rooms)
	if r.Config.Rate > 0 {
		load += fmt.Sprintf(", %d writer(s)/room, %g updates/s/room", r.Config.Writers, r.Config.Rate)
	}
	if r.Config.AwarenessRate > 0 {
		load += fmt.Sprintf(", %g Hz presence/client", r.Config.AwarenessRate)
	}
	row("load", "%s", load)
	row("timing", "warmup %gs, measured %.1fs, drain %.2fs (limit %gs), connect %.2fs",
		r.Config.WarmupSec, r.Window.Seconds, r.DrainSeconds, r.Config.DrainSec, r.Connect.Seconds)
	if r.Updates.Generated > 0 {
		row("updates sent", "%d (%d in window, %d failed)", r.Updates.Sent, r.Updates.SentInWindow, r.Updates.SendFailed)
		row("updates delivered", "%d (%.0f/s in window, echo included)", r.Updates.Delivered, r.Updates.DeliveredPerSec)
		row("undelivered", "%d (+%d to clients closed early)", r.Updates.Undelivered, r.Updates.UndeliveredToClosed)
		row("fan-out latency", "%s", r.Fanout)
		row("echo latency", "%s", r.Echo)
	}
	if r.Updates.Duplicates+r.Updates.Unknown+r.Updates.NoopRelays+r.Updates.MergedRelays > 0 {
		row("other updates", "%d duplicates, %d unknown, %d empty (no-op) relays, %d merged relays", r.Updates.Duplicates, r.Updates.Unknown, r.Updates.NoopRelays, r.Updates.MergedRelays)
	}
	if r.Presence.Sent > 0 {
		row("presence", "%d sent, %d entries delivered", r.Presence.Sent, r.Presence.EntriesDelivered)
		row("presence latency", "%s", r.Presence.Latency)
		row("final presence", "%d of %d views stale", r.Presence.FinalMismatches, r.Presence.ViewsChecked)
	}
	row("frames delivered", "%d in window (%.0f/s)", r.Window.FramesDelivered, r.Window.FramesPerSec)
	if r.Server.PID != 0 {
		row("server CPU", "%.2fs in window (%.0f%% of a core), %.2f µs per delivered frame",
			r.Server.CPUSeconds, r.Server.CPUPercent, r.Server.CPUPerMsgUs)
		rss := fmt.Sprintf("%s before connecting, %s connected, %s at end",
			kb(r.Server.RSSBeforeKB), kb(r.Server.RSSConnectedKB), kb(r.Server.RSSEndKB))
		if r.Idle > 0 {
			rss += fmt.Sprintf("; %.0f B per connection", r.Server.RSSPerConnBytes)
		}
		row("server RSS", "%s", rss)
	}
	row("load tool", "%.2fs CPU in window, pacer late by up to %.2f ms, %d send errors",
		r.Bench.CPUSeconds, r.Bench.PacerLateMaxMs, r.Bench.SendErrors)
	row("machine", "%d CPUs, %.2f cores busy in window, %.2f of them other processes, steal %.2f; loadavg %s -> %s",
		r.Machine.CPUs, r.Machine.BusyCores, r.Machine.OtherCores, r.Machine.StealCores, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	if r.Connect.Failed+r.Connect.ClosedEarly > 0 {
		row("connections", "%d failed, %d closed early %s", r.Connect.Failed, r.Connect.ClosedEarly, formatReasons(r.Connect.CloseReasons))
	}
	for _, e := range r.Errors {
		row("error", "%s", e)
	}
	for _, c := range r.Checks {
		mark := "PASS"
		if !c.Pass {
			mark = "FAIL"
		}
		row("check", "%s  %s: %s (want %s)", mark, c.Name, c.Got, c.Want)
	}
	tw.Flush()
}

func (l latency) String() string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f (mean %.2f, %d samples)",
		l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.MeanMs, l.Count)
}

func kb(v int64) string {
	if v >= 10<<10 {
		return fmt.Sprintf("%.1f MiB", float64(v)/1024)
	}
	return fmt.Sprintf("%d KiB", v)
}

func formatReasons(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "[%s: %d]", k, m[k])
	}
	return b.String()
}

// writeJSON writes the report to path, or to stdout for "-".
func (r *report) writeJSON(path string, stdout io.Writer) error { return writeJSON(path, r, stdout) }

// writeJSON writes v as indented JSON to the file at path, or to stdout
// if path is "-".
func writeJSON(path string, v any, stdout io.Writer) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// summarize prints the JSON reports in paths as one Markdown table.
func summarize(paths []string, w io.Writer) error {
	if len(paths) == 0 {
		return fmt.Errorf("summarize: no report files")
	}
	var reports []*report
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r := new(report)
		if err := json.Unmarshal(b, r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		reports = append(reports, r)
	}
	fmt.Fprintln(w, "| scenario | load | delivered updates/s | fan-out p50 / p99 / max (ms) | undelivered | presence views stale | closed by server | server CPU µs/frame | server RSS/conn | other load (cores) | checks |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range reports {
		load := fmt.Sprintf("%d clients, %d rooms", r.Clients, r.Config.Rooms)
		if r.Idle > 0 {
			load = fmt.Sprintf("%d idle, %d rooms", r.Idle, r.Config.Rooms)
			if r.Clients > 0 {
				load = fmt.Sprintf("%d clients + %d idle, %d rooms", r.Clients, r.Idle, r.Config.Rooms)
			}
		}
		if r.Config.Rate > 0 {
			load += fmt.Sprintf(", %g upd/s/room", r.Config.Rate)
		}
		if r.Config.AwarenessRate > 0 {
			load += fmt.Sprintf(", %g Hz presence/client", r.Config.AwarenessRate)
		}
		dash := func(ok bool, s string) string {
			if !ok {
				return "–"
			}
			return s
		}
		updates := r.Updates.Generated > 0
		presence := r.Config.AwarenessRate > 0
		var failed []string
		for _, c := range r.Checks {
			if !c.Pass {
				failed = append(failed, c.Name)
			}
		}
		checks := "all pass"
		if len(failed) > 0 {
			checks = "FAIL: " + strings.Join(failed, "; ")
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s | %s | %.2f | %s |\n",
			r.Label, load,
			dash(updates, fmt.Sprintf("%.0f", r.Updates.DeliveredPerSec)),
			dash(updates && r.Fanout.Count > 0, fmt.Sprintf("%.2f / %.2f / %.2f", r.Fanout.P50Ms, r.Fanout.P99Ms, r.Fanout.MaxMs)),
			dash(updates, fmt.Sprintf("%d (+%d to closed)", r.Updates.Undelivered, r.Updates.UndeliveredToClosed)),
			dash(presence, fmt.Sprintf("%d / %d", r.Presence.FinalMismatches, r.Presence.ViewsChecked)),
			r.Connect.ClosedEarly,
			dash(r.Window.FramesDelivered > 0 && r.Server.PID != 0, fmt.Sprintf("%.1f", r.Server.CPUPerMsgUs)),
			dash(r.Idle > 0 && r.Server.PID != 0, fmt.Sprintf("%.1f KB", r.Server.RSSPerConnBytes/1000)),
			r.Machine.OtherCores, checks)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | check | measured | target | |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range reports {
		for _, c := range r.Checks {
			mark := "PASS"
			if !c.Pass {
				mark = "**FAIL**"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Label, c.Name, c.Got, c.Want, mark)
		}
	}
	return nil
}
