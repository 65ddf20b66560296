package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// leases reads and writes the room_leases table (migration 0003). Every
// method is one statement, safe for concurrent use; the database's row
// locks order concurrent takers of one room. Expiry is judged by the
// database's clock (now()), never a node's.
type leases struct {
	pool *pgxpool.Pool
	node string // this node's instance
	ttl  time.Duration
}

// acquire takes the lease of room if it is free, expired or already this
// node's, and returns the owner and epoch after the statement: this node's
// instance if it holds the lease now, another's if that one holds it.
func (l *leases) acquire(ctx context.Context, room string) (owner string, epoch int64, err error) {
	err = l.pool.QueryRow(ctx, `
INSERT INTO room_leases AS l (room, node, epoch, expires_at)
VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
ON CONFLICT (room) DO UPDATE
   SET node = excluded.node,
       epoch = CASE WHEN l.node = excluded.node THEN l.epoch ELSE l.epoch + 1 END,
       expires_at = excluded.expires_at
 WHERE l.node = excluded.node OR l.expires_at < now()
RETURNING node, epoch`, room, l.node, l.ttl.Milliseconds()).Scan(&owner, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		// Held by another node: who?
		err = l.pool.QueryRow(ctx, `SELECT node, epoch FROM room_leases WHERE room = $1`, room).Scan(&owner, &epoch)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", 0, errLeaseRace // released in between: try again
		}
	}
	if err != nil {
		return "", 0, fmt.Errorf("cluster: taking the lease of %q: %w", room, err)
	}
	return owner, epoch, nil
}

var errLeaseRace = errors.New("cluster: lease released while being taken")

// renew extends every lease this node holds and returns the rooms it
// still holds (a lease another node took after it expired is not
// among them).
func (l *leases) renew(ctx context.Context) (map[string]int64, error) {
	rows, err := l.pool.Query(ctx, `
UPDATE room_leases SET expires_at = now() + $2 * interval '1 millisecond'
 WHERE node = $1
RETURNING room, epoch`, l.node, l.ttl.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("cluster: renewing leases: %w", err)
	}
	held := make(map[string]int64)
	var room string
	var epoch int64
	_, err = pgx.ForEachRow(rows, []any{&room, &epoch}, func() error {
		held[room] = epoch
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: renewing leases: %w", err)
	}
	return held, nil
}

// release gives up the lease of room if this node still holds it at
// epoch.
func (l *leases) release(ctx context.Context, room string, epoch int64) error {
	_, err := l.pool.Exec(ctx, `DELETE FROM room_leases WHERE room = $1 AND node = $2 AND epoch = $3`, room, l.node, epoch)
	if err != nil {
		return fmt.Errorf("cluster: releasing the lease of %q: %w", room, err)
	}
	return nil
}

// releaseAll gives up every lease this node holds.
func (l *leases) releaseAll(ctx context.Context) error {
	_, err := l.pool.Exec(ctx, `DELETE FROM room_leases WHERE node = $1`, l.node)
	if err != nil {
		return fmt.Errorf("cluster: releasing leases: %w", err)
	}
	return nil
}
