// Package dbtest hands each test package its own PostgreSQL database, cloned from a template migrated
// once per version of the migrations, so that tests never depend on what an earlier run left behind.
//
// The server is the one DATABASE_URL names (make test sets it; unset, the local server on
// 127.0.0.1:5432); its user needs the CREATEDB privilege.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver

	"orgs/db"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the URL of the server the tests use.
func ServerURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return defaultURL
}

// withDatabase returns serverURL with its database name replaced.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("DATABASE_URL must be a postgres:// URL for the tests")
	}
	u.Path = "/" + name
	return u.String(), nil
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates a fresh, migrated database for label (a package or test name) and returns its
// URL and a function that drops it.
func NewDatabase(label string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := sql.Open("postgres", ServerURL())
	if err != nil {
		return "", nil, fmt.Errorf("open test server: %w", err)
	}
	defer admin.Close()
	template, err := ensureTemplate(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "orgs_test_" + unsafeName.ReplaceAllString(strings.ToLower(label), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name += "_" + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template)); err != nil {
		return "", nil, fmt.Errorf("create test database: %w", err)
	}
	dbURL, err := withDatabase(ServerURL(), name)
	if err != nil {
		return "", nil, err
	}
	drop := func() {
		admin, err := sql.Open("postgres", ServerURL())
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	}
	return dbURL, drop, nil
}

// New returns the URL of a fresh, migrated database dropped when the test ends.
func New(tb testing.TB) string {
	tb.Helper()
	u, drop, err := NewDatabase(tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(drop)
	return u
}

// Empty returns the URL of a fresh database without any migration, dropped when the test ends.
func Empty(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	admin, err := sql.Open("postgres", ServerURL())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "orgs_test_empty_" + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("create empty database: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("postgres", ServerURL())
		if err == nil {
			admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
			admin.Close()
		}
	})
	u, err := withDatabase(ServerURL(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// ensureTemplate creates the migrated template of the current migrations unless it exists. Test
// packages run in parallel processes: an advisory lock lets one of them build it while the others wait.
func ensureTemplate(ctx context.Context, admin *sql.DB) (string, error) {
	name := "orgs_template_" + db.MigrationsChecksum()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext('orgs-dbtest-template'))`); err != nil {
		return "", fmt.Errorf("lock template: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext('orgs-dbtest-template'))`)

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("find template: %w", err)
	}
	if exists {
		return name, nil
	}
	// Templates of older migrations are of no more use, but another checkout on the same server (a
	// branch with other migrations) may be cloning its own right now: keep the few newest.
	var old []string
	rows, err := conn.QueryContext(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'orgs\_template\_%'
		AND datname NOT LIKE '%\_building' ORDER BY oid DESC OFFSET 4`)
	if err != nil {
		return "", fmt.Errorf("list templates: %w", err)
	}
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			old = append(old, n)
		}
	}
	rows.Close()
	for _, n := range old {
		conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, n))
	}

	building := name + "_building"
	conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building))
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+building); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	buildURL, err := withDatabase(ServerURL(), building)
	if err != nil {
		return "", err
	}
	store, err := db.Open(ctx, buildURL, db.Options{MaxOpenConns: 2})
	if err != nil {
		return "", fmt.Errorf("open template: %w", err)
	}
	_, err = store.Migrate(ctx)
	store.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", fmt.Errorf("rename template: %w", err)
	}
	return name, nil
}

// Main is a test package's TestMain: it runs the tests over a database of the package's own (see
// NewDatabase), opened with opt and handed to use with its URL first, then closes and drops it and
// exits with the tests' code.
func Main(m *testing.M, label string, opt db.Options, use func(url string, s *db.Store)) {
	url, drop, err := NewDatabase(label)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test database:", err)
		os.Exit(1)
	}
	s, err := db.Open(context.Background(), url, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open test database:", err)
		drop()
		os.Exit(1)
	}
	use(url, s)
	code := m.Run()
	s.Close()
	drop()
	os.Exit(code)
}

// Open opens a store on url with opt for the test, closed when the test ends.
func Open(tb testing.TB, url string, opt db.Options) *db.Store {
	tb.Helper()
	s, err := db.Open(context.Background(), url, opt)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Count returns the number of rows of table in the tenant that match the optional condition where[0]
// (whose parameters, where[1:], start at $2).
func Count(tb testing.TB, conn *sqlx.DB, tenantID, table string, where ...any) int {
	tb.Helper()
	q := `SELECT count(*) FROM ` + table + ` WHERE tenant_id = $1`
	args := []any{tenantID}
	if len(where) > 0 {
		q += ` AND (` + where[0].(string) + `)`
		args = append(args, where[1:]...)
	}
	var n int
	if err := conn.Get(&n, q, args...); err != nil {
		tb.Fatalf("count %s: %v", table, err)
	}
	return n
}

// WebhooksRelayed waits until the webhook relay has made the deliveries of every event committed before
// the call, relaying itself (a worker may be relaying meanwhile).
func WebhooksRelayed(tb testing.TB, s *db.Store) {
	tb.Helper()
	ctx := context.Background()
	snap, err := s.CurrentSnapshot(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := s.RelayWebhookEvents(ctx, 100); err != nil {
			tb.Fatalf("relay: %v", err)
		}
		var passed bool
		if err := s.DB().GetContext(ctx, &passed, `SELECT tx >= $1::text::xid8 FROM webhook_relay`, strconv.FormatUint(snap.Xmax, 10)); err != nil {
			tb.Fatal(err)
		}
		if passed {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("the webhook relay did not pass the events committed before it was asked to")
		}
	}
}
