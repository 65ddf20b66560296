package metrics

import (
	"errors"
	"testing"
	"time"
)

// TestClusterSeries: a node's series exist only with EnableCluster, and
// each method moves its own.
func TestClusterSeries(t *testing.T) {
	m := New()
	if got := flatten(scrape(t, m.Handler())); got["collabd_bus_messages_sent_total"] != 0 || hasKey(got, "collabd_bus_messages_sent_total") {
		t.Fatal("cluster series exported without EnableCluster")
	}
	m.BusMessage(true, 10, nil) // before EnableCluster: counts nothing, no panic
	m.EnableCluster()
	m.EnableCluster() // twice is harmless
	before := flatten(scrape(t, m.Handler()))
	m.BusMessage(true, 10, nil)
	m.BusMessage(false, 7, nil)
	m.BusMessage(false, 3, errors.New("bad"))
	m.BusLag(2 * time.Millisecond)
	m.Forwarded()
	m.Cluster(ClusterLeaseAcquired)
	m.Cluster(ClusterResync)
	m.Cluster(ClusterEvent(99)) // out of range: ignored
	got := diff(before, flatten(scrape(t, m.Handler())))
	want := map[string]float64{
		"collabd_bus_messages_sent_total":                      1,
		"collabd_bus_bytes_sent_total":                         10,
		"collabd_bus_messages_received_total":                  1,
		"collabd_bus_bytes_received_total":                     7,
		"collabd_bus_errors_total":                             1,
		"collabd_bus_lag_seconds_count":                        1,
		"collabd_bus_lag_seconds_sum":                          0.002,
		"collabd_cluster_forwarded_frames_total":               1,
		`collabd_cluster_events_total{event="lease_acquired"}`: 1,
		`collabd_cluster_events_total{event="resync"}`:         1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s moved by %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s moved unexpectedly by %v", k, got[k])
		}
	}
	var nilM *Metrics
	nilM.EnableCluster()
	nilM.BusMessage(true, 1, nil)
	nilM.BusLag(time.Second)
	nilM.Forwarded()
	nilM.Cluster(ClusterGap)
}

func hasKey(m map[string]float64, k string) bool { _, ok := m[k]; return ok }
