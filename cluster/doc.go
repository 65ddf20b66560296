// Package cluster lets several collabd processes (nodes) serve the same
// rooms (collabd --cluster; docs/cluster.md has the design and why). Every
// room has one owner node at a time, which runs the ordinary rooms.Room:
// store before relay, one log writer, one compactor and the room's presence
// all stay where they are on a single node. Ownership is a lease in
// PostgreSQL (table room_leases), taken on the first join a node sees for a
// room, renewed for all of a node's rooms in one statement per heartbeat,
// given up when the room hibernates or the node shuts down. Other nodes
// forward their clients' frames to the owner over NATS and the owner's
// frames back; on any doubt (a sequence gap, the owner silent or gone, the
// bus lost) the forwarding node closes its client with 1012, and the stock
// client reconnects and resyncs from the owner's stored state.
//
// # Fencing
//
// Node.Store wraps the document store so that a node writes a room only
// while its lease is valid by the node's own clock (last renewal plus
// LeaseTTL minus one heartbeat, one heartbeat before another node may take
// it). An append that PostgreSQL executes more than that heartbeat late is
// not covered (see docs/cluster.md).
//
// # Concurrency
//
// All exported methods of Node are safe for concurrent use. Node.mu guards
// the maps of owned leases, forwarded connections (this node's clients of
// rooms owned elsewhere), remote connections (other nodes' clients of rooms
// owned here) and known peers; it is never held while waiting on a room,
// the database or the bus, so rooms may call remote.Send and remote.Close
// (rooms.Peer) from their goroutines. Bus messages are handled on the NATS
// client's goroutine of each subscription, in order, without blocking: a
// forwarded join runs on a goroutine of its own (remote.run, which also
// feeds the room the connection's frames from a bounded queue; a full queue
// closes the connection), and sequence numbers are checked there. The
// heartbeat loop (heartbeatLoop) renews leases, releases idle rooms' leases
// and buries silent nodes. Shutdown waits for the loop and every remote
// connection's goroutine.
package cluster
