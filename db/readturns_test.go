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

// A read replica's store bounds its reads as the primary's does, with turns of its own: reads from the
// replica neither go unbounded nor wait for the primary's.
func TestReplicaReadsTakeTurnsOfTheirOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Open(t, packageURL, db.Options{MaxOpenConns: 2, MaxReads: 1})
	rep, err := s.OpenReadReplica(ctx, packageURL, db.ReplicaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	primary, err := s.ReadTurn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer primary()
	release, err := rep.Store().ReadTurn(ctx)
	if err != nil {
		t.Fatalf("the replica's turn while the primary's is held: %v", err)
	}
	defer release()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := rep.Store().ReadTurn(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second replica turn while its only one is held: %v, want the context's deadline", err)
	}
}
