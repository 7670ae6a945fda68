package db_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

// The outbox is shared by every tenant of the database, and ClaimEmails claims due emails of any
// tenant. These tests keep to themselves by time instead: they run on a store of their own whose clock
// is decades in the past, where the emails that other tests queue (due now) are not due yet. Each
// subtest runs in an era earlier than the one before, so that what an earlier subtest left pending is
// never due for a later one, and marks what it claimed sent before it ends.

// clock is a settable time for a store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// pastStore opens a store over the package's database whose time is c's.
func pastStore(t *testing.T, c *clock) *db.Store {
	t.Helper()
	s := dbtest.Open(t, packageURL, db.Options{MaxOpenConns: 20})
	db.SetClock(s, c.Now)
	return s
}

// enqueueEmails queues n emails of the tenant and returns their ids.
func enqueueEmails(t *testing.T, s *db.Store, tenantID string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		e := domain.Email{TenantID: tenantID, ID: uuid.NewString(), Kind: "test",
			To: fmt.Sprintf("to%d@example.com", i), Subject: "Hello", TextBody: "Hello"}
		if err := s.EnqueueEmail(context.Background(), e); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		ids[i] = e.ID
	}
	return ids
}

// claimIDs claims up to 100 emails with s and returns the claims by id.
func claimIDs(t *testing.T, s *db.Store, lease time.Duration) map[string]db.OutboxEmail {
	t.Helper()
	emails, err := s.ClaimEmails(context.Background(), 100, lease)
	if err != nil {
		t.Fatalf("ClaimEmails: %v", err)
	}
	out := make(map[string]db.OutboxEmail, len(emails))
	for _, e := range emails {
		out[e.ID] = e
	}
	return out
}

// idsOf returns the ids of claims, sorted.
func idsOf(claims map[string]db.OutboxEmail) []string {
	return slices.Sorted(maps.Keys(claims))
}

func markSent(t *testing.T, s *db.Store, tenantID string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.MarkEmailSent(context.Background(), tenantID, id); err != nil {
			t.Fatalf("MarkEmailSent: %v", err)
		}
	}
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &clock{}
	s := pastStore(t, c)
	era := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	nextEra := func() time.Time {
		era = era.AddDate(-10, 0, 0)
		c.Set(era)
		return era
	}

	t.Run("ConcurrentClaimsNeverShareAnEmail", func(t *testing.T) {
		start := nextEra()
		a := newActor(t, "tenant")
		const emails, claimers = 60, 8
		ids := enqueueEmails(t, s, a.TenantID, emails)
		var (
			mu      sync.Mutex
			claims  = map[string]int{}
			wg      sync.WaitGroup
			startCh = make(chan struct{})
		)
		for range claimers {
			wg.Go(func() {
				<-startCh
				for range emails { // more claims than emails would mean one is handed out again and again
					got, err := s.ClaimEmails(ctx, 3, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, e := range got {
						claims[e.ID]++
						if e.Attempts != 1 {
							t.Errorf("email %s claimed at attempt %d, want 1", e.ID, e.Attempts)
						}
					}
					mu.Unlock()
				}
			})
		}
		close(startCh)
		wg.Wait()
		for _, id := range ids {
			if claims[id] != 1 {
				t.Errorf("email %s claimed %d times, want once", id, claims[id])
			}
		}
		for id, n := range claims {
			if n != 1 {
				t.Errorf("email %s claimed %d times", id, n)
			}
		}

		// Sent emails are never claimed again; the one left unsent comes back when its lease ends.
		unsent := ids[0]
		markSent(t, s, a.TenantID, ids[1:]...)
		c.Set(start.Add(30 * time.Minute))
		if got := claimIDs(t, s, time.Hour); len(got) != 0 {
			t.Errorf("claimed %d emails within their lease", len(got))
		}
		c.Set(start.Add(2 * time.Hour))
		got := claimIDs(t, s, time.Hour)
		if e, ok := got[unsent]; len(got) != 1 || !ok || e.Attempts != 2 {
			t.Errorf("after the lease claimed %v (attempt %d), want only %s at attempt 2", idsOf(got), e.Attempts, unsent)
		}
		markSent(t, s, a.TenantID, unsent)
		c.Set(start.Add(10 * time.Hour))
		if got := claimIDs(t, s, time.Hour); len(got) != 0 {
			t.Errorf("claimed %d sent emails", len(got))
		}
	})

	t.Run("SkipsLockedEmails", func(t *testing.T) {
		nextEra()
		a := newActor(t, "tenant")
		ids := enqueueEmails(t, s, a.TenantID, 3)
		// Another claim holds the first email's row: a claim takes the others without waiting for it.
		tx, err := store.DB().Beginx()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`SELECT 1 FROM email_outbox WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, a.TenantID, ids[0]); err != nil {
			t.Fatal(err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		got, err := s.ClaimEmails(waitCtx, 100, time.Hour)
		if err != nil {
			t.Fatalf("ClaimEmails beside a locked email: %v", err)
		}
		claimed := map[string]bool{}
		for _, e := range got {
			claimed[e.ID] = true
		}
		if len(got) != 2 || !claimed[ids[1]] || !claimed[ids[2]] {
			t.Errorf("claimed %v, want %v without the locked one", claimed, ids[1:])
		}
		tx.Rollback()
		if got := claimIDs(t, s, time.Hour); len(got) != 1 || got[ids[0]].ID == "" {
			t.Errorf("after the lock claimed %v, want %s", idsOf(got), ids[0])
		}
		markSent(t, s, a.TenantID, ids...)
	})

	t.Run("FailedComesBackAtItsRetryTime", func(t *testing.T) {
		start := nextEra()
		a := newActor(t, "tenant")
		ids := enqueueEmails(t, s, a.TenantID, 2)
		retried, givenUp := ids[0], ids[1]
		if got := claimIDs(t, s, time.Hour); len(got) != 2 {
			t.Fatalf("claimed %d emails, want 2", len(got))
		}
		retryAt := start.Add(10 * time.Minute)
		if err := s.MarkEmailFailed(ctx, a.TenantID, retried, "451 try later", &retryAt); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkEmailFailed(ctx, a.TenantID, givenUp, "550 no such user", nil); err != nil {
			t.Fatal(err)
		}
		c.Set(retryAt.Add(-time.Microsecond))
		if got := claimIDs(t, s, time.Hour); len(got) != 0 {
			t.Errorf("claimed %d emails before the retry time", len(got))
		}
		c.Set(retryAt)
		got := claimIDs(t, s, time.Hour)
		if e, ok := got[retried]; len(got) != 1 || !ok || e.Attempts != 2 {
			t.Errorf("at the retry time claimed %v (attempt %d), want only %s at attempt 2", idsOf(got), e.Attempts, retried)
		}
		var lastError string
		if err := store.DB().Get(&lastError, `SELECT last_error FROM email_outbox WHERE tenant_id = $1 AND id = $2`, a.TenantID, retried); err != nil || lastError != "451 try later" {
			t.Errorf("last_error = %q, %v", lastError, err)
		}
		markSent(t, s, a.TenantID, retried)
		c.Set(start.Add(5 * time.Hour))
		if got := claimIDs(t, s, time.Hour); len(got) != 0 {
			t.Errorf("claimed %d sent or given-up emails", len(got))
		}
	})
}
