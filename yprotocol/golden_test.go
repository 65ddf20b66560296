package yprotocol

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"testing"
)

// golden is yprotocol/testdata/golden.json, written by
// tools/golden/yprotocol.mjs from y-protocols, Yjs, y-websocket and
// y-partykit.
type golden struct {
	Frames        []goldenFrame       `json:"frames"`
	ClientFrames  []goldenClientFrame `json:"clientFrames"`
	PartykitBatch goldenBatch         `json:"partykitBatch"`
}

type goldenFrame struct {
	Name     string          `json:"name"`
	Hex      string          `json:"hex"`
	Messages []goldenMessage `json:"messages"`
}

type goldenClientFrame struct {
	Client   string          `json:"client"`
	Step     string          `json:"step"`
	Hex      string          `json:"hex"`
	Messages []goldenMessage `json:"messages"`
}

type goldenMessage struct {
	Kind    string        `json:"kind"`
	Payload string        `json:"payload"`
	Reason  string        `json:"reason"`
	Entries []goldenEntry `json:"entries"`
}

type goldenEntry struct {
	ClientID uint64 `json:"clientID"`
	Clock    uint64 `json:"clock"`
	State    string `json:"state"`
}

type goldenBatch struct {
	Frames []struct {
		Text       *string `json:"text"`
		BinarySize int     `json:"binarySize"`
		SHA256     string  `json:"sha256"`
	} `json:"frames"`
	FrameSize       int    `json:"frameSize"`
	FrameSHA256     string `json:"frameSha256"`
	FrameGzipBase64 string `json:"frameGzipBase64"`
	Messages        []struct {
		Kind        string `json:"kind"`
		PayloadSize int    `json:"payloadSize"`
	} `json:"messages"`
}

var goldenKinds = map[string]Kind{
	"syncStep1":        KindSyncStep1,
	"syncStep2":        KindSyncStep2,
	"update":           KindUpdate,
	"awareness":        KindAwareness,
	"permissionDenied": KindPermissionDenied,
	"queryAwareness":   KindQueryAwareness,
}

func loadGolden(tb testing.TB) *golden {
	tb.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		tb.Fatalf("read golden frames: %v (regenerate with: node tools/golden/yprotocol.mjs)", err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatalf("parse golden frames: %v", err)
	}
	return &g
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex: %v", err)
	}
	return b
}

// checkFrame decodes frame, compares its messages with want and re-encodes
// each message to the bytes it came from.
func checkFrame(t *testing.T, frame []byte, want []goldenMessage) {
	t.Helper()
	var got []Message
	if err := Decode(frame, func(m Message) error {
		got = append(got, m)
		return nil
	}); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Decode found %d messages, want %d", len(got), len(want))
	}
	var reencoded []byte
	for i, m := range got {
		w := want[i]
		if m.Kind != goldenKinds[w.Kind] {
			t.Errorf("message %d: kind %v, want %s", i, m.Kind, w.Kind)
		}
		switch m.Kind {
		case KindPermissionDenied:
			if m.Reason() != w.Reason {
				t.Errorf("message %d: reason %q, want %q", i, m.Reason(), w.Reason)
			}
		case KindQueryAwareness:
			if m.Payload != nil {
				t.Errorf("message %d: query awareness has a payload %x", i, m.Payload)
			}
		default:
			if !bytes.Equal(m.Payload, mustHex(t, w.Payload)) {
				t.Errorf("message %d: payload %.40x, want %.40s", i, m.Payload, w.Payload)
			}
		}
		if m.Kind == KindAwareness {
			checkAwareness(t, m, w.Entries)
		}
		var err error
		if reencoded, err = AppendMessage(reencoded, m); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(reencoded, frame) {
		t.Errorf("re-encoded frame %.60x, want %.60x", reencoded, frame)
	}
}

func checkAwareness(t *testing.T, m Message, want []goldenEntry) {
	t.Helper()
	var entries []AwarenessEntry
	if err := DecodeAwareness(m.Payload, func(e AwarenessEntry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		t.Fatalf("DecodeAwareness: %v", err)
	}
	if len(entries) != len(want) {
		t.Fatalf("%d awareness entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		w := want[i]
		if e.ClientID != w.ClientID || e.Clock != w.Clock || string(e.State) != w.State {
			t.Errorf("entry %d = {%d %d %s}, want {%d %d %s}", i, e.ClientID, e.Clock, e.State, w.ClientID, w.Clock, w.State)
		}
		if e.IsNull() != (w.State == "null") {
			t.Errorf("entry %d: IsNull = %v for state %s", i, e.IsNull(), w.State)
		}
	}
	if got := AppendAwareness(nil, entries); !bytes.Equal(got, m.Raw) {
		t.Errorf("AppendAwareness = %x, want %x", got, m.Raw)
	}
	if got := AppendAwarenessUpdate(nil, entries); !bytes.Equal(got, m.Payload) {
		t.Errorf("AppendAwarenessUpdate = %x, want %x", got, m.Payload)
	}
}

func TestGoldenFrames(t *testing.T) {
	g := loadGolden(t)
	for _, f := range g.Frames {
		t.Run(f.Name, func(t *testing.T) { checkFrame(t, mustHex(t, f.Hex), f.Messages) })
	}
}

// TestGoldenEncoders builds the single-message golden frames with the Append
// functions.
func TestGoldenEncoders(t *testing.T) {
	g := loadGolden(t)
	for _, f := range g.Frames {
		if len(f.Messages) != 1 {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			m := f.Messages[0]
			var got []byte
			switch m.Kind {
			case "syncStep1":
				got = AppendSyncStep1(nil, mustHex(t, m.Payload))
			case "syncStep2":
				got = AppendSyncStep2(nil, mustHex(t, m.Payload))
			case "update":
				got = AppendUpdate(nil, mustHex(t, m.Payload))
			case "awareness":
				entries := make([]AwarenessEntry, 0, len(m.Entries))
				for _, e := range m.Entries {
					entries = append(entries, AwarenessEntry{ClientID: e.ClientID, Clock: e.Clock, State: []byte(e.State)})
				}
				got = AppendAwareness(nil, entries)
			case "permissionDenied":
				got = AppendPermissionDenied(nil, m.Reason)
			case "queryAwareness":
				got = AppendQueryAwareness(nil)
			}
			if want := mustHex(t, f.Hex); !bytes.Equal(got, want) {
				t.Errorf("encoded %.60x, want %.60x", got, want)
			}
		})
	}
}

// TestGoldenClientFrames decodes what real WebsocketProvider and
// YPartyKitProvider instances sent.
func TestGoldenClientFrames(t *testing.T) {
	g := loadGolden(t)
	if len(g.ClientFrames) == 0 {
		t.Fatal("no client frames")
	}
	for _, f := range g.ClientFrames {
		t.Run(f.Client+" "+f.Step, func(t *testing.T) { checkFrame(t, mustHex(t, f.Hex), f.Messages) })
	}
}

func goldenBatchFrame(t *testing.T, b goldenBatch) []byte {
	t.Helper()
	gz, err := base64.StdEncoding.DecodeString(b.FrameGzipBase64)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	frame, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(frame); len(frame) != b.FrameSize || hex.EncodeToString(sum[:]) != b.FrameSHA256 {
		t.Fatal("golden batch frame does not match its checksum")
	}
	return frame
}

// TestGoldenPartykitBatch feeds the frames a real YPartyKitProvider sent for
// a 1.28 MB sync step 2 to a Reassembler.
func TestGoldenPartykitBatch(t *testing.T) {
	g := loadGolden(t)
	frame := goldenBatchFrame(t, g.PartykitBatch)
	var r Reassembler
	var got []byte
	off, completed := 0, 0
	for i, f := range g.PartykitBatch.Frames {
		var msg []byte
		var ok bool
		var err error
		if f.Text != nil {
			msg, ok, err = r.Feed(true, []byte(*f.Text))
		} else {
			chunk := frame[off : off+f.BinarySize]
			off += f.BinarySize
			if sum := sha256.Sum256(chunk); hex.EncodeToString(sum[:]) != f.SHA256 {
				t.Fatalf("frame %d: chunk is not the slice of the frame the provider sent", i)
			}
			if f.BinarySize > BatchChunkSize {
				t.Errorf("frame %d: chunk of %d bytes, more than BatchChunkSize", i, f.BinarySize)
			}
			msg, ok, err = r.Feed(false, chunk)
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if ok {
			completed++
			got = msg
		}
	}
	if completed != 1 || !bytes.Equal(got, frame) || r.InProgress() {
		t.Fatalf("reassembled %d frames (%d bytes), want 1 of %d bytes", completed, len(got), len(frame))
	}
	var kinds []Kind
	if err := Decode(got, func(m Message) error {
		kinds = append(kinds, m.Kind)
		if len(m.Payload) != g.PartykitBatch.Messages[len(kinds)-1].PayloadSize {
			t.Errorf("payload of %d bytes", len(m.Payload))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 1 || kinds[0] != KindSyncStep2 {
		t.Errorf("reassembled frame holds %v, want one sync step 2", kinds)
	}
}
