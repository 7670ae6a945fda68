package db_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

// The tests of the relay are not parallel: the relay's position is the database's, and one of them holds
// it. Parallel tests start after them.

// relayNow relays what is below the horizon now, without waiting for it to move.
func relayNow(t *testing.T) {
	t.Helper()
	for {
		r, err := store.RelayWebhookEvents(context.Background(), 2)
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		if !r.More {
			return
		}
	}
}

// newEndpoint creates an endpoint of a's tenant for eventTypes (nil: every type).
func newEndpoint(t *testing.T, s *db.Store, a *domain.Actor, eventTypes []string) string {
	t.Helper()
	e, err := s.CreateWebhookEndpoint(context.Background(), a, domain.WebhookEndpointInput{URL: "https://hooks.example.com/" + t.Name(),
		EventTypes: eventTypes}, "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0", time.Now().UTC())
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	return e.ID
}

// deliveredSequences returns the sequences of the events of the endpoint's deliveries, in the order the
// deliveries were made.
func deliveredSequences(t *testing.T, s *db.Store, tenantID, endpointID string) []int64 {
	t.Helper()
	var seqs []int64
	const q = `
SELECT e.sequence FROM webhook_deliveries d JOIN audit_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
WHERE d.tenant_id = $1 AND d.endpoint_id = $2 ORDER BY d.seq`
	if err := s.DB().SelectContext(context.Background(), &seqs, q, tenantID, endpointID); err != nil {
		t.Fatal(err)
	}
	return seqs
}

func expectDelivered(t *testing.T, s *db.Store, what, tenantID, endpointID string, want ...int64) {
	t.Helper()
	if got := deliveredSequences(t, s, tenantID, endpointID); !slices.Equal(got, want) {
		t.Errorf("%s: deliveries of the events %v, want %v", what, got, want)
	}
}

// expectDeliveredOnce is expectDelivered in any order: events a relay finds in one page are delivered in
// their organization's order, but the horizon is the cluster's, and a transaction of another database
// (another test package) may split an older and a younger transaction's events between two relays,
// which then deliver them in the log's order.
func expectDeliveredOnce(t *testing.T, s *db.Store, what, tenantID, endpointID string, want ...int64) {
	t.Helper()
	if got := deliveredSequences(t, s, tenantID, endpointID); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("%s: deliveries of the events %v, want %v once each", what, got, want)
	}
}

const insertEvent = `INSERT INTO audit_events (tenant_id, organization_id, sequence, type, created_at) VALUES ($1, $2, $3, $4, now())`

// TestWebhookRelayEachCommittedEventOnce: the relay makes one delivery per committed event and endpoint
// that takes its type, none for a rolled-back event or another tenant's endpoint, and waits for an older
// transaction still open rather than passing it (its event would never be delivered).
func TestWebhookRelayEachCommittedEventOnce(t *testing.T) {
	ctx := context.Background()
	a, other := newActor(t, "relay"), newActor(t, "relay other")
	all := newEndpoint(t, store, a, nil)
	updates := newEndpoint(t, store, a, []string{"organization.updated"})
	others := newEndpoint(t, store, other, nil)
	o := create(t, a, domain.CreateOrganizationInput{Name: "Relayed"}) // sequence 1, organization.created
	// The horizon is the cluster's: a transaction of another database may hold it back for a while.
	dbtest.WebhooksRelayed(t, store)

	// An older transaction, still open, writes sequence 3; a younger one writes sequence 2 and commits; a
	// rolled-back one writes sequence 4.
	older, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Rollback()
	if _, err := older.ExecContext(ctx, insertEvent, a.TenantID, o.ID, 3, "organization.updated"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DB().ExecContext(ctx, insertEvent, a.TenantID, o.ID, 2, "organization.updated"); err != nil {
		t.Fatal(err)
	}
	rolled, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rolled.ExecContext(ctx, insertEvent, a.TenantID, o.ID, 4, "organization.updated"); err != nil {
		t.Fatal(err)
	}
	if err := rolled.Rollback(); err != nil {
		t.Fatal(err)
	}

	relayNow(t)
	expectDelivered(t, store, "with the older transaction open", a.TenantID, all, 1)
	expectDelivered(t, store, "with the older transaction open, updates only", a.TenantID, updates)

	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	dbtest.WebhooksRelayed(t, store)
	expectDeliveredOnce(t, store, "every event", a.TenantID, all, 1, 2, 3)
	expectDeliveredOnce(t, store, "updates only", a.TenantID, updates, 2, 3)
	expectDelivered(t, store, "another tenant's endpoint", other.TenantID, others)

	dbtest.WebhooksRelayed(t, store)
	expectDeliveredOnce(t, store, "after relaying again", a.TenantID, all, 1, 2, 3)
}

// TestWebhookRelayEndpointsGetTheEventsAfterThem: however late the relay comes, an endpoint receives
// the events committed after it was created or turned on again, and none of those committed before, or
// while it was off. A relay that finds another holding the position returns at once.
func TestWebhookRelayEndpointsGetTheEventsAfterThem(t *testing.T) {
	ctx := context.Background()
	a := newActor(t, "relay late")
	early := newEndpoint(t, store, a, nil)
	toggled := newEndpoint(t, store, a, nil)
	o := create(t, a, domain.CreateOrganizationInput{Name: "Relayed Late"}) // sequence 1

	// Another relay holds the position.
	holder, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM webhook_relay FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := store.RelayWebhookEvents(ctx, 100)
		if err == nil && (r.Events != 0 || r.Deliveries != 0 || r.More || !r.Endpoints) {
			t.Errorf("a relay without the position read %d events, made %d deliveries (%+v)", r.Events, r.Deliveries, r)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a relay waited for the one holding the position")
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	// Nothing relays until the end (no other test runs meanwhile, and no worker).

	event := func(seq int64) {
		t.Helper()
		if _, err := store.DB().ExecContext(ctx, insertEvent, a.TenantID, o.ID, seq, "organization.updated"); err != nil {
			t.Fatal(err)
		}
	}
	turn := func(id string, on bool) {
		t.Helper()
		if _, err := store.UpdateWebhookEndpoint(ctx, a, id, domain.WebhookEndpointPatch{Enabled: &on}, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
	event(2)
	late := newEndpoint(t, store, a, nil)
	event(3)
	turn(toggled, false)
	event(4)
	turn(toggled, true)
	event(5)

	dbtest.WebhooksRelayed(t, store)
	expectDelivered(t, store, "the endpoint created first", a.TenantID, early, 1, 2, 3, 4, 5)
	expectDelivered(t, store, "the endpoint created after event 2", a.TenantID, late, 3, 4, 5)
	expectDelivered(t, store, "the endpoint turned off and on after event 3", a.TenantID, toggled, 5)
}

// waitForBlocked waits until a session of the package's database waits for a lock.
func waitForBlocked(t *testing.T, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := store.DB().Get(&waiting, `SELECT count(*) FROM pg_locks WHERE NOT granted
			AND (database IS NULL OR database = (SELECT oid FROM pg_database WHERE datname = current_database()))`); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not wait", what)
		}
	}
}

// TestWebhookRelayWhileAnEndpointStarts: an event committed after an endpoint's creation (or turning on)
// took its snapshot, but before that transaction committed, is the endpoint's, whenever a relay runs: a
// relay in between must not pass the event while the endpoint is still invisible to it.
func TestWebhookRelayWhileAnEndpointStarts(t *testing.T) {
	ctx := context.Background()
	a := newActor(t, "relay start")
	o := create(t, a, domain.CreateOrganizationInput{Name: "Relayed While Starting"}) // sequence 1
	off := newEndpoint(t, store, a, nil)
	no, yes := false, true
	if _, err := store.UpdateWebhookEndpoint(ctx, a, off, domain.WebhookEndpointPatch{Enabled: &no}, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	dbtest.WebhooksRelayed(t, store)

	for i, start := range []struct {
		name string
		run  func(tx *sqlx.Tx) (string, error)
	}{
		{"created", func(tx *sqlx.Tx) (string, error) {
			e, err := db.CreateWebhookEndpointIn(ctx, tx, a, domain.WebhookEndpointInput{URL: "https://hooks.example.com/starting"},
				"whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0", time.Now().UTC())
			if err != nil {
				return "", err
			}
			return e.ID, nil
		}},
		{"turned on", func(tx *sqlx.Tx) (string, error) {
			_, err := db.UpdateWebhookEndpointIn(ctx, tx, a, off, domain.WebhookEndpointPatch{Enabled: &yes}, time.Now().UTC())
			return off, err
		}},
	} {
		seq := int64(2 + i)
		// An event's transaction is open when the endpoint starts ...
		event, err := store.DB().BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer event.Rollback()
		if _, err := event.ExecContext(ctx, insertEvent, a.TenantID, o.ID, seq, "organization.updated"); err != nil {
			t.Fatal(err)
		}
		starting, err := store.DB().BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer starting.Rollback()
		id, err := start.run(starting)
		if err != nil {
			t.Fatalf("%s: %v", start.name, err)
		}
		// ... and commits, and a relay runs, before the endpoint's transaction commits.
		if err := event.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := store.RelayWebhookEvents(ctx, 100); err != nil {
			t.Fatal(err)
		}
		if err := starting.Commit(); err != nil {
			t.Fatal(err)
		}
		dbtest.WebhooksRelayed(t, store)
		expectDelivered(t, store, "the endpoint "+start.name+" while the event's transaction was open", a.TenantID, id, seq)
	}
}

// TestWebhookRelayWaitsForAnEndpointTurnedOff: a relay that meets an endpoint being turned off waits
// for the change and makes nothing for it: the change gives up the endpoint's pending deliveries, and a
// delivery made behind its back would be sent anyway.
func TestWebhookRelayWaitsForAnEndpointTurnedOff(t *testing.T) {
	ctx := context.Background()
	a := newActor(t, "relay off")
	ep := newEndpoint(t, store, a, nil)
	create(t, a, domain.CreateOrganizationInput{Name: "Relayed While Turning Off"}) // sequence 1
	off, err := store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Rollback()
	if _, err := off.ExecContext(ctx, `UPDATE webhook_endpoints SET enabled = false, disabled_at = now() WHERE tenant_id = $1 AND id = $2`,
		a.TenantID, ep); err != nil {
		t.Fatal(err)
	}
	relayed := make(chan error, 1)
	go func() {
		_, err := store.RelayWebhookEvents(ctx, 100)
		relayed <- err
	}()
	waitForBlocked(t, "the relay")
	if err := off.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-relayed; err != nil {
		t.Fatal(err)
	}
	dbtest.WebhooksRelayed(t, store)
	expectDelivered(t, store, "an endpoint turned off while the relay read its event", a.TenantID, ep)
}

// TestWebhookRelayTakesOverFromTheTrigger: migration 00017 replaces the trigger that made the deliveries
// in each event's transaction. Every event gets its delivery once across the change: those the trigger
// made (even in a transaction that the migration had to wait for) are not made again, and those written
// after it (even by a transaction older than the migration) are relayed.
//
// The hand-over takes the snapshots it needs whatever the database's default isolation.
func TestWebhookRelayTakesOverFromTheTrigger(t *testing.T) {
	for _, isolation := range []string{"read committed", "repeatable read"} {
		t.Run(isolation, func(t *testing.T) { relayTakesOver(t, isolation) })
	}
}

func relayTakesOver(t *testing.T, isolation string) {
	ctx := context.Background()
	url := dbtest.Empty(t)
	admin, err := db.Open(ctx, url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.DB().ExecContext(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L',
	current_database(), '`+isolation+`'); END $$`)
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(ctx, url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := db.MigrateTo(ctx, s, 16); err != nil {
		t.Fatal(err)
	}
	_, a, err := s.CreateAPIKey(ctx, db.NewAPIKey{Name: "key", Tenant: "trigger to relay", Email: "owner@example.com",
		UserName: "Owner", Permissions: domain.AllPermissions})
	if err != nil {
		t.Fatal(err)
	}
	// An endpoint as the release before made them (the code of today holds the relay, which is not there yet).
	ep := uuid.NewString()
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO webhook_endpoints (tenant_id, id, url, secret, created_at, updated_at)
VALUES ($1, $2, 'https://hooks.example.com/before', 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0', now(), now())`, a.TenantID, ep); err != nil {
		t.Fatal(err)
	}
	n := newOrganization(t, a, domain.CreateOrganizationInput{Name: "Across The Change"})
	if err := s.CreateOrganization(ctx, n); err != nil { // sequence 1, by the trigger
		t.Fatal(err)
	}
	orgID := n.Organization.ID

	// A transaction with an id older than the migration's writes its event after the migration.
	older, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Rollback()
	if _, err := older.ExecContext(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	// A transaction whose event the trigger delivered is still open when the migration starts.
	during, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer during.Rollback()
	if _, err := during.ExecContext(ctx, insertEvent, a.TenantID, orgID, 2, "organization.updated"); err != nil {
		t.Fatal(err)
	}
	migrated := make(chan error, 1)
	go func() { migrated <- db.MigrateTo(ctx, s, 17) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := s.DB().GetContext(ctx, &waiting, `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'audit_events'::regclass
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break // the migration waits for the open transaction
		}
		if time.Now().After(deadline) {
			t.Fatal("the migration did not wait for the transaction that wrote to the log")
		}
	}
	if err := during.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-migrated; err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if _, err := older.ExecContext(ctx, insertEvent, a.TenantID, orgID, 3, "organization.updated"); err != nil {
		t.Fatal(err)
	}
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, insertEvent, a.TenantID, orgID, 4, "organization.updated"); err != nil {
		t.Fatal(err)
	}

	expectDelivered(t, s, "before the relay", a.TenantID, ep, 1, 2)
	dbtest.WebhooksRelayed(t, s)
	expectDelivered(t, s, "after the relay", a.TenantID, ep, 1, 2, 3, 4)
}

// TestWebhookRelaySaysWhenItsPositionIsAhead: a position ahead of the database's transaction ids (a
// dump restored into another cluster) would relay nothing for as long as the ids take to pass it; the
// relay says so instead of waiting in silence.
func TestWebhookRelaySaysWhenItsPositionIsAhead(t *testing.T) {
	ctx := context.Background()
	var saved string
	if err := store.DB().GetContext(ctx, &saved, `SELECT tx::text FROM webhook_relay`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := store.DB().Exec(`UPDATE webhook_relay SET tx = $1::text::xid8`, saved); err != nil {
			t.Errorf("set the position back: %v", err)
		}
	})
	if _, err := store.DB().ExecContext(ctx, `UPDATE webhook_relay SET tx = (tx::text::numeric + 1000000)::text::xid8`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RelayWebhookEvents(ctx, 10); !errors.Is(err, db.ErrRelayAhead) {
		t.Fatalf("relay with its position ahead: %v", err)
	}
}

// TestWebhookRelaySaysWhenItsPositionIsMissing: without the row of its position the relay would never
// relay anything; it says so instead of passing for another relay's turn.
func TestWebhookRelaySaysWhenItsPositionIsMissing(t *testing.T) {
	ctx := context.Background()
	var saved struct {
		Tx             string `db:"tx"`
		TenantID       string `db:"tenant_id"`
		OrganizationID string `db:"organization_id"`
		Sequence       int64  `db:"sequence"`
	}
	if err := store.DB().GetContext(ctx, &saved, `SELECT tx::text AS tx, tenant_id, organization_id, sequence FROM webhook_relay`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := store.DB().Exec(`INSERT INTO webhook_relay (tx, tenant_id, organization_id, sequence) VALUES ($1::text::xid8, $2, $3, $4)`,
			saved.Tx, saved.TenantID, saved.OrganizationID, saved.Sequence); err != nil {
			t.Errorf("set the position back: %v", err)
		}
	})
	if _, err := store.DB().ExecContext(ctx, `DELETE FROM webhook_relay`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RelayWebhookEvents(ctx, 10); !errors.Is(err, db.ErrNoRelayPosition) {
		t.Fatalf("relay without its position: %v", err)
	}
}
