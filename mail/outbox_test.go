package mail

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/domain"
)

// The outbox of db.Store, as the worker uses it. These tests claim emails, so they do not run in
// parallel with the worker tests (see store); each leaves nothing pending.

// claimOf returns the claimed email of id, if it is among emails.
func claimOf(emails []db.OutboxEmail, id string) (db.OutboxEmail, bool) {
	i := slices.IndexFunc(emails, func(e db.OutboxEmail) bool { return e.ID == id })
	if i < 0 {
		return db.OutboxEmail{}, false
	}
	return emails[i], true
}

func claim(t *testing.T, lease time.Duration) []db.OutboxEmail {
	t.Helper()
	emails, err := store.ClaimEmails(context.Background(), 100, lease)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return emails
}

func TestOutboxClaimLeaseAndSettle(t *testing.T) {
	ctx := context.Background()
	tenant := newTenant(t)
	e := testEmail(tenant)
	enqueue(t, e)

	got, ok := claimOf(claim(t, time.Hour), e.ID)
	if !ok {
		t.Fatal("a due email was not claimed")
	}
	want := e
	want.Attempts = 1
	want.CreatedAt = got.CreatedAt
	if got.Email != want || got.MessageID != "<"+e.ID+"@orgs.invalid>" || got.CreatedAt.IsZero() {
		t.Errorf("claimed %+v, want %+v with its Message-ID", got, want)
	}
	if _, ok := claimOf(claim(t, time.Hour), e.ID); ok {
		t.Fatal("a leased email was claimed again")
	}

	// A failure with a retry time makes it due again then, and keeps the cause.
	past := time.Now().Add(-time.Second)
	if err := store.MarkEmailFailed(ctx, tenant, e.ID, "451 try again \x00\xff", &past); err != nil {
		t.Fatal(err)
	}
	got, ok = claimOf(claim(t, time.Hour), e.ID)
	if !ok || got.Attempts != 2 {
		t.Fatalf("retry: claimed %v (%+v), want attempt 2", ok, got)
	}
	if st := outboxState(t, tenant, e.ID); st.LastError == nil || *st.LastError != "451 try again \uFFFD" {
		t.Errorf("last_error = %v", st.LastError)
	}

	// Sent: never claimed again, and a late failure report changes nothing.
	if err := store.MarkEmailSent(ctx, tenant, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkEmailFailed(ctx, tenant, e.ID, "late", nil); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkEmailFailed(ctx, tenant, e.ID, "late", &past); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkEmailSent(ctx, tenant, e.ID); err != nil {
		t.Fatalf("marking sent twice: %v", err)
	}
	if _, ok := claimOf(claim(t, time.Hour), e.ID); ok {
		t.Fatal("a sent email was claimed")
	}
	if st := outboxState(t, tenant, e.ID); st.SentAt == nil || st.FailedAt != nil || st.Attempts != 2 {
		t.Errorf("after late reports: %+v, want sent after 2 attempts", st)
	}

	// Given up: never claimed again either.
	e2 := testEmail(tenant)
	enqueue(t, e2)
	if _, ok := claimOf(claim(t, time.Hour), e2.ID); !ok {
		t.Fatal("not claimed")
	}
	if err := store.MarkEmailFailed(ctx, tenant, e2.ID, "550 no such user", nil); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkEmailFailed(ctx, tenant, e2.ID, "later", &past); err != nil {
		t.Fatal(err)
	}
	if _, ok := claimOf(claim(t, time.Hour), e2.ID); ok {
		t.Fatal("a given-up email was claimed")
	}
	if st := outboxState(t, tenant, e2.ID); st.FailedAt == nil || st.SentAt != nil || *st.LastError != "550 no such user" {
		t.Errorf("given up: %+v", st)
	}

	for _, err := range []error{
		store.MarkEmailSent(ctx, tenant, uuid.NewString()),
		store.MarkEmailFailed(ctx, tenant, uuid.NewString(), "x", nil),
		store.MarkEmailSent(ctx, newTenant(t), e.ID), // another tenant's
	} {
		if domain.ErrorCodeOf(err) != domain.ENOTFOUND {
			t.Errorf("settling an unknown email: %v, want NOT_FOUND", err)
		}
	}
}

func TestOutboxLeaseExpires(t *testing.T) {
	tenant := newTenant(t)
	e := testEmail(tenant)
	enqueue(t, e)
	// Long enough for the next claim to come within it even on a loaded machine (make test runs the
	// packages at once), short enough to wait for.
	if _, ok := claimOf(claim(t, 250*time.Millisecond), e.ID); !ok {
		t.Fatal("not claimed")
	}
	if _, ok := claimOf(claim(t, time.Hour), e.ID); ok {
		t.Fatal("claimed again within its lease")
	}
	var again db.OutboxEmail
	waitFor(t, "the lease to end", func() bool {
		var ok bool
		again, ok = claimOf(claim(t, time.Hour), e.ID)
		return ok
	})
	if again.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", again.Attempts)
	}
	if err := store.MarkEmailSent(context.Background(), tenant, e.ID); err != nil {
		t.Fatal(err)
	}
}

// Concurrent claims (FOR UPDATE SKIP LOCKED) share the due emails out without overlap.
func TestOutboxConcurrentClaims(t *testing.T) {
	tenant := newTenant(t)
	const n = 30
	for range n {
		enqueue(t, testEmail(tenant))
	}
	var (
		mu    sync.Mutex
		seen  = map[string]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for range 8 {
		wg.Go(func() {
			<-start
			for {
				emails, err := store.ClaimEmails(context.Background(), 2, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(emails) == 0 {
					return
				}
				mu.Lock()
				for _, e := range emails {
					seen[e.ID]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d emails claimed, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("email %s claimed %d times", id, k)
		}
		if err := store.MarkEmailSent(context.Background(), tenant, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEnqueueEmail(t *testing.T) {
	t.Parallel() // claims nothing
	ctx := context.Background()
	tenant := newTenant(t)
	e := testEmail(tenant)
	e.ID = ""
	if err := store.EnqueueEmail(ctx, e); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := store.DB().Select(&ids, `SELECT id FROM email_outbox WHERE tenant_id = $1`, tenant); err != nil || len(ids) != 1 {
		t.Fatalf("rows %v (%v), want one with a generated id", ids, err)
	}
	for name, bad := range map[string]func(*domain.Email){
		"no tenant":     func(e *domain.Email) { e.TenantID = "" },
		"no kind":       func(e *domain.Email) { e.Kind = " " },
		"bad recipient": func(e *domain.Email) { e.To = "ada@example.com\r\nBcc: eve@example.com" },
		"no recipient":  func(e *domain.Email) { e.To = "" },
	} {
		e := testEmail(tenant)
		bad(&e)
		if err := store.EnqueueEmail(ctx, e); domain.ErrorCodeOf(err) != domain.EINVALID {
			t.Errorf("%s: %v, want BAD_USER_INPUT", name, err)
		}
	}
	var after []string
	if err := store.DB().Select(&after, `SELECT id FROM email_outbox WHERE tenant_id = $1`, tenant); err != nil || len(after) != 1 {
		t.Fatalf("rows %v (%v) after refusals, want still one", after, err)
	}
	if err := store.MarkEmailSent(ctx, tenant, ids[0]); err != nil {
		t.Fatal(err)
	}
}
