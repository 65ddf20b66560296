//go:build !linux

package server

import "log/slog"

// Without epoll, connections are never parked: each keeps its read
// goroutine.
type poller struct{}

type parkState uint8

func newPoller(*slog.Logger) *poller { return &poller{} }

func (pl *poller) close()                 {}
func (pl *poller) park(*wsConn) bool      { return false }
func (pl *poller) awaitMore(*wsConn) bool { return false }
func (pl *poller) unpark(c *wsConn)       {}
func pongPrefix(b []byte) int             { return 0 }

func (pl *poller) pongsTaken() int64 { return 0 }
func (pl *poller) parkCount() int64  { return 0 }
