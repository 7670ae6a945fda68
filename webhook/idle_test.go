package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/webhook"
)

// relayStatement is in the text of the relay's statement that locks its position: one per relay.
const relayStatement = "FROM webhook_relay FOR UPDATE SKIP LOCKED"

// While no endpoint is enabled, wakes (one per commit under load) neither relay nor claim: the worker
// relays once a poll interval. With an endpoint enabled, every wake relays, as before.
func TestWorkerIdlesWithoutEndpoints(t *testing.T) {
	ctx := context.Background()
	s := dbtest.Open(t, dbtest.New(t), db.Options{Driver: dbtest.CountingDriver})
	_, a, err := s.CreateAPIKey(ctx, db.NewAPIKey{Name: "key", Tenant: "idle " + uuid.NewString(),
		Email: "owner@example.com", UserName: "Owner", Permissions: domain.AllPermissions})
	if err != nil {
		t.Fatal(err)
	}
	endpoints := func() bool {
		t.Helper()
		r, err := s.RelayWebhookEvents(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		return r.Endpoints
	}
	if endpoints() {
		t.Fatal("the relay found an endpoint enabled in a new database")
	}

	relays, stopWatching := dbtest.Watch(relayStatement)
	defer stopWatching()
	// wakes starts a worker polling once an hour, waits for its first relay, then wakes it 20 times and
	// returns how many relays followed.
	wakes := func() int64 {
		t.Helper()
		w := &webhook.Worker{Store: s, Client: &http.Client{}, PollInterval: time.Hour}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := relays()
		go func() { done <- w.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		waitFor(t, "the worker's first relay", func() bool { return relays() > start })
		before := relays()
		for range 20 {
			w.Wake()
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		return relays() - before
	}
	if n := wakes(); n != 0 {
		t.Errorf("without an endpoint enabled, 20 wakes made %d relays, want none before the next poll", n)
	}

	e, err := s.CreateWebhookEndpoint(ctx, a, domain.WebhookEndpointInput{URL: "https://hooks.example.com/idle"},
		"whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if !endpoints() {
		t.Fatal("the relay found no endpoint enabled after one was created")
	}
	if n := wakes(); n == 0 {
		t.Error("with an endpoint enabled, 20 wakes made no relay")
	}

	off := false
	if _, err := s.UpdateWebhookEndpoint(ctx, a, e.ID, domain.WebhookEndpointPatch{Enabled: &off}, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if endpoints() {
		t.Error("the relay found an endpoint enabled after the only one was turned off")
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
