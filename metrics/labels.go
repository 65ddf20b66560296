package metrics

// The label enums. Each is a small integer so that a hot-path method finds
// its pre-made series by indexing an array, never by hashing a string; each
// String gives the label value it is exported under.

// Route is the transport a connection came in on.
type Route int

// Routes.
const (
	RouteWS       Route = iota // y-websocket, /ws/{room}
	RoutePartykit              // y-partykit, /parties/{party}/{room}
	numRoutes
)

var routeLabels = [numRoutes]string{
	RouteWS:       "ws",
	RoutePartykit: "partykit",
}

// String returns the route's label value, "other" for a value that is not
// one of the constants.
func (r Route) String() string {
	if r < 0 || r >= numRoutes {
		return "other"
	}
	return routeLabels[r]
}

// Kind is the type of a protocol message, as counted by MessageIn and
// MessagesOut.
type Kind int

// Message kinds. The zero value is KindOther, so that a message the caller
// did not classify is counted as other rather than as some real type.
const (
	KindOther          Kind = iota // undecodable or unknown type, y-partykit text
	KindSyncStep1                  // sync step 1: a state vector
	KindSyncStep2                  // sync step 2: the missing part of a document
	KindUpdate                     // sync update: a document change
	KindAwareness                  // awareness (presence) update
	KindAuth                       // auth message (permission denied)
	KindQueryAwareness             // query awareness
	numKinds
)

var kindLabels = [numKinds]string{
	KindOther:          "other",
	KindSyncStep1:      "sync_step1",
	KindSyncStep2:      "sync_step2",
	KindUpdate:         "update",
	KindAwareness:      "awareness",
	KindAuth:           "auth",
	KindQueryAwareness: "query_awareness",
}

// String returns the kind's label value; a value that is not one of the
// constants is "other", as it is counted.
func (k Kind) String() string { return kindLabels[k.index()] }

func (k Kind) index() Kind {
	if k < 0 || k >= numKinds {
		return KindOther
	}
	return k
}

// Reason says why collabd refused a request, a connection or a message.
type Reason int

// Rejection reasons. The zero value, and any value that is not one of the
// constants, counts as "other".
const (
	ReasonOther     Reason = iota // a reason without its own constant
	ReasonAuth                    // no token or a bad one (401)
	ReasonForbidden               // a valid token without access to the room (403)
	ReasonRate                    // a message or byte rate limit
	ReasonSize                    // a frame, body or document too large
	ReasonBadUpdate               // a message or update that does not decode
	ReasonSpoof                   // awareness for a client ID another connection owns
	ReasonRoomFull                // the room's connection limit
	ReasonIPLimit                 // the per-IP connection limit
	ReasonRoomLimit               // the limit on rooms in memory
	ReasonReadOnly                // an update on a read-only connection
	ReasonExpired                 // the token expired mid-session
	ReasonHandshake               // the handshake timed out
	numReasons
)

var reasonLabels = [numReasons]string{
	ReasonOther:     "other",
	ReasonAuth:      "auth",
	ReasonForbidden: "forbidden",
	ReasonRate:      "rate",
	ReasonSize:      "size",
	ReasonBadUpdate: "bad_update",
	ReasonSpoof:     "spoof",
	ReasonRoomFull:  "room_full",
	ReasonIPLimit:   "ip_limit",
	ReasonRoomLimit: "room_limit",
	ReasonReadOnly:  "read_only",
	ReasonExpired:   "expired",
	ReasonHandshake: "handshake",
}

// String returns the reason's label value.
func (r Reason) String() string { return reasonLabels[r.index()] }

func (r Reason) index() Reason {
	if r < 0 || r >= numReasons {
		return ReasonOther
	}
	return r
}

// Compaction triggers with their own series; any other trigger string is
// counted as "other". They match docstore's Trigger values (this package
// imports no collabd package, so it cannot name them).
var triggerLabels = [...]string{"hibernate", "threshold", "restore", "manual", "interval", "other"}

const triggerOther = len(triggerLabels) - 1

// triggerIndex maps a trigger to its series without allocating.
func triggerIndex(trigger string) int {
	for i, t := range triggerLabels[:triggerOther] {
		if t == trigger {
			return i
		}
	}
	return triggerOther
}
