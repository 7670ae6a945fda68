package db

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// Changes of an existing organization. Every one runs in a transaction that first locks the
// organization's row: changes of one organization (its fields, its projects, its attributes, its
// status) are serialised, each sees the state the previous one left, and the events they append are
// numbered without gaps. Changes that may demote the tenant's default organization lock the tenant's row
// before, in the order creates take them (tenant, then organization), so that no two wait on each other.

// StaleError reports an expected sequence that is not the organization's current one.
type StaleError struct{ Current int64 }

func (e *StaleError) Error() string {
	return fmt.Sprintf("the organization has changed: its sequence is %d", e.Current)
}

// ChangeOptions tune ChangeOrganization.
type ChangeOptions struct {
	// ExpectedSequence, when set, must be the organization's sequence, else *StaleError.
	ExpectedSequence *int64
	// Removed lets the change see a deleted organization (restore); others read it as not found.
	Removed bool
	// LockTenant takes the tenant's row first: for changes that may demote its default organization.
	LockTenant bool
	// ValidateOnly runs everything, then rolls back.
	ValidateOnly bool
}

// OrganizationTx is one change of one organization, inside its transaction.
type OrganizationTx struct {
	tx    *sqlx.Tx
	actor *domain.Actor
	// Organization is the organization as locked, before the change.
	Organization *domain.Organization
	// Now is the change's one timestamp.
	Now     time.Time
	records []domain.Change
}

// Record appends c to the changes the transaction records: one audit event each, in order.
func (t *OrganizationTx) Record(c domain.Change) { t.records = append(t.records, c) }

// ChangeOrganization runs fn on the tenant's organization id, locked, in a transaction, then appends
// one audit event for each change fn recorded and moves the organization's sequence and updatedAt to the
// last of them. It returns the organization as it is after the change. When fn records nothing, nothing
// is written (a change that changes nothing keeps the sequence). An organization that does not exist in
// the tenant (or is deleted, unless opt.Removed) is an ENOTFOUND error; a stale opt.ExpectedSequence is a
// *StaleError; an error of fn rolls everything back.
func (s *Store) ChangeOrganization(ctx context.Context, a *domain.Actor, id string, opt ChangeOptions, fn func(context.Context, *OrganizationTx) error) (*domain.Organization, error) {
	notFound := domain.Errorf(domain.ENOTFOUND, "organization not found")
	if _, err := uuid.Parse(id); err != nil {
		return nil, notFound
	}
	var out *domain.Organization
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if opt.LockTenant {
			if err := lockTenant(ctx, tx, a.TenantID); err != nil {
				return err
			}
		}
		where := `o.tenant_id = $1 AND o.id = $2 AND o.status <> 'REMOVED' FOR UPDATE OF o`
		if opt.Removed {
			where = `o.tenant_id = $1 AND o.id = $2 FOR UPDATE OF o`
		}
		o, err := organizationWhere(ctx, tx, where, a.TenantID, id)
		if err != nil {
			return err
		}
		if opt.ExpectedSequence != nil && *opt.ExpectedSequence != o.Sequence {
			return &StaleError{Current: o.Sequence}
		}
		t := &OrganizationTx{tx: tx, actor: a, Organization: o, Now: s.nowUTC()}
		if err := fn(ctx, t); err != nil {
			return err
		}
		if len(t.records) == 0 {
			out = o
			return errRollback
		}
		seq := o.Sequence
		for _, c := range t.records {
			seq++
			if err := insertEvent(ctx, tx, a.TenantID, o.ID, seq, a, c, t.Now); err != nil {
				return err
			}
		}
		const q = `UPDATE organizations SET sequence = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2`
		if _, err := tx.ExecContext(ctx, q, a.TenantID, o.ID, seq, t.Now); err != nil {
			return fmt.Errorf("record change: %w", err)
		}
		if out, err = organizationWhere(ctx, tx, `o.tenant_id = $1 AND o.id = $2`, a.TenantID, o.ID); err != nil {
			return err
		}
		if opt.ValidateOnly {
			return errRollback
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockTenant serialises the changes of a tenant that may touch its default organization (FOR NO KEY
// UPDATE does not block the foreign-key checks of other creates).
func lockTenant(ctx context.Context, tx *sqlx.Tx, tenantID string) error {
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, tenantID); err != nil {
		return fmt.Errorf("lock tenant: %w", err)
	}
	return nil
}

// insertEvent appends one event of the organization's audit log.
func insertEvent(ctx context.Context, tx *sqlx.Tx, tenantID, orgID string, seq int64, a *domain.Actor, c domain.Change, now time.Time) error {
	var userID, keyID *string
	if a != nil {
		userID, keyID = &a.UserID, &a.KeyID
	}
	changes := c.Changes
	if changes == nil {
		changes = []domain.FieldChange{}
	}
	data := c.Data
	if data == nil {
		data = map[string]any{}
	}
	var encoded [2]string // JSON as text, see jsonOrNil
	for i, v := range []any{changes, data} {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		encoded[i] = string(b)
	}
	const q = `
INSERT INTO audit_events (tenant_id, organization_id, sequence, type, actor_user_id, actor_key_id, changes, payload, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	if _, err := tx.ExecContext(ctx, q, tenantID, orgID, seq, c.Type, userID, keyID, encoded[0], encoded[1], now); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// eventRow is an audit event as stored.
type eventRow struct {
	TenantID       string    `db:"tenant_id"`
	ID             string    `db:"id"`
	OrganizationID string    `db:"organization_id"`
	Sequence       int64     `db:"sequence"`
	Type           string    `db:"type"`
	ActorUserID    *string   `db:"actor_user_id"`
	ActorKeyID     *string   `db:"actor_key_id"`
	Changes        []byte    `db:"changes"`
	Payload        []byte    `db:"payload"`
	CreatedAt      time.Time `db:"created_at"`
}

func (r eventRow) event() (domain.Event, error) {
	e := domain.Event{TenantID: r.TenantID, ID: r.ID, OrganizationID: r.OrganizationID, Sequence: r.Sequence,
		Type: r.Type, OccurredAt: r.CreatedAt.UTC(), ActorUserID: r.ActorUserID, ActorKeyID: r.ActorKeyID}
	if err := decodeJSON(r.Changes, &e.Changes); err != nil {
		return e, fmt.Errorf("decode event changes: %w", err)
	}
	if err := decodeJSON(r.Payload, &e.Data); err != nil {
		return e, fmt.Errorf("decode event data: %w", err)
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, nil
}

// EventPage asks for events after a sequence, of some types.
type EventPage struct {
	// After is the sequence the page starts after (0: from the first).
	After int64
	// Limit is the page's size; one more is read to tell whether there is a next page.
	Limit int
	// Types, when not empty, keeps only the events of these types.
	Types []string
}

// Events returns a page of the organization's events, oldest first, and whether more follow.
func (s *Store) Events(ctx context.Context, tenantID, orgID string, p EventPage) ([]domain.Event, bool, error) {
	const q = `
SELECT tenant_id, id, organization_id, sequence, type, actor_user_id, actor_key_id, changes, payload, created_at
FROM audit_events
WHERE tenant_id = $1 AND organization_id = $2 AND sequence > $3 AND (cardinality($4::text[]) = 0 OR type = ANY($4))
ORDER BY sequence
LIMIT $5`
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, q, tenantID, orgID, p.After, pqStrings(p.Types), p.Limit+1); err != nil {
		return nil, false, fmt.Errorf("list events: %w", err)
	}
	more := len(rows) > p.Limit
	if more {
		rows = rows[:p.Limit]
	}
	out := make([]domain.Event, len(rows))
	for i, r := range rows {
		e, err := r.event()
		if err != nil {
			return nil, false, err
		}
		out[i] = e
	}
	return out, more, nil
}

// CountEvents counts the organization's events of the given types (all when none).
func (s *Store) CountEvents(ctx context.Context, tenantID, orgID string, types []string) (int, error) {
	const q = `
SELECT count(*) FROM audit_events
WHERE tenant_id = $1 AND organization_id = $2 AND (cardinality($3::text[]) = 0 OR type = ANY($3))`
	var n int
	if err := s.db.GetContext(ctx, &n, q, tenantID, orgID, pqStrings(types)); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// pqStrings sends a list as a text[], never as NULL.
func pqStrings(v []string) any {
	if v == nil {
		v = []string{}
	}
	return pq.Array(v)
}

// decodeJSON decodes JSON stored by PostgreSQL, numbers as json.Number (so none loses its precision).
func decodeJSON(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
