// Package poll is the built-in poll party: a presenter creates a poll (a
// question and its options), everyone votes once (a token's user, or
// else the connection's ID: partysocket's id, kept across its
// reconnections), changing a vote moves it, the tallies are broadcast
// live, and the presenter closes the poll. Votes are stored before they
// count; under a storm of votes they are gathered for Options.Flush into
// one storage write and one broadcast of the tallies.
//
// Connect with partysocket: new PartySocket({host, party: "poll", room}).
// Messages are JSON text.
//
// Client to server:
//
//	{"type": "create", "question": "Lunch?", "options": ["pizza", "sushi"]}
//	{"type": "vote", "option": 1}          an option's index; again to move the vote
//	{"type": "close"}                      only the poll's creator (same user, or same connection ID)
//
// Server to client:
//
//	{"type": "poll", "poll": POLL, "vote": 1}   on connect, create and close; vote: this voter's, or null
//	{"type": "tally", "id": ID, "tallies": [3, 5], "votes": 8}   after votes, to everyone, at most once per Flush
//	{"type": "voted", "option": 1}          this client's vote is stored and counted
//	{"type": "error", "error": "..."}       this client's mistake; nothing else changed
//
// where POLL is {"id", "question", "options", "tallies", "votes",
// "closed", "created"}, or null before the first poll. GET
// /parties/poll/{room} answers {"poll": POLL}. A new poll may be created
// when there is none or the current one is closed. Read-only connections
// see everything and may not create, vote or close. At most MaxOptions
// options of at most MaxText characters, a question of at most MaxText.
package poll

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/party"
)

// Limits of a poll.
const (
	MaxOptions   = 20
	MaxText      = 500
	DefaultFlush = 50 * time.Millisecond
)

// Options configure the poll party; the zero value is the default.
type Options struct {
	// Flush is how long votes are gathered before they are stored and
	// the tallies broadcast.
	Flush time.Duration
}

// New returns the poll party's factory.
func New(opts Options) party.Factory {
	if opts.Flush <= 0 {
		opts.Flush = DefaultFlush
	}
	return func(r *party.Room) party.Server {
		return &poll{room: r, opts: opts, votes: map[string]int{}, pending: map[string]int{}}
	}
}

// Info is what a poll is: its question and options, and whether it is
// closed.
type Info struct {
	ID       string    `json:"id"`
	Question string    `json:"question"`
	Options  []string  `json:"options"`
	Closed   bool      `json:"closed"`
	Created  time.Time `json:"created"`
}

// Poll is a poll as sent: with its tallies and the number of voters.
type Poll struct {
	Info
	Tallies []int `json:"tallies"`
	Votes   int   `json:"votes"`
}

// stored is the poll's record in storage.
type stored struct {
	Info
	Owner string `json:"owner"`
}

type poll struct {
	party.Base
	room *party.Room
	opts Options

	cur     *stored
	votes   map[string]int // voter -> option, as stored
	tallies []int

	// Votes received and not yet stored: voter -> option, and who to
	// answer once they are.
	pending map[string]int
	waiting []ack
	flushAt func() bool // stops the pending flush; nil if none
}

type ack struct {
	conn   *party.Conn
	option int
}

const (
	keyPoll    = "poll"
	votePrefix = "vote/"
)

func voteKey(pollID, voter string) string { return votePrefix + pollID + "/" + voter }

func (p *poll) OnStart() error {
	var s stored
	ok, err := p.room.Storage().GetJSON(keyPoll, &s)
	if err != nil || !ok {
		return err
	}
	p.cur = &s
	p.tallies = make([]int, len(s.Options))
	ps, err := p.room.Storage().List(votePrefix+s.ID+"/", 0)
	if err != nil {
		return err
	}
	for _, kv := range ps {
		voter := strings.TrimPrefix(kv.Key, votePrefix+s.ID+"/")
		o, err := strconv.Atoi(string(kv.Value))
		if err != nil || o < 0 || o >= len(s.Options) {
			p.room.Logger().Warn("skipping a stored vote that does not decode", "key", kv.Key)
			continue
		}
		p.votes[voter] = o
		p.tallies[o]++
	}
	return nil
}

// voter is who a connection votes as.
func voter(c *party.Conn) string {
	if u := c.User(); u != "" {
		return "u:" + u
	}
	return "c:" + c.ID()
}

func (p *poll) view() *Poll {
	if p.cur == nil {
		return nil
	}
	return &Poll{Info: p.cur.Info, Tallies: append([]int{}, p.tallies...), Votes: len(p.votes)}
}

func (p *poll) pollMessage(c *party.Conn) party.Message {
	var vote any
	if c != nil {
		if o, ok := p.votes[voter(c)]; ok {
			vote = o
		}
	}
	return party.JSON(map[string]any{"type": "poll", "poll": p.view(), "vote": vote})
}

func (p *poll) OnConnect(c *party.Conn, _ party.ConnInfo) { c.Send(p.pollMessage(c)) }

func (p *poll) OnRequest(req *party.Request) *party.Response {
	if req.Method != "GET" && req.Method != "HEAD" {
		return party.JSONResponse(405, map[string]string{"error": "GET the results; vote over the WebSocket"})
	}
	return party.JSONResponse(200, map[string]any{"poll": p.view()})
}

// Request is a client's message.
type Request struct {
	Type     string   `json:"type"`
	Question string   `json:"question"`
	Options  []string `json:"options"`
	Option   *int     `json:"option"`
}

// Parse decodes and checks a client's message.
func Parse(data []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return r, errors.New("not a JSON object: " + err.Error())
	}
	switch r.Type {
	case "create":
		if strings.TrimSpace(r.Question) == "" || utf8.RuneCountInString(r.Question) > MaxText {
			return r, fmt.Errorf("the question must have 1 to %d characters", MaxText)
		}
		if len(r.Options) < 2 || len(r.Options) > MaxOptions {
			return r, fmt.Errorf("a poll has 2 to %d options", MaxOptions)
		}
		for _, o := range r.Options {
			if strings.TrimSpace(o) == "" || utf8.RuneCountInString(o) > MaxText {
				return r, fmt.Errorf("each option must have 1 to %d characters", MaxText)
			}
		}
	case "vote":
		if r.Option == nil {
			return r, errors.New(`a vote needs "option": the index of an option`)
		}
	case "close":
	default:
		return r, fmt.Errorf("unknown type %s (want create, vote or close)", strconv.Quote(r.Type))
	}
	return r, nil
}

func (p *poll) OnMessage(m party.Message, c *party.Conn) {
	if m.Binary {
		sendError(c, "binary messages are not understood: send JSON text")
		return
	}
	req, err := Parse(m.Data)
	if err != nil {
		sendError(c, err.Error())
		return
	}
	if c.ReadOnly() {
		sendError(c, "read-only connection: "+req.Type+" is not allowed")
		return
	}
	switch req.Type {
	case "create":
		p.create(c, req)
	case "close":
		p.close(c)
	case "vote":
		p.vote(c, *req.Option)
	}
}

func (p *poll) create(c *party.Conn, req Request) {
	if p.cur != nil && !p.cur.Closed {
		sendError(c, "a poll is open: close it first")
		return
	}
	p.flush() // votes of the old poll first
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := &stored{Info: Info{ID: strconv.FormatInt(now.UnixMilli(), 36), Question: req.Question, Options: req.Options,
		Created: now}, Owner: voter(c)}
	if p.cur != nil && s.ID == p.cur.ID {
		s.ID += "x"
	}
	b, _ := json.Marshal(s)
	var batch party.Batch
	batch.Put(keyPoll, b)
	if err := p.room.Storage().Write(&batch); err != nil {
		p.room.Logger().Warn("storing a poll failed", "err", err)
		sendError(c, "the poll could not be stored; try again")
		return
	}
	old := p.cur
	p.cur, p.votes, p.tallies = s, map[string]int{}, make([]int, len(s.Options))
	if old != nil {
		p.dropVotes(old.ID)
	}
	p.broadcastPoll()
}

// dropVotes removes an old poll's votes (best effort: they are never read
// again).
func (p *poll) dropVotes(id string) {
	ps, err := p.room.Storage().List(votePrefix+id+"/", 0)
	if err != nil {
		return
	}
	for len(ps) > 0 {
		n := min(len(ps), docstore.MaxKVOps)
		keys := make([]string, n)
		for i := range n {
			keys[i] = ps[i].Key
		}
		if p.room.Storage().Delete(keys...) != nil {
			return
		}
		ps = ps[n:]
	}
}

func (p *poll) close(c *party.Conn) {
	switch {
	case p.cur == nil:
		sendError(c, "there is no poll")
		return
	case p.cur.Closed:
		sendError(c, "the poll is closed already")
		return
	case p.cur.Owner != voter(c):
		sendError(c, "only the poll's creator may close it")
		return
	}
	p.flush() // the votes received before the close count
	s := *p.cur
	s.Closed = true
	if err := p.room.Storage().PutJSON(keyPoll, s); err != nil {
		sendError(c, "the poll could not be closed; try again")
		return
	}
	p.cur = &s
	p.broadcastPoll()
}

func (p *poll) broadcastPoll() {
	for _, c := range p.room.Connections() {
		c.Send(p.pollMessage(c))
	}
}

func (p *poll) vote(c *party.Conn, option int) {
	switch {
	case p.cur == nil:
		sendError(c, "there is no poll")
		return
	case p.cur.Closed:
		sendError(c, "the poll is closed")
		return
	case option < 0 || option >= len(p.cur.Options):
		sendError(c, fmt.Sprintf("option %d does not exist (0 to %d)", option, len(p.cur.Options)-1))
		return
	}
	p.pending[voter(c)] = option
	p.waiting = append(p.waiting, ack{c, option})
	if p.flushAt == nil {
		p.flushAt = p.room.After(p.opts.Flush, p.flush)
	}
}

// flush stores the pending votes in one write per docstore.MaxKVOps,
// counts them, answers their voters and broadcasts the tallies.
func (p *poll) flush() {
	if p.flushAt != nil {
		p.flushAt()
		p.flushAt = nil
	}
	if len(p.pending) == 0 {
		return
	}
	pending, waiting := p.pending, p.waiting
	p.pending, p.waiting = map[string]int{}, nil
	var batch party.Batch
	var voters []string
	write := func() bool {
		if batch.Len() == 0 {
			return true
		}
		if err := p.room.Storage().Write(&batch); err != nil {
			p.room.Logger().Warn("storing votes failed", "err", err, "votes", batch.Len())
			return false
		}
		for _, v := range voters {
			o := pending[v]
			if old, ok := p.votes[v]; ok {
				p.tallies[old]--
			}
			p.votes[v] = o
			p.tallies[o]++
		}
		batch, voters = party.Batch{}, nil
		return true
	}
	ok := true
	for v, o := range pending {
		batch.Put(voteKey(p.cur.ID, v), []byte(strconv.Itoa(o)))
		voters = append(voters, v)
		if batch.Len() == docstore.MaxKVOps && !write() {
			ok = false
			break
		}
	}
	if ok {
		ok = write()
	}
	for _, a := range waiting {
		if got, counted := p.votes[voter(a.conn)]; counted && got == a.option {
			a.conn.SendJSON(map[string]any{"type": "voted", "option": a.option})
		} else if !ok {
			sendError(a.conn, "your vote could not be stored; vote again")
		}
	}
	p.room.Broadcast(party.JSON(map[string]any{"type": "tally", "id": p.cur.ID, "tallies": p.tallies, "votes": len(p.votes)}))
}

func sendError(c *party.Conn, msg string) {
	c.SendJSON(map[string]string{"type": "error", "error": msg})
}
