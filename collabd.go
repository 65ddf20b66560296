// Package collabd is the collabd server as a library: Main and Run start
// the same server as the collabd command, with the same flags and
// COLLABD_* environment settings, plus the parties (package party) that
// the program registers. The collabd command is Main with the built-in
// parties (package parties):
//
//	func main() {
//		collabd.Main(collabd.Options{Parties: func(reg *party.Registry) error {
//			if err := parties.Register(reg); err != nil { // chat, poll, cursors
//				return err
//			}
//			return reg.Register("counter", newCounter)
//		}})
//	}
//
// examples/counter is a complete program.
package collabd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/collabd/collabd/party"
)

// Options add to what the flags configure.
type Options struct {
	// Parties registers the program's parties (before the server
	// starts); nil registers none, leaving the Yjs party "main".
	Parties func(reg *party.Registry) error
}

// Main runs collabd with the command line and environment until SIGINT or
// SIGTERM, and exits: 2 for a usage error, 1 for any other error.
func Main(opts Options) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, opts, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "collabd:", err)
		}
		stop()
		os.Exit(exitCode(err))
	}
}

var errHelp = flag.ErrHelp

// exitCode is 2 for usage errors, 1 for everything else.
func exitCode(err error) int {
	var u usageError
	if errors.Is(err, errHelp) || errors.As(err, &u) {
		return 2
	}
	return 1
}
