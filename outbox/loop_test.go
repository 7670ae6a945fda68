package outbox

import (
	"context"
	"testing"
	"time"
)

// running is a Loop run by a test: an hour-long poll, batch n answering with respond(n).
type running struct {
	t      *testing.T
	loop   Loop
	seen   chan int32
	cancel context.CancelFunc
	done   chan struct{}
}

// runLoop runs a loop whose nth batch returns respond(n), with due as the loop's due.
func runLoop(t *testing.T, respond func(n int32) (time.Time, bool), due func(context.Context) time.Time) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, seen: make(chan int32, 16), cancel: cancel, done: make(chan struct{})}
	var calls int32 // the loop's goroutine alone counts
	go func() {
		defer close(r.done)
		r.loop.Run(ctx, time.Hour, time.Now, func(context.Context) (time.Time, bool) {
			calls++
			r.seen <- calls
			return respond(calls)
		}, due)
	}()
	return r
}

// wait fails unless batch want runs next.
func (r *running) wait(want int32) {
	r.t.Helper()
	select {
	case n := <-r.seen:
		if n != want {
			r.t.Fatalf("batch %d, want %d", n, want)
		}
	case <-time.After(10 * time.Second):
		r.t.Fatalf("batch %d did not run", want)
	}
}

// idle fails if a batch runs within 50 ms.
func (r *running) idle(why string) {
	r.t.Helper()
	select {
	case n := <-r.seen:
		r.t.Fatalf("batch %d ran %s", n, why)
	case <-time.After(50 * time.Millisecond):
	}
}

// stop ends the loop's context and fails unless Run returns.
func (r *running) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return when its context ended")
	}
}

// The loop runs full batches back to back, sleeps an hour-long poll otherwise, wakes on Wake and at the
// retry a batch asked for, and returns when its context ends.
func TestLoop(t *testing.T) {
	r := runLoop(t, func(n int32) (time.Time, bool) {
		switch n {
		case 1, 2:
			return time.Time{}, true // full: look again at once
		case 4:
			return time.Now().Add(20 * time.Millisecond), false // a retry due soon
		}
		return time.Time{}, false // nothing due: wait for the poll or a wake
	}, nil)
	r.wait(1)
	r.wait(2)
	r.wait(3) // then idle for the hour-long poll...
	r.idle("without a wake")
	r.loop.Wake() // ...until woken
	r.wait(4)
	r.wait(5) // at the retry batch 4 scheduled
	r.stop()
}

// After a batch that scheduled nothing, the loop waits for the work its due says comes due, not for
// the hour-long poll.
func TestLoopWaitsForDue(t *testing.T) {
	var first = true
	r := runLoop(t, func(int32) (time.Time, bool) { return time.Time{}, false }, func(context.Context) time.Time {
		if first { // called from the loop's goroutine alone
			first = false
			return time.Now().Add(20 * time.Millisecond) // due soon, as another worker's retry
		}
		return time.Time{} // nothing pending
	})
	r.wait(1)
	r.wait(2)
	r.idle("with nothing due and no wake")
	r.stop()
}
