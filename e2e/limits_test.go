//go:build unix

package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestLimits trips each limit with a client of a room whose two stock
// providers keep syncing: the client gets the documented close code or
// HTTP status, the room and its other clients carry on.
func TestLimits(t *testing.T) {
	requireClients(t)
	t.Parallel()
	for _, tc := range []struct {
		mode    string
		args    []string
		check   func(t *testing.T, r limitsResult)
		metrics map[string]float64 // series that must be at least this
	}{
		{"rate", []string{"--rate-messages", "20", "--rate-message-burst", "40"},
			func(t *testing.T, r limitsResult) { wantClose(t, r, 4429) },
			map[string]float64{`collabd_rejections_total{reason="rate"}`: 1, `collabd_connections_total{route="ws"}`: 3,
				`collabd_messages_received_total{type="update"}`: 1, `collabd_fanout_seconds_count`: 1,
				`collabd_store_append_seconds_count`: 1, `collabd_rooms_loaded`: 1}},
		{"frame", []string{"--max-frame-size", "65536"}, func(t *testing.T, r limitsResult) { wantClose(t, r, 1009) }, nil},
		{"room", []string{"--max-conns-per-room", "2"}, func(t *testing.T, r limitsResult) { wantRefused(t, r, 429, "this room") },
			map[string]float64{`collabd_rejections_total{reason="room_full"}`: 1}},
		{"ip", []string{"--max-conns-per-ip", "3"}, func(t *testing.T, r limitsResult) { wantRefused(t, r, 429, "this address") },
			map[string]float64{`collabd_rejections_total{reason="ip_limit"}`: 1}},
		{"rooms", []string{"--max-rooms", "1"}, func(t *testing.T, r limitsResult) { wantClose(t, r, 1013) },
			map[string]float64{`collabd_rejections_total{reason="room_limit"}`: 1}},
		{"body", []string{"--max-body-size", "4096"}, func(t *testing.T, r limitsResult) { wantRefused(t, r, 413, "body size limit") },
			map[string]float64{`collabd_rejections_total{reason="size"}`: 1}},
		{"handshake", []string{"--handshake-timeout", "1s"}, func(t *testing.T, r limitsResult) {
			if r.DroppedAfterMs < 900 || r.DroppedAfterMs > 5000 {
				t.Errorf("a half-sent handshake was dropped after %d ms, want about 1000", r.DroppedAfterMs)
			}
		}, nil},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			s := startCollabd(t, serverConfig{Args: append([]string{"--admin-addr", "127.0.0.1:0"}, tc.args...)})
			var r limitsResult
			scenario(t, s, "limits.mjs", map[string]any{"room": "limits-" + tc.mode, "mode": tc.mode}, 30*time.Second, &r)
			tc.check(t, r)
			if !r.AConnected || !r.BConnected {
				t.Errorf("the room's other clients were disconnected: %+v", r)
			}
			if tc.metrics != nil {
				got := scrape(t, s)
				for series, least := range tc.metrics {
					if v, ok := got[series]; !ok || v < least {
						t.Errorf("%s = %v (present %v), want at least %v", series, v, ok, least)
					}
				}
			}
		})
	}
}

type limitsResult struct {
	Close *struct {
		Code   int
		Reason string
	}
	Refused                int
	Body                   string
	DroppedAfterMs         int
	AConnected, BConnected bool
}

func wantClose(t *testing.T, r limitsResult, code int) {
	t.Helper()
	if r.Close == nil || r.Close.Code != code {
		t.Errorf("closed with %+v, want code %d", r.Close, code)
	}
}

func wantRefused(t *testing.T, r limitsResult, status int, reason string) {
	t.Helper()
	if r.Refused != status || !strings.Contains(r.Body, reason) {
		t.Errorf("refused with %d %q, want %d mentioning %q", r.Refused, r.Body, status, reason)
	}
}

// adminBase is the base URL of collabd's admin listener.
func adminBase(t *testing.T, s *collabd) string {
	t.Helper()
	recs := s.logged("admin listener: /metrics and /debug/pprof")
	if len(recs) != 1 {
		t.Fatal("collabd logged no admin listener")
	}
	return "http://" + recs[0]["addr"].(string)
}

// scrape reads collabd's /metrics with Prometheus's own parser and returns
// every sample as name{labels} -> value (histograms as _count and _sum).
func scrape(t *testing.T, s *collabd) map[string]float64 {
	t.Helper()
	base := adminBase(t, s)
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := name + labelString(m.GetLabel())
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[name+"_count"+labelString(m.GetLabel())] = float64(m.Histogram.GetSampleCount())
				out[name+"_sum"+labelString(m.GetLabel())] = m.Histogram.GetSampleSum()
			case m.Untyped != nil:
				out[key] = m.Untyped.GetValue()
			}
		}
	}
	if _, ok := out["go_goroutines"]; !ok {
		t.Error("the scrape has no Go runtime metrics")
	}
	pp, err := http.Get(base + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	pp.Body.Close()
	if pp.StatusCode != 200 {
		t.Errorf("/debug/pprof/: %d", pp.StatusCode)
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
