package db_test

import (
	"testing"
	"time"

	"orgs/db"
)

// TestThrottleWakes: a stream of announcements makes one wake at once, then at most one per interval,
// and a last one after the last announcement.
func TestThrottleWakes(t *testing.T) {
	t.Parallel()
	const every = 30 * time.Millisecond
	notes := make(chan struct{})
	wakes := make(chan time.Time, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.ThrottleWakes(notes, func() { wakes <- time.Now() }, every)
	}()
	var lastNote time.Time
	for range 200 { // about 100 ms of announcements, one every half millisecond
		lastNote = time.Now() // before the send: a wake for this announcement comes after it
		notes <- struct{}{}
		time.Sleep(500 * time.Microsecond)
	}
	// The last announcement is followed by a wake: at once when an interval has passed since the one
	// before, otherwise when it has.
	var got []time.Time
	deadline := time.After(5 * time.Second)
	for len(got) == 0 || got[len(got)-1].Before(lastNote) {
		select {
		case w := <-wakes:
			got = append(got, w)
		case <-deadline:
			t.Fatalf("%d wakes, none after the last announcement", len(got))
		}
	}
	close(notes)
	<-done
	if !got[0].Before(lastNote) || len(got) < 2 {
		t.Errorf("wakes %v: want some while the announcements came, not only after", got)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].Sub(got[i-1]); d < every-time.Millisecond {
			t.Errorf("wakes %d and %d %s apart: want at least %s", i-1, i, d, every)
		}
	}
	if len(got) >= 200 {
		t.Errorf("%d wakes for 200 announcements", len(got))
	}
}
