package metrics_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/collabd/collabd/metrics"
)

// A transport counts a connection and its first message; the admin
// listener serves m.Handler().
func Example() {
	m := metrics.New()
	m.ConnOpened(metrics.RoutePartykit)
	m.MessageIn(metrics.KindSyncStep1, 12)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "collabd_connections{") ||
			strings.HasPrefix(line, `collabd_bytes_received_total{type="sync_step1"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// collabd_bytes_received_total{type="sync_step1"} 12
	// collabd_connections{route="partykit"} 1
	// collabd_connections{route="ws"} 0
}
