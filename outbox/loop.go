// Package outbox is the loop shared by the workers that deliver what transactions left in an outbox
// table (the mail worker's emails, the webhook worker's deliveries): claim a batch, send it, then look
// again at once when the batch was full, else at the soonest retry it scheduled, at the next poll, or
// when woken, whichever comes first.
package outbox

import (
	"context"
	"sync"
	"time"
)

// Loop runs a worker's batches. Its zero value is ready; Wake may be called before Run and from any
// goroutine.
type Loop struct {
	once sync.Once
	wake chan struct{}
}

func (l *Loop) wakeChan() chan struct{} {
	l.once.Do(func() { l.wake = make(chan struct{}, 1) })
	return l.wake
}

// Wake makes the loop look for due work now rather than at its next poll, e.g. when a transaction that
// queued work committed. It never blocks; wakes that come while a batch runs fold into one more look.
func (l *Loop) Wake() {
	select {
	case l.wakeChan() <- struct{}{}:
	default:
	}
}

// recheckAfter is the least wait for work that is due but was not claimed: another worker holds it for
// the moment of its claim.
const recheckAfter = 10 * time.Millisecond

// Run calls batch until ctx is done. batch returns when the soonest retry it scheduled is due (zero if
// none) and whether it was full; now is the clock of those times; poll bounds the wait between batches.
// due, when not nil, returns when the soonest pending work is due by the outbox's own times (zero if
// none): after a batch that scheduled nothing and was not full, the loop waits for that rather than
// for the poll, so that it does not miss until then work that came due a moment after this host's
// clock said (a claim a hair early, or the clock set back), another worker's retries or a lapsed lease.
func (l *Loop) Run(ctx context.Context, poll time.Duration, now func() time.Time,
	batch func(context.Context) (next time.Time, full bool), due func(context.Context) time.Time) {
	wake := l.wakeChan()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, full := batch(ctx)
		if ctx.Err() != nil {
			return
		}
		if full {
			continue // more may be due
		}
		if next.IsZero() && due != nil {
			if next = due(ctx); !next.IsZero() {
				next = later(next, now().Add(recheckAfter))
			}
		}
		wait := poll
		if !next.IsZero() {
			wait = max(min(wait, next.Sub(now())), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Or returns v, or fallback when v is not positive: the workers' settings left at zero take their
// defaults.
func Or[T int | time.Duration](v, fallback T) T {
	if v > 0 {
		return v
	}
	return fallback
}
