package collabd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/collabd/collabd/cluster"
	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/postgres"
	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/server"
)

// clusterConfig are the settings of --cluster (several collabd processes
// serving the same rooms; see docs/cluster.md).
type clusterConfig struct {
	enabled   bool
	busURL    string
	nodeID    string
	name      string
	heartbeat time.Duration
	deadAfter time.Duration
	leaseTTL  time.Duration
}

func addClusterFlags(fs *flag.FlagSet, c *clusterConfig) {
	host, _ := os.Hostname()
	fs.BoolVar(&c.enabled, "cluster", false, "run as one node of a cluster: rooms and presence cross nodes over the bus, leases in PostgreSQL (needs --database-url)")
	fs.StringVar(&c.busURL, "bus-url", "nats://127.0.0.1:4222", "cluster bus: NATS server URL(s), comma-separated")
	fs.StringVar(&c.nodeID, "node-id", sanitizeNodeID(host), "this node's name in the cluster (letters, digits, - and _; default: the host name)")
	fs.StringVar(&c.name, "cluster-name", "collabd", "cluster name: nodes of one cluster share it, clusters on one bus must not")
	fs.DurationVar(&c.heartbeat, "cluster-heartbeat", cluster.DefaultHeartbeat, "how often a node announces itself and renews its room leases")
	fs.DurationVar(&c.deadAfter, "cluster-dead-after", cluster.DefaultDeadAfter, "a node not heard for this long is dead: its clients' presence is removed")
	fs.DurationVar(&c.leaseTTL, "cluster-lease-ttl", cluster.DefaultLeaseTTL, "a room lease not renewed for this long expires and another node may take the room")
}

// sanitizeNodeID keeps the characters a node ID may have.
func sanitizeNodeID(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_':
			b = append(b, ch)
		}
	}
	if len(b) == 0 {
		return "node"
	}
	return string(b)
}

// checkCluster refuses --cluster without the PostgreSQL store, before
// anything is opened.
func (c *config) checkCluster() error {
	if c.cluster.enabled && c.databaseURL == "" {
		return usageError{errors.New("--cluster needs the PostgreSQL store (--database-url or COLLABD_DATABASE_URL): the embedded store is a file of one process, and the nodes of a cluster must share the documents and the room leases")}
	}
	return nil
}

// startCluster connects a cluster node to the bus when --cluster is set
// and returns it with the store it fences; without --cluster it returns
// nil and store unchanged.
func startCluster(c *config, store docstore.Store, log *slog.Logger, mx *metrics.Metrics) (*cluster.Node, docstore.Store, error) {
	if !c.cluster.enabled {
		return nil, store, nil
	}
	pg, ok := store.(*postgres.Store)
	if !ok {
		return nil, nil, errors.New("--cluster needs the PostgreSQL store")
	}
	node, err := cluster.New(cluster.Options{
		NodeID:    c.cluster.nodeID,
		Cluster:   c.cluster.name,
		BusURL:    c.cluster.busURL,
		Pool:      pg.Pool(),
		Logger:    log,
		Metrics:   mx,
		Heartbeat: c.cluster.heartbeat,
		DeadAfter: c.cluster.deadAfter,
		LeaseTTL:  c.cluster.leaseTTL,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("--cluster: %w", err)
	}
	return node, node.Store(store), nil
}

// clusterServerOptions routes joins and REST writes through the node.
func clusterServerOptions(node *cluster.Node, o *server.Options) {
	if node == nil {
		return
	}
	o.Join = func(ctx context.Context, room string, p rooms.Peer, jo rooms.JoinOptions) (server.RoomConn, error) {
		c, err := node.Join(ctx, room, p, jo)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	o.Owner = node.OnOwner
	storeReady := o.Ready
	o.Ready = func(ctx context.Context) error {
		if err := node.Ready(); err != nil {
			return err
		}
		if storeReady != nil {
			return storeReady(ctx)
		}
		return nil
	}
}
