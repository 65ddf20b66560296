// Package e2e holds collabd's end-to-end tests: stock Yjs clients from npm
// (y-websocket's WebsocketProvider, y-partykit's YPartyKitProvider, raw
// `ws` sockets) driven by Node scenario scripts in scenarios/, against a
// real collabd process built from ./cmd/collabd and started on a free port
// with a temporary data directory.
//
// The tests need node and the pinned packages in the module's node_modules
// (npm ci). Without them they skip, except under CI=true where that is a
// failure; under -short they skip.
//
//	go test -count=1 ./e2e
//	COLLABD_E2E_BINARY=/path/to/collabd go test -count=1 ./e2e  # a given build
//
// Each scenario prints one JSON result line (or fails with a message on
// stderr and a non-zero exit); the Go tests make the assertions. The
// package has no non-test code.
package e2e
