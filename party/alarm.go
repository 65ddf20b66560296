package party

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/collabd/collabd/docstore"
)

// An alarm is stored (in alarmNamespace, durable before SetAlarm returns)
// and scheduled on a timer of the registry, which outlives the room: a due
// alarm wakes a hibernated room, and Start schedules the stored alarms
// again after a restart. The stored alarm is removed once OnAlarm has
// returned, unless OnAlarm set a new one; if OnAlarm fails (panics) it
// stays and fires again after alarmRetry.
type alarm struct {
	at    time.Time
	timer *time.Timer
}

const alarmRetry = 5 * time.Second

func encodeTime(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

func decodeTime(b []byte) (time.Time, error) {
	if len(b) != 8 {
		return time.Time{}, errors.New("alarm time of the wrong length")
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))), nil
}

// SetAlarm sets the room's alarm to at, replacing any other: OnAlarm runs
// then, even if the room has hibernated or the server restarted in
// between. The alarm is stored when SetAlarm returns.
func (rm *Room) SetAlarm(at time.Time) error {
	ctx, cancel := rm.storage.ctx()
	defer cancel()
	err := rm.reg.opts.Storage.Write(ctx, alarmNamespace, []docstore.KVOp{{Key: rm.key.String(), Value: encodeTime(at)}})
	if err != nil {
		return err
	}
	rm.reg.mu.Lock()
	rm.reg.scheduleLocked(rm.key, at)
	rm.reg.mu.Unlock()
	return nil
}

// Alarm returns the time the room's alarm is set to; ok is false if none
// is set.
func (rm *Room) Alarm() (at time.Time, ok bool) {
	rm.reg.mu.Lock()
	defer rm.reg.mu.Unlock()
	if a := rm.reg.alarms[rm.key]; a != nil {
		return a.at, true
	}
	return time.Time{}, false
}

// DeleteAlarm removes the room's alarm.
func (rm *Room) DeleteAlarm() error {
	ctx, cancel := rm.storage.ctx()
	defer cancel()
	if err := rm.reg.opts.Storage.Write(ctx, alarmNamespace, []docstore.KVOp{{Key: rm.key.String(), Delete: true}}); err != nil {
		return err
	}
	rm.reg.mu.Lock()
	if a := rm.reg.alarms[rm.key]; a != nil {
		a.timer.Stop()
		delete(rm.reg.alarms, rm.key)
	}
	rm.reg.mu.Unlock()
	return nil
}

// scheduleLocked (re)schedules the alarm of key at at.
func (r *Registry) scheduleLocked(key roomKey, at time.Time) {
	if old := r.alarms[key]; old != nil {
		old.timer.Stop()
	}
	a := &alarm{at: at}
	a.timer = time.AfterFunc(time.Until(at), func() { r.fire(key, a) })
	r.alarms[key] = a
}

// fire delivers a due alarm to its room, waking it.
func (r *Registry) fire(key roomKey, a *alarm) {
	r.mu.Lock()
	current := r.alarms[key] == a
	r.mu.Unlock()
	if !current {
		return
	}
	rm, err := r.acquire(key)
	if err != nil {
		return // shutting down: the alarm stays stored
	}
	rm.post(func() {
		defer r.release(rm)
		ok := rm.call("OnAlarm", func() error { rm.srv.OnAlarm(); return nil })
		r.mu.Lock()
		if r.alarms[key] != a {
			r.mu.Unlock()
			return // OnAlarm set another one (or deleted it)
		}
		if !ok {
			if !r.closing {
				a.timer.Reset(alarmRetry)
			}
			r.mu.Unlock()
			return
		}
		delete(r.alarms, key)
		r.mu.Unlock()
		// Only this room's goroutine sets its alarm, so no SetAlarm can
		// come between the check above and this removal.
		ctx, cancel := rm.storage.ctx()
		defer cancel()
		if err := r.opts.Storage.Write(ctx, alarmNamespace, []docstore.KVOp{{Key: key.String(), Delete: true}}); err != nil {
			rm.log.Warn("removing a fired alarm failed; it will fire again after a restart", "err", err)
		}
	})
}
