package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

// With MaxCreates 1, a create waits while another runs, and one whose context ends before its turn
// writes nothing.
func TestCreatesTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Open(t, packageURL, db.Options{MaxOpenConns: 4, MaxCreates: 1})
	a := newActor(t, "turns")
	yes := true
	first := create(t, a, domain.CreateOrganizationInput{Name: "Turns default", IsDefault: &yes})

	// A default create demotes the previous default: while the test holds that row, the create waits
	// for it, holding the only turn.
	holder, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM organizations WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, a.TenantID, first.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.CreateOrganizationWritten(ctx, newOrganization(t, a, domain.CreateOrganizationInput{Name: "Turns second", IsDefault: &yes}))
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting bool
		if err := store.DB().GetContext(ctx, &waiting, `SELECT EXISTS (SELECT FROM pg_stat_activity
		  WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%demoted%')`); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second default create never waited for the held row")
		}
	}

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.CreateOrganizationWritten(short, newOrganization(t, a, domain.CreateOrganizationInput{Name: "Turns third"})); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a create without a turn: %v, want the context's deadline", err)
	}
	if n := count(t, a.TenantID, "organizations", "name = $2", "Turns third"); n != 0 {
		t.Errorf("%d organizations made without a turn", n)
	}

	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the second create: %v", err)
	}
	if _, err := s.CreateOrganizationWritten(ctx, newOrganization(t, a, domain.CreateOrganizationInput{Name: "Turns third"})); err != nil {
		t.Errorf("a create once the turn is free: %v", err)
	}
}
