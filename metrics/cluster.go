package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterEvent is something a cluster node does that operators count.
type ClusterEvent int

// Cluster events.
const (
	// ClusterLeaseAcquired: the node took a room's lease (it owns the
	// room now).
	ClusterLeaseAcquired ClusterEvent = iota
	// ClusterLeaseReleased: the node gave up the lease of a room that
	// hibernated.
	ClusterLeaseReleased
	// ClusterLeaseLost: another node took a lease this node held.
	ClusterLeaseLost
	// ClusterForwardedJoin: a client joined a room owned by another node.
	ClusterForwardedJoin
	// ClusterResync: a forwarded connection was closed for its client to
	// reconnect and resync (owner gone, bus lost, a gap).
	ClusterResync
	// ClusterGap: a forwarded connection lost a bus message.
	ClusterGap
	// ClusterNodeDead: another node fell silent.
	ClusterNodeDead
	// ClusterBusDown: the node lost its bus connection.
	ClusterBusDown
	numClusterEvents
)

var clusterEventLabels = [numClusterEvents]string{"lease_acquired", "lease_released", "lease_lost", "forwarded_join", "resync", "gap", "node_dead", "bus_down"}

// clusterMetrics are the series of a cluster node.
type clusterMetrics struct {
	busIn, busOut           prometheus.Counter
	busBytesIn, busBytesOut prometheus.Counter
	busErrors               prometheus.Counter
	busLag                  prometheus.Histogram
	forwarded               prometheus.Counter
	events                  [numClusterEvents]prometheus.Counter
}

// Bus lag: sub-millisecond on one host, milliseconds across a network.
var busLagBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// EnableCluster registers the series of a cluster node (collabd
// --cluster). Call it once, before the node runs.
func (m *Metrics) EnableCluster() {
	if m == nil || m.cluster != nil {
		return
	}
	c := &clusterMetrics{}
	counter := func(name, help string) prometheus.Counter {
		x := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
		m.reg.MustRegister(x)
		return x
	}
	c.busIn = counter("bus_messages_received_total", "Bus messages received by this cluster node.")
	c.busOut = counter("bus_messages_sent_total", "Bus messages published by this cluster node.")
	c.busBytesIn = counter("bus_bytes_received_total", "Bytes of bus messages received by this cluster node.")
	c.busBytesOut = counter("bus_bytes_sent_total", "Bytes of bus messages published by this cluster node.")
	c.busErrors = counter("bus_errors_total", "Bus messages that could not be published, or did not decode.")
	c.busLag = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "bus_lag_seconds",
		Help:    "Time from another node's heartbeat to its receipt here (the nodes' clocks must agree).",
		Buckets: busLagBuckets})
	m.reg.MustRegister(c.busLag)
	c.forwarded = counter("cluster_forwarded_frames_total", "Client frames this node forwarded to a room's owner on another node.")
	ev := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "cluster_events_total",
		Help: "Cluster events: leases acquired, released and lost (owner changes), forwarded joins, resyncs, gaps, dead nodes, bus losses."}, []string{"event"})
	m.reg.MustRegister(ev)
	for i, l := range clusterEventLabels {
		c.events[i] = ev.WithLabelValues(l)
	}
	m.cluster = c
}

// BusMessage counts a bus message published (out) or received.
func (m *Metrics) BusMessage(out bool, bytes int, err error) {
	if m == nil || m.cluster == nil {
		return
	}
	c := m.cluster
	switch {
	case err != nil:
		c.busErrors.Inc()
	case out:
		c.busOut.Inc()
		c.busBytesOut.Add(float64(bytes))
	default:
		c.busIn.Inc()
		c.busBytesIn.Add(float64(bytes))
	}
}

// BusLag observes the age of a heartbeat on receipt.
func (m *Metrics) BusLag(d time.Duration) {
	if m == nil || m.cluster == nil {
		return
	}
	m.cluster.busLag.Observe(max(d, 0).Seconds())
}

// Forwarded counts a client frame forwarded to another node.
func (m *Metrics) Forwarded() {
	if m == nil || m.cluster == nil {
		return
	}
	m.cluster.forwarded.Inc()
}

// Cluster counts a cluster event.
func (m *Metrics) Cluster(e ClusterEvent) {
	if m == nil || m.cluster == nil || e < 0 || e >= numClusterEvents {
		return
	}
	m.cluster.events[e].Inc()
}
