// The poll party with args.voters partysocket clients: create, one vote
// each, re-votes, a storm of votes, a close. See TestPartyPoll.
import { args, connect, waitFor, until, type, fail } from './partylib.mjs'

const room = args.room
const n = args.voters ?? 100
const options = ['red', 'green', 'blue']
const presenter = connect({ party: 'poll', room, id: 'presenter' })
await waitFor(presenter, type('poll'), 'first poll message')
presenter.send(JSON.stringify({ type: 'create', question: 'Colour?', options }))
const created = (await waitFor(presenter, (m) => m && m.type === 'poll' && m.poll, 'created poll')).msg.poll

const voters = []
for (let i = 0; i < n; i++) voters.push(connect({ party: 'poll', room, id: 'voter-' + i }))
await until(voters, () => voters.every((v) => v.got.some((m) => m && m.type === 'poll' && m.poll)), 'every voter sees the poll', 20000)

const lastTally = () => [...presenter.got].reverse().find(type('tally'))
const tallyWhere = (pred, what) => until([presenter], () => { const t = lastTally(); return t && pred(t) }, what, 20000)
const mine = new Array(n)
const vote = (i, o) => { mine[i] = o; voters[i].send(JSON.stringify({ type: 'vote', option: o })) }
const expected = () => options.map((_, o) => mine.filter((x) => x === o).length)
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)

// One vote each.
for (let i = 0; i < n; i++) vote(i, i % 3)
await until(voters, () => voters.every((v, i) => v.got.some((m) => m && m.type === 'voted' && m.option === i % 3)), 'every vote acknowledged', 20000)
await tallyWhere((t) => same(t.tallies, expected()) && t.votes === n, 'the tally of the first round')
const first = lastTally()

// Re-votes: the first ten move their vote to blue.
for (let i = 0; i < 10; i++) vote(i, 2)
await tallyWhere((t) => same(t.tallies, expected()) && t.votes === n, 'the tally after the re-votes')
const revoted = lastTally()

// A voter who reconnects (same partysocket id) is told its vote.
voters[50].close()
const back = connect({ party: 'poll', room, id: 'voter-50' })
const backPoll = (await waitFor(back, (m) => m && m.type === 'poll' && m.poll, 'poll after the reconnect')).msg
voters[50] = back
const want50 = mine[50]

// A storm: every voter votes 5 times at once.
const before = presenter.got.filter(type('tally')).length
let sent = 0
for (let r = 0; r < 5; r++) {
  for (let i = 0; i < n; i++) { vote(i, (i + r * 7) % 3); sent++ }
}
await tallyWhere((t) => same(t.tallies, expected()) && t.votes === n, 'the tally after the storm')
const stormTallies = presenter.got.filter(type('tally')).length - before
const storm = lastTally()

// Closing: not by a voter; by the presenter; then votes are refused.
const v0 = voters[0]
let from = v0.got.length
v0.send(JSON.stringify({ type: 'close' }))
const notOwner = (await waitFor(v0, type('error'), 'error for a voter closing', 10000, from)).msg.error
from = v0.got.length
v0.send('{"type":"vote","option":"x"}')
const badVote = (await waitFor(v0, type('error'), 'error for a bad vote', 10000, from)).msg.error
presenter.send(JSON.stringify({ type: 'close' }))
await waitFor(v0, (m) => m && m.type === 'poll' && m.poll && m.poll.closed, 'closed poll on a voter')
from = v0.got.length
v0.send(JSON.stringify({ type: 'vote', option: 1 }))
const afterClose = (await waitFor(v0, type('error'), 'error for a vote after the close', 10000, from)).msg.error

for (const v of voters) v.close()
presenter.close()
console.log(JSON.stringify({
  created, first, revoted, storm, stormTallies, stormVotes: sent, expected: expected(),
  backVote: backPoll.vote, want50, notOwner, badVote, afterClose
}))
setTimeout(() => process.exit(0), 50)
if (!created) fail('no poll')
