package db

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/jmoiron/sqlx"

	"orgs/domain"
)

// SetClock replaces the store's clock: the tests of the outbox move time instead of waiting for it.
func SetClock(s *Store, now func() time.Time) { s.now = now }

// SetAuthCacheTTL changes how long s remembers keys, so that a test can show what the revocation
// notifications do alone. Call it before s authenticates anything.
func (s *Store) SetAuthCacheTTL(d time.Duration) { s.auth.ttl = d }

// BackendPID returns the server process of the lock's connection.
func (l *IdempotencyLock) BackendPID(ctx context.Context) (int, error) {
	var pid int
	err := l.conn.GetContext(ctx, &pid, `SELECT pg_backend_pid()`)
	return pid, err
}

// ThrottleWakes is throttleWakes, for its test.
func ThrottleWakes(notes <-chan struct{}, wake func(), every time.Duration) {
	throttleWakes(notes, wake, every)
}

// MigrateTo applies the migrations up to version, for the tests of a migration.
func MigrateTo(ctx context.Context, s *Store, version int64) error {
	p, err := newMigrator(s.db.DB)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// CreateWebhookEndpointIn is CreateWebhookEndpoint in the caller's transaction tx, which the test ends.
func CreateWebhookEndpointIn(ctx context.Context, tx *sqlx.Tx, caller *domain.Actor, in domain.WebhookEndpointInput, secret string, now time.Time) (*domain.WebhookEndpoint, error) {
	return createWebhookEndpoint(ctx, tx, caller, in, secret, now)
}

// UpdateWebhookEndpointIn is UpdateWebhookEndpoint in the caller's transaction tx, which the test ends.
func UpdateWebhookEndpointIn(ctx context.Context, tx *sqlx.Tx, caller *domain.Actor, id string, p domain.WebhookEndpointPatch, now time.Time) (*domain.WebhookEndpoint, error) {
	return updateWebhookEndpoint(ctx, tx, caller, id, p, now)
}

// ListSQL is the statement of the first page of 50 organizations matching f, newest first.
func ListSQL(tenantID string, f domain.OrganizationFilter) (string, []any, error) {
	return listQuery(tenantID, f, domain.Order{Field: domain.OrderByCreatedAt, Desc: true}, domain.PageRequest{Size: 50}, "o.id", false)
}

// ConnectAsThePool opens one connection to dsn as the store's pool opens them (lib/pq's driver), with
// ctx, and returns the type of the connection lib/pq reads (as lib/pq keeps it, in its conn's field c)
// and whether the store took the attempt for an outage.
func ConnectAsThePool(ctx context.Context, dsn string) (connType string, down bool, err error) {
	a := &availability{logger: slog.New(slog.DiscardHandler), dropIdle: func() {}}
	c, err := poolConnector("postgres", withConnectTimeout(dsn), a)
	if err != nil {
		return "", false, err
	}
	conn, err := c.Connect(ctx)
	if err != nil {
		return "", a.down, err
	}
	defer conn.Close()
	f := reflect.ValueOf(conn).Elem().FieldByName("c")
	if !f.IsValid() || f.Kind() != reflect.Interface {
		return "", a.down, fmt.Errorf("lib/pq's %T keeps its connection elsewhere than in a field c", conn)
	}
	return f.Elem().Type().String(), a.down, nil
}
