// Command collabd is the collabd server: a backend for real-time
// collaborative apps built on Yjs, and for parties (chat, poll, cursors,
// and a program's own: see package collabd). Stock y-websocket,
// y-partykit and partysocket clients connect to it unchanged. Run it with
// no arguments for an embedded store under ./data; `collabd -h` lists
// every setting.
package main

import (
	"github.com/collabd/collabd"
	"github.com/collabd/collabd/parties"
)

func main() {
	collabd.Main(collabd.Options{Parties: parties.Register})
}
