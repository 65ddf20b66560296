package server

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/embedded"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/ydoc"
	"github.com/collabd/collabd/yprotocol"
)

// bigDocument builds a document of about size bytes of encoded state: 8
// writers pasting 1 KB paragraphs at random places of one text and editing
// inside them, so the state has thousands of items and tombstones.
func bigDocument(tb testing.TB, size int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	d := ydoc.New(ydoc.Options{})
	para := strings.Repeat("collabd keeps documents safe. ", 34)[:1000] + "\n"
	for i := 0; len(d.EncodeStateAsUpdate(nil)) < size || i == 0; i++ {
		w := ydoc.New(ydoc.Options{ClientID: uint64(i%8 + 1)})
		if err := w.ApplyUpdate(d.EncodeStateAsUpdate(nil)); err != nil {
			tb.Fatal(err)
		}
		for range 200 {
			u, err := w.Transact(func(tx *ydoc.Txn) error {
				t := w.Root("notes")
				if err := tx.InsertText(t, rng.IntN(t.Len()+1), para); err != nil {
					return err
				}
				if t.Len() > 100 {
					return tx.Delete(t, rng.IntN(t.Len()-50), rng.IntN(40)+1)
				}
				return nil
			})
			if err != nil {
				tb.Fatal(err)
			}
			if err := d.ApplyUpdate(u); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return d.EncodeStateAsUpdate(nil)
}

// BenchmarkColdJoin8MB measures connect-to-SyncStep2 for a room whose
// stored state is about 8 MB: each iteration starts a fresh registry on the
// stored data (the room is not in memory), opens a WebSocket, sends
// SyncStep1 with an empty state vector and waits for the SyncStep2 holding
// the whole document.
func BenchmarkColdJoin8MB(b *testing.B) {
	snap := bigDocument(b, 8<<20)
	dir := b.TempDir()
	st, err := embedded.Open(dir+"/collabd.db", embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Compact(ctx, "big", snap, 0, docstore.TriggerManual); err != nil {
		b.Fatal(err)
	}
	probe := ydoc.New(ydoc.Options{})
	if err := probe.ApplyUpdate(snap); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored state: %.1f MB, text of %d characters", float64(len(snap))/(1<<20), probe.Root("notes").Len())
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		reg := rooms.NewRegistry(rooms.Options{Store: st})
		hs := httptest.NewServer(New(Options{Registry: reg}))
		b.StartTimer()

		start := time.Now()
		ws, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http", "ws", 1)+"/ws/big", nil)
		if err != nil {
			b.Fatal(err)
		}
		ws.SetReadLimit(64 << 20)
		if err := ws.Write(ctx, websocket.MessageBinary, yprotocol.AppendSyncStep1(nil, []byte{0})); err != nil {
			b.Fatal(err)
		}
		for got := false; !got; {
			_, frame, err := ws.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			_ = yprotocol.Decode(frame, func(m yprotocol.Message) error {
				if m.Kind == yprotocol.KindSyncStep2 {
					got = len(m.Payload) >= len(snap)/2
				}
				return nil
			})
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/join")

		b.StopTimer()
		ws.CloseNow()
		hs.Close()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = reg.Shutdown(sctx)
		cancel()
		b.StartTimer()
	}
}
