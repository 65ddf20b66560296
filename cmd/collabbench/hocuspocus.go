package main

import (
	"errors"
	"fmt"

	"github.com/collabd/collabd/lib0"
	"github.com/collabd/collabd/yprotocol"
)

// Hocuspocus speaks the y-websocket messages with two differences that
// matter to a load client (read off @hocuspocus/server 3.4's
// ClientConnection and MessageReceiver):
//   - every message, both ways, starts with the document's name as a
//     varString, so one socket can carry several documents, and a frame
//     holds one message;
//   - the server handles nothing of a document before an auth message for
//     it (type 2, sub-type 0, varString token; an empty token passes when
//     the server has no onAuthenticate hook), answers SyncStep1 with its
//     SyncStep2 under type 4 (SyncReply) and acknowledges each update with
//     a SyncStatus message (type 8).
//
// The tool keeps its y-websocket logic and translates at the socket: an
// outgoing frame gets the name in front, and an incoming one loses it and
// has SyncReply mapped back to sync.
const (
	hpTypeSyncReply  = 4
	hpTypeStateless  = 5
	hpTypeBroadcast  = 6
	hpTypeClose      = 7
	hpTypeSyncStatus = 8

	hpAuthToken         = 0
	hpAuthDenied        = 1
	hpAuthAuthenticated = 2
)

// protocol names the wire dialect the load clients speak.
type protocol string

const (
	protoYWebsocket protocol = "y-websocket"
	protoHocuspocus protocol = "hocuspocus"
)

func (p *protocol) String() string { return string(*p) }

func (p *protocol) Set(s string) error {
	switch protocol(s) {
	case protoYWebsocket, protoHocuspocus:
		*p = protocol(s)
		return nil
	}
	return fmt.Errorf("unknown protocol %q (want %s or %s)", s, protoYWebsocket, protoHocuspocus)
}

// hpPrefix is the varString of a document name that starts each of its
// Hocuspocus messages.
func hpPrefix(doc string) []byte {
	return append(lib0.AppendVarUint(nil, uint64(len(doc))), doc...)
}

// hpWrap returns frame (one y-websocket message) as a Hocuspocus message of
// the document whose prefix is pre, appended to dst.
func hpWrap(dst, pre, frame []byte) []byte {
	dst = append(dst, pre...)
	return append(dst, frame...)
}

// hpAuth is the auth message a Hocuspocus provider sends first.
func hpAuth(pre []byte, token string) []byte {
	m := append([]byte(nil), pre...)
	m = append(m, yprotocol.TypeAuth, hpAuthToken)
	m = lib0.AppendVarUint(m, uint64(len(token)))
	return append(m, token...)
}

var errHPDenied = errors.New("hocuspocus: permission denied")

// hpUnwrap turns one Hocuspocus message into the y-websocket frame the
// tool's handler understands, appended to dst. It returns nil with no
// error for messages that carry nothing the tool measures (auth success,
// sync status, stateless), and errHPDenied for a denied auth.
func hpUnwrap(dst, msg []byte, doc string) ([]byte, error) {
	d := lib0.NewDecoder(msg)
	name, err := d.ReadVarString()
	if err != nil {
		return nil, fmt.Errorf("hocuspocus message: document name: %w", err)
	}
	if name != doc {
		return nil, fmt.Errorf("hocuspocus message for document %q on the socket of %q", name, doc)
	}
	typ, err := d.ReadVarUint()
	if err != nil {
		return nil, fmt.Errorf("hocuspocus message: type: %w", err)
	}
	switch typ {
	case yprotocol.TypeSync, hpTypeSyncReply:
		return append(append(dst, yprotocol.TypeSync), d.Rest()...), nil
	case yprotocol.TypeAwareness, yprotocol.TypeQueryAwareness:
		return append(append(dst, byte(typ)), d.Rest()...), nil
	case yprotocol.TypeAuth:
		sub, err := d.ReadVarUint()
		if err != nil {
			return nil, fmt.Errorf("hocuspocus auth message: %w", err)
		}
		if sub == hpAuthDenied {
			return nil, errHPDenied
		}
		return nil, nil
	case hpTypeStateless, hpTypeBroadcast, hpTypeSyncStatus:
		return nil, nil
	case hpTypeClose:
		return nil, errors.New("hocuspocus: the server closed the document")
	}
	return nil, fmt.Errorf("hocuspocus message of unknown type %d", typ)
}
