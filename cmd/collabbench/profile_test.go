package main

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/collabd/collabd/docstore/embedded"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/server"
)

// TestProfileServer is not a test but a harness for profiling: it serves
// collabd (embedded store in a temp dir, default options, as cmd/collabd
// runs it) with net/http/pprof's handlers under /debug/pprof/, so that the
// load tool can run against it from another process:
//
//	COLLABBENCH_PROFILE_ADDR=127.0.0.1:18200 COLLABBENCH_PROFILE_FOR=90s \
//	    go test -run TestProfileServer -v -timeout 10m ./cmd/collabbench &
//	collabbench -url ws://127.0.0.1:18200 -pid $(pgrep -f collabbench.test) ...
//	go tool pprof http://127.0.0.1:18200/debug/pprof/heap
//
// Set COLLABBENCH_PROFILE_MEMORY=1 to serve from a memory-only registry
// (no store), which separates the transport and rooms from storage.
func TestProfileServer(t *testing.T) {
	addr := os.Getenv("COLLABBENCH_PROFILE_ADDR")
	if addr == "" {
		t.Skip("set COLLABBENCH_PROFILE_ADDR to serve collabd with pprof")
	}
	serveFor := time.Minute
	if v := os.Getenv("COLLABBENCH_PROFILE_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		serveFor = d
	}
	opts := rooms.Options{}
	if os.Getenv("COLLABBENCH_PROFILE_MEMORY") == "" {
		store, err := embedded.Open(filepath.Join(t.TempDir(), "collabd.db"), embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		opts.Store = store
	}
	reg := rooms.NewRegistry(opts)
	srv := server.New(server.Options{Registry: reg})
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", srv)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Logf("collabd with pprof on %s (pid %d) for %v", ln.Addr(), os.Getpid(), serveFor)
	time.Sleep(serveFor)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(ctx)
	reg.Shutdown(ctx)
	srv.Wait(ctx)
}
