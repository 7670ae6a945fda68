package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
)

// With MaxReads 1, a read's turn waits while another is held, until its context ends; without a bound,
// turns never wait.
func TestReadsTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Open(t, packageURL, db.Options{MaxOpenConns: 2, MaxReads: 1})
	release, err := s.ReadTurn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := s.ReadTurn(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second turn while the only one is held: %v, want the context's deadline", err)
	}
	release()
	if release, err := s.ReadTurn(ctx); err != nil {
		t.Errorf("a turn once it is free: %v", err)
	} else {
		release()
	}

	// store has no bound: any number of turns at once.
	var releases []func()
	for range 50 {
		r, err := store.ReadTurn(ctx)
		if err != nil {
			t.Fatalf("turn %d without a bound: %v", len(releases)+1, err)
		}
		releases = append(releases, r)
	}
	for _, r := range releases {
		r()
	}
}
