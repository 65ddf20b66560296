// Command collabd is the collabd server: a backend for real-time
// collaborative apps built on Yjs. Stock y-websocket and y-partykit clients
// connect to it unchanged. Run it with no arguments for an embedded store
// under ./data; `collabd -h` lists every setting.
package main

import (
	"context"
	"errors"
	"fmt"

	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "collabd:", err)
		}
		stop()
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors, 1 for everything else.
func exitCode(err error) int {
	var u usageError
	if errors.Is(err, errHelp) || errors.As(err, &u) {
		return 2
	}
	return 1
}
