package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 150, stime 50 ticks.
	stat := "4242 (coll abd) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 0 0 20 0 7 0 100 2000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * time.Second; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 x 1"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tcollabd\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t    8000 kB\nThreads:\t9\n"
	rss, threads, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if rss != 12345*1024 || threads != 9 {
		t.Errorf("rss, threads = %d, %d; want %d, 9", rss, threads, 12345*1024)
	}
	if _, _, err := parseStatus([]byte("Name:\tkthreadd\nThreads:\t1\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
}

func TestParseMachineStat(t *testing.T) {
	got, err := parseMachineStat([]byte("cpu  100 5 20 900 10 1 2 3 0 0\ncpu0 50 2 10 450 5 0 1 1 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (machineSample{Busy: 1310 * time.Millisecond, Steal: 30 * time.Millisecond}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestReadProcSelf reads this process's own /proc entries.
func TestReadProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.Threads <= 0 {
		t.Errorf("sample %+v", s)
	}
	if _, err := readMachine(); err != nil {
		t.Error(err)
	}
}

func TestConfigURL(t *testing.T) {
	tests := []struct {
		url    string
		remote bool
		want   string // room URL for room "a b", or the error's text
		ok     bool
	}{
		{"ws://127.0.0.1:8080", false, "ws://127.0.0.1:8080/ws/a%20b", true},
		{"ws://127.0.0.1:8080/", false, "ws://127.0.0.1:8080/ws/a%20b", true},
		{"ws://localhost:8080/ws", false, "ws://localhost:8080/ws/a%20b", true},
		{"ws://[::1]:8080/collab/ws/", false, "ws://[::1]:8080/collab/ws/a%20b", true},
		{"ws://127.0.0.2:8080", false, "ws://127.0.0.2:8080/ws/a%20b", true},
		{"ws://10.0.0.1:8080", false, "not a loopback address", false},
		{"ws://example.com:8080", false, "not a loopback address", false},
		{"ws://example.com:8080", true, "ws://example.com:8080/ws/a%20b", true},
		{"http://127.0.0.1:8080", false, "scheme must be ws or wss", false},
		{"ws://127.0.0.1", false, "give the port", false},
		{"ws://127.0.0.1:8080/ws?x=1", false, "no query", false},
	}
	for _, tt := range tests {
		c := &config{url: tt.url, allowRemote: tt.remote}
		_, err := c.wsBase()
		if tt.ok {
			if err != nil {
				t.Errorf("%s: %v", tt.url, err)
				continue
			}
			if got := c.roomURL("a b"); got != tt.want {
				t.Errorf("%s: room URL %q, want %q", tt.url, got, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.url, err, tt.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		args []string
		want string // error text; "" for success
	}{
		{[]string{"-clients", "50", "-rooms", "1", "-rate", "200"}, ""},
		{[]string{"-clients", "0", "-idle", "5000", "-rate", "0"}, ""},
		{[]string{"-clients", "0", "-idle", "0"}, "nothing to do"},
		{[]string{"-clients", "3", "-rooms", "5"}, "some rooms would have no client"},
		{[]string{"-clients", "10", "-rooms", "5", "-writers", "3"}, "rooms have only 2 clients"},
		{[]string{"-duration", "0s"}, "-duration must be positive"},
		{[]string{"-duration", "2h"}, "must not exceed"},
		{[]string{"-pid", "1", "-server-cmd", "x"}, "exclude each other"},
		{[]string{"-url", "ws://192.168.1.1:80"}, "not a loopback address"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		_, err := parseConfig(tt.args, &strings.Builder{})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: err = %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

func TestFsyncProbe(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"fsync", "-dir", t.TempDir(), "-duration", "100ms", "-rate", "100"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "samples)") {
		t.Errorf("output %q", out.String())
	}
	if err := run(t.Context(), []string{"fsync", "-duration", "2m"}, &out, &out); err == nil {
		t.Error("a two-minute probe was accepted")
	}
}

func TestWakeProbe(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"wake", "-interval", "2ms", "-count", "20"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "20 wakes after 2ms asleep") || !strings.Contains(out.String(), "context switches per wake") {
		t.Errorf("output %q", out.String())
	}
	for _, args := range [][]string{
		{"wake", "-interval", "2s"},
		{"wake", "-count", "0"},
		{"wake", "-interval", "1s", "-count", "61"},
	} {
		if err := run(t.Context(), args, &out, &out); err == nil {
			t.Errorf("%q was accepted", args)
		}
	}
}

// TestRoomURLs: a -url list spreads a room's clients over its servers.
func TestRoomURLs(t *testing.T) {
	c := &config{url: "ws://127.0.0.1:8081, ws://127.0.0.1:8082/ws", token: "t"}
	got := c.roomURLs("r")
	want := []string{"ws://127.0.0.1:8081/ws/r?token=t", "ws://127.0.0.1:8082/ws/r?token=t"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("roomURLs = %q, want %q", got, want)
	}
	c.url = "ws://127.0.0.1:8081,http://127.0.0.1:8082"
	if _, err := c.wsBases(); err == nil || !strings.Contains(err.Error(), "scheme must be ws") {
		t.Errorf("a bad second URL: %v", err)
	}
}
