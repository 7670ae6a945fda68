package outbox

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// The loop runs full batches back to back, sleeps an hour-long poll otherwise, wakes on Wake and at the
// retry a batch asked for, and returns when its context ends.
func TestLoop(t *testing.T) {
	var l Loop
	var calls atomic.Int32
	seen := make(chan int32, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, time.Hour, time.Now, func(context.Context) (time.Time, bool) {
			n := calls.Add(1)
			seen <- n
			switch n {
			case 1, 2:
				return time.Time{}, true // full: look again at once
			case 4:
				return time.Now().Add(20 * time.Millisecond), false // a retry due soon
			}
			return time.Time{}, false // nothing due: wait for the poll or a wake
		}, nil)
	}()
	wait := func(want int32) {
		t.Helper()
		select {
		case n := <-seen:
			if n != want {
				t.Fatalf("batch %d, want %d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d did not run", want)
		}
	}
	wait(1)
	wait(2)
	wait(3) // then idle for the hour-long poll...
	select {
	case n := <-seen:
		t.Fatalf("batch %d ran without a wake", n)
	case <-time.After(50 * time.Millisecond):
	}
	l.Wake() // ...until woken
	wait(4)
	wait(5) // at the retry batch 4 scheduled
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

// After a batch that scheduled nothing, the loop waits for the work its due says comes due, not for
// the hour-long poll.
func TestLoopWaitsForDue(t *testing.T) {
	var l Loop
	var calls atomic.Int32
	seen := make(chan int32, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, time.Hour, time.Now, func(context.Context) (time.Time, bool) {
			seen <- calls.Add(1)
			return time.Time{}, false
		}, func(context.Context) time.Time {
			if calls.Load() == 1 {
				return time.Now().Add(20 * time.Millisecond) // due soon, as another worker's retry
			}
			return time.Time{} // nothing pending
		})
	}()
	for want := int32(1); want <= 2; want++ {
		select {
		case n := <-seen:
			if n != want {
				t.Fatalf("batch %d, want %d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d did not run", want)
		}
	}
	select {
	case n := <-seen:
		t.Fatalf("batch %d ran with nothing due and no wake", n)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	<-done
}
