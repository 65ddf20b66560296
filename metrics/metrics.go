// Package metrics counts what collabd is doing — rooms, connections,
// messages, fan-out latency, storage, rejections — and serves it to
// Prometheus, with the Go runtime and process metrics and net/http/pprof,
// on an admin handler.
//
// It imports no other collabd package: rooms, server and docstore call
// it. Every series is made once, in New, in a registry of the Metrics's
// own (never the global default one); the labelled ones are kept in arrays
// indexed by the small integer enums Route, Kind and Reason, so that the
// methods called per message (MessageIn, MessagesOut, FanOut) are an
// array index and an atomic add: no allocation, no label lookup.
//
// # Nil and concurrency
//
// Every method is safe for concurrent use, and every method of a nil
// *Metrics does nothing, so code and tests without metrics pass nil.
package metrics

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every collabd series.
const namespace = "collabd"

// Histogram buckets, in seconds unless named otherwise.
var (
	// Loading a room: a small document from memory or a local file takes
	// about a millisecond, a large one from Postgres seconds; 30 s is the
	// rooms' default storage timeout.
	loadBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// Fan-out: tens of microseconds when the sockets take the frame at
	// once, up to a second when a room is overloaded.
	fanOutBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	// Appends: a durable local write takes 30-50 µs, an fsync on a busy
	// disk or a Postgres round trip milliseconds.
	appendBuckets = []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}
	// Group-commit batch sizes: 1, 2, 4, ..., 1024 updates.
	batchBuckets = prometheus.ExponentialBuckets(1, 2, 11)
)

// Metrics holds collabd's series. Make it with New; the zero value is not
// usable, but a nil *Metrics is (every method does nothing).
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	roomsLoaded      prometheus.Gauge
	roomLoadSeconds  prometheus.Histogram
	roomLoadFailures prometheus.Counter
	hibernations     prometheus.Counter

	conns      [numRoutes]prometheus.Gauge
	connsTotal [numRoutes]prometheus.Counter

	msgsIn   [numKinds]prometheus.Counter
	bytesIn  [numKinds]prometheus.Counter
	msgsOut  [numKinds]prometheus.Counter
	bytesOut [numKinds]prometheus.Counter
	fanOut   prometheus.Histogram

	appendSeconds prometheus.Histogram
	appendBatch   prometheus.Histogram
	appendErrors  prometheus.Counter

	compactions       [len(triggerLabels)]prometheus.Counter
	compactionErrors  [len(triggerLabels)]prometheus.Counter
	compactionSeconds prometheus.Histogram

	slowConsumers prometheus.Counter
	rejections    [numReasons]prometheus.Counter

	authMu   sync.Mutex // serialises SetAuthMode's reset and set
	authMode *prometheus.GaugeVec

	cluster *clusterMetrics // set by EnableCluster
}

// New returns a Metrics with every series registered (at zero, so that
// each is exported before its first event) in a registry of its own, with
// the Go runtime and process collectors and collabd_build_info.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}

	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, []string{label})
		reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
		reg.MustRegister(h)
		return h
	}

	m.roomsLoaded = gauge("rooms_loaded", "Rooms whose document is in memory.")
	m.roomLoadSeconds = histogram("room_load_seconds", "Time to load a room's stored state, failed loads included.", loadBuckets)
	m.roomLoadFailures = counter("room_load_failures_total", "Room loads that failed; the room refuses its connections.")
	m.hibernations = counter("hibernations_total", "Rooms that left memory after their idle timeout.")

	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "connections", Help: "Open WebSocket connections, by route."}, []string{"route"})
	reg.MustRegister(conns)
	connsTotal := counterVec("connections_total", "WebSocket connections opened, by route.", "route")
	for r := range numRoutes {
		m.conns[r] = conns.WithLabelValues(r.String())
		m.connsTotal[r] = connsTotal.WithLabelValues(r.String())
	}

	msgsIn := counterVec("messages_received_total", "Protocol messages received from clients, by type.", "type")
	bytesIn := counterVec("bytes_received_total", "Bytes of protocol messages received from clients, by type.", "type")
	msgsOut := counterVec("messages_sent_total", "Frames written to connections, by message type (a broadcast to n connections counts n).", "type")
	bytesOut := counterVec("bytes_sent_total", "Bytes of frames written to connections, by message type.", "type")
	for k := range numKinds {
		m.msgsIn[k] = msgsIn.WithLabelValues(k.String())
		m.bytesIn[k] = bytesIn.WithLabelValues(k.String())
		m.msgsOut[k] = msgsOut.WithLabelValues(k.String())
		m.bytesOut[k] = bytesOut.WithLabelValues(k.String())
	}
	m.fanOut = histogram("fanout_seconds", "Server-side fan-out latency: from an update's receipt to the last write of its relay.", fanOutBuckets)

	m.appendSeconds = histogram("store_append_seconds", "Time of one append (one group-commit batch) to the document store, failed ones included.", appendBuckets)
	m.appendBatch = histogram("store_append_batch_updates", "Updates per append to the document store (group-commit batch size).", batchBuckets)
	m.appendErrors = counter("store_append_errors_total", "Appends to the document store that failed (the room holds the updates and retries).")

	compactions := counterVec("compactions_total", "Compactions (snapshots) attempted, by trigger.", "trigger")
	compactionErrors := counterVec("compaction_errors_total", "Compactions that failed, by trigger.", "trigger")
	for i, t := range triggerLabels {
		m.compactions[i] = compactions.WithLabelValues(t)
		m.compactionErrors[i] = compactionErrors.WithLabelValues(t)
	}
	m.compactionSeconds = histogram("compaction_seconds", "Time of one compaction, failed ones included.", loadBuckets)

	m.slowConsumers = counter("slow_consumer_closes_total", "Connections closed because their send queue was full.")
	rejections := counterVec("rejections_total", "Requests, connections and messages refused, by reason.", "reason")
	for r := range numReasons {
		m.rejections[r] = rejections.WithLabelValues(r.String())
	}

	m.authMode = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "auth_mode", Help: "The authentication mode in force: 1 for the mode labelled."}, []string{"mode"})
	reg.MustRegister(m.authMode)

	reg.MustRegister(buildInfo())
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.handler = newHandler(reg)
	return m
}

// buildInfo is collabd_build_info: 1, labelled with what the binary says
// of its build, so that dashboards can tell which version is running.
func buildInfo() prometheus.Collector {
	version, revision, goVersion := "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "build_info",
		Help:        "Always 1; the labels say which collabd build is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	}, func() float64 { return 1 })
}

// newHandler is the admin mux. pprof's handlers are registered on it by
// hand: importing net/http/pprof also adds them to http.DefaultServeMux,
// which collabd never serves.
func newHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A collector that fails still leaves the others' series served.
		ErrorHandling: promhttp.ContinueOnError,
		// Counts scrape errors as promhttp_metric_handler_errors_total.
		Registry: reg,
	}))
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, ...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol) // GET and POST
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "collabd admin\n\n"+
			"/metrics       Prometheus metrics\n"+
			"/debug/pprof/  Go profiles (net/http/pprof)\n")
	})
	return mux
}

// Handler returns the admin listener's handler: GET /metrics (this
// Metrics's registry in the Prometheus formats), net/http/pprof under
// /debug/pprof/, and a short index at GET /. It exposes profiles and
// command lines: serve it on an address only operators reach. A nil
// *Metrics answers 404 to everything.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Registry returns the registry the series live in, for a caller that
// wants to add collectors of its own (nil for a nil *Metrics).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// RoomLoaded reports that a room finished loading its stored state, in d,
// successfully if err is nil; only then does the room count as loaded.
func (m *Metrics) RoomLoaded(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.roomLoadSeconds.Observe(d.Seconds())
	if err != nil {
		m.roomLoadFailures.Inc()
		return
	}
	m.roomsLoaded.Inc()
}

// RoomHibernated reports that a loaded room left memory after its idle
// timeout. Call it (or RoomClosed) once per room whose RoomLoaded had a
// nil error, and for no other room.
func (m *Metrics) RoomHibernated() {
	if m == nil {
		return
	}
	m.roomsLoaded.Dec()
	m.hibernations.Inc()
}

// RoomClosed reports that a loaded room left memory for another reason
// than hibernation (the server shutting down). The contract of
// RoomHibernated applies.
func (m *Metrics) RoomClosed() {
	if m == nil {
		return
	}
	m.roomsLoaded.Dec()
}

// ConnOpened reports a WebSocket connection accepted on route r; pair it
// with one ConnClosed(r). A route that is not one of the constants is not
// counted.
func (m *Metrics) ConnOpened(r Route) {
	if m == nil || r < 0 || r >= numRoutes {
		return
	}
	m.conns[r].Inc()
	m.connsTotal[r].Inc()
}

// ConnClosed reports that a connection ConnOpened counted has ended.
func (m *Metrics) ConnClosed(r Route) {
	if m == nil || r < 0 || r >= numRoutes {
		return
	}
	m.conns[r].Dec()
}

// MessageIn reports one message of kind k received from a client, of
// bytes bytes (negative counts as 0).
func (m *Metrics) MessageIn(k Kind, bytes int) {
	if m == nil {
		return
	}
	k = k.index()
	m.msgsIn[k].Inc()
	if bytes > 0 {
		m.bytesIn[k].Add(float64(bytes))
	}
}

// MessagesOut reports one message of kind k written to frames connections,
// bytes bytes in all: one call per broadcast, not per connection.
func (m *Metrics) MessagesOut(k Kind, frames, bytes int) {
	if m == nil {
		return
	}
	k = k.index()
	// Counters panic on a negative Add; a caller's bad arithmetic must not
	// take the room down with it.
	if frames > 0 {
		m.msgsOut[k].Add(float64(frames))
	}
	if bytes > 0 {
		m.bytesOut[k].Add(float64(bytes))
	}
}

// FanOut reports the fan-out latency of one update: from its receipt to
// the last write of its relay.
func (m *Metrics) FanOut(d time.Duration) {
	if m == nil {
		return
	}
	m.fanOut.Observe(d.Seconds())
}

// StoreAppend reports one append to the document store: its duration, the
// number of updates in its batch, and its error.
func (m *Metrics) StoreAppend(d time.Duration, updates int, err error) {
	if m == nil {
		return
	}
	m.appendSeconds.Observe(d.Seconds())
	m.appendBatch.Observe(float64(updates))
	if err != nil {
		m.appendErrors.Inc()
	}
}

// Compaction reports one compaction: why (a docstore trigger: hibernate,
// threshold, restore, manual or interval; any other counts as "other"),
// how long it took, and its error.
func (m *Metrics) Compaction(trigger string, d time.Duration, err error) {
	if m == nil {
		return
	}
	i := triggerIndex(trigger)
	m.compactions[i].Inc()
	m.compactionSeconds.Observe(d.Seconds())
	if err != nil {
		m.compactionErrors[i].Inc()
	}
}

// SlowConsumerClose reports a connection closed because its send queue
// was full.
func (m *Metrics) SlowConsumerClose() {
	if m == nil {
		return
	}
	m.slowConsumers.Inc()
}

// Rejected reports a request, connection or message refused for r.
func (m *Metrics) Rejected(r Reason) {
	if m == nil {
		return
	}
	m.rejections[r.index()].Inc()
}

// SetAuthMode exports collabd_auth_mode{mode} = 1 for the mode in force
// (for example "none", "jwt"), replacing any mode set before; "" is
// exported as "none". It is meant to be called at start-up, not per
// request (it allocates).
func (m *Metrics) SetAuthMode(mode string) {
	if m == nil {
		return
	}
	if mode == "" {
		mode = "none"
	}
	m.authMu.Lock()
	defer m.authMu.Unlock()
	m.authMode.Reset()
	m.authMode.WithLabelValues(mode).Set(1)
}
