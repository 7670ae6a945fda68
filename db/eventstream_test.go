package db_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"orgs/db"
	"orgs/domain"
)

// tailOf reads the log from c until nothing more is below the horizon and keeps the tenant's events
// after the creation (the package's other tests write theirs meanwhile; the creation's may still be
// above the horizon when the test starts), reading pages of limit events.
func tailOf(t *testing.T, c db.TailCursor, tenantID string, limit int) ([]db.TailedEvent, db.TailCursor) {
	t.Helper()
	var mine []db.TailedEvent
	for {
		events, next, more, err := store.EventTail(context.Background(), c, limit)
		if err != nil {
			t.Fatalf("tail: %v", err)
		}
		if len(events) > limit {
			t.Fatalf("tail returned %d events, more than the limit %d", len(events), limit)
		}
		for _, e := range events {
			if e.TenantID == tenantID && e.Sequence > 1 {
				mine = append(mine, e)
			}
		}
		c = next
		if !more {
			return mine, c
		}
	}
}

func sequencesOf(events []db.TailedEvent) []int64 {
	var seqs []int64
	for _, e := range events {
		seqs = append(seqs, e.Sequence)
	}
	return seqs
}

// TestEventTailInTransactionOrder: the log's tail gives each committed event once, in the order of the
// transactions that wrote them, and waits for a transaction still open before giving the events of
// later ones: a reader that moved past an open transaction's id would never see its event.
func TestEventTailInTransactionOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newActor(t, "tail")
	o := create(t, a, domain.CreateOrganizationInput{Name: "Tailed"}) // sequence 1
	start, err := store.TailStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO audit_events (tenant_id, organization_id, sequence, type, created_at) VALUES ($1, $2, $3, 'organization.updated', now())`

	// An older transaction, still open, writes sequence 3; a younger one writes sequence 2 and commits.
	older, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Rollback()
	if _, err := older.ExecContext(ctx, insert, a.TenantID, o.ID, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DB().ExecContext(ctx, insert, a.TenantID, o.ID, 2); err != nil {
		t.Fatal(err)
	}
	// A rolled-back transaction writes sequence 4.
	rolled, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rolled.ExecContext(ctx, insert, a.TenantID, o.ID, 4); err != nil {
		t.Fatal(err)
	}
	if err := rolled.Rollback(); err != nil {
		t.Fatal(err)
	}

	got, c := tailOf(t, start, a.TenantID, 2)
	if len(got) != 0 {
		t.Fatalf("while an older transaction is open, the tail gave sequences %v: want none", sequencesOf(got))
	}
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	// The horizon passes both once every older transaction of the database (other tests') has ended.
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		more, next := tailOf(t, c, a.TenantID, 1)
		got, c = append(got, more...), next
		if len(got) < 2 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if want := []int64{3, 2}; !slices.Equal(sequencesOf(got), want) {
		t.Fatalf("tail gave sequences %v: want %v (the older transaction's first, each once, none rolled back)", sequencesOf(got), want)
	}
	if got[0].Tx >= got[1].Tx {
		t.Fatalf("transactions %d then %d: want increasing", got[0].Tx, got[1].Tx)
	}
	// Read again from the start in one page: the same events, then nothing new.
	again, _ := tailOf(t, start, a.TenantID, 100)
	if s := sequencesOf(again); !slices.Equal(s, []int64{3, 2}) {
		t.Fatalf("reading again gave %v", s)
	}
	if rest, _ := tailOf(t, c, a.TenantID, 100); len(rest) != 0 {
		t.Fatalf("after the last event, the tail gave %v", sequencesOf(rest))
	}
}

// TestSnapshotCommitted: a snapshot tells the transactions committed before it from those after.
func TestSnapshotCommitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newActor(t, "snapshot")
	o := create(t, a, domain.CreateOrganizationInput{Name: "Snapshotted"})
	const insert = `INSERT INTO audit_events (tenant_id, organization_id, sequence, type, created_at) VALUES ($1, $2, $3, 'organization.updated', now()) RETURNING pg_current_xact_id()::text`
	txOf := func(seq int64) uint64 {
		var x uint64
		if err := store.DB().GetContext(ctx, &x, insert, a.TenantID, o.ID, seq); err != nil {
			t.Fatal(err)
		}
		return x
	}
	before := txOf(2)
	open, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback()
	var during uint64
	if err := open.GetContext(ctx, &during, insert, a.TenantID, o.ID, 3); err != nil {
		t.Fatal(err)
	}
	// A younger transaction commits while the older one is open: the snapshot lists the older one as
	// running below its xmax.
	younger := txOf(5)
	snap, err := store.CurrentSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Commit(); err != nil {
		t.Fatal(err)
	}
	after := txOf(4)
	for _, c := range []struct {
		name string
		tx   uint64
		want bool
	}{{"committed before", before, true}, {"open at the snapshot", during, false},
		{"younger, committed before", younger, true}, {"begun after", after, false}} {
		if got := snap.Committed(c.tx); got != c.want {
			t.Errorf("%s (%d) in %+v: committed %v, want %v", c.name, c.tx, snap, got, c.want)
		}
	}
}

// TestNoNotifyInWritingTransactions: no trigger of the schema sends a notification. A NOTIFY in the
// transaction that writes an event makes every notifying commit of the cluster wait for the others
// (PostgreSQL holds a lock from the notification's queueing through the commit's WAL flush): the
// creates under load went half as fast (migration 00015). Announcements are sent after the commit.
func TestNoNotifyInWritingTransactions(t *testing.T) {
	t.Parallel()
	var notifying []string
	err := store.DB().SelectContext(context.Background(), &notifying, `
SELECT t.tgrelid::regclass::text || '.' || t.tgname
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND (p.prosrc ILIKE '%pg_notify%' OR p.prosrc ILIKE '%notify %')`)
	if err != nil {
		t.Fatal(err)
	}
	if len(notifying) > 0 {
		t.Fatalf("triggers that notify in the writing transaction: %v", notifying)
	}
}
