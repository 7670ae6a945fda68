// Package db stores the domain in PostgreSQL through sqlx: the Store, its transactions and the
// embedded migrations.
package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq" // the PostgreSQL driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store reads and writes the service's data. Each exported method that writes owns its transaction.
type Store struct {
	db *sqlx.DB
	// now is the clock; tests may replace it.
	now    func() time.Time
	logger *slog.Logger
	auth   *authCache
	// revocations keeps auth up to date with the keys revoked on every replica (authcache.go).
	revocations *revocationListener
	// lastUsed holds the keys' uses not yet written (lastused.go).
	lastUsed *lastUsedBatch
	// stop ends the background work, which background waits for.
	stop       chan struct{}
	background sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
	// prepared are the statements of the selected reads (selected.go).
	prepared *preparedStatements
	// binaryParameters is true when lib/pq sends []byte parameters in binary (binary_parameters=yes).
	binaryParameters bool
	// replica serves the reads that may lag, when there is one (replica.go).
	replica *Replica
	// availability follows whether the database can be reached (unavailable.go).
	availability *availability
	// keyLocks bounds the idempotency keys locked at once (idempotency.go).
	keyLocks turns
	// creates bounds the creates of organizations that run at once (Options.MaxCreates).
	creates turns
	// reads bounds the list reads that run at once (Options.MaxReads, ReadTurn).
	reads turns
}

// turns bound how many of something run at once; nil is no bound.
type turns chan struct{}

// newTurns are n turns; none (no bound) when n is not positive.
func newTurns(n int) turns {
	if n <= 0 {
		return nil
	}
	return make(turns, n)
}

// ReadTurn waits until a list read may run (Options.MaxReads) or ctx ends, and returns what ends the
// turn. A read that takes one runs its statements in it, holding no connection while it waits.
func (s *Store) ReadTurn(ctx context.Context) (release func(), err error) {
	return s.reads.take(ctx)
}

// take waits for a turn until ctx ends, and returns what gives it back.
func (t turns) take(ctx context.Context) (release func(), err error) {
	if t == nil {
		return func() {}, nil
	}
	select {
	case t <- struct{}{}:
		return func() { <-t }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Options tune the connection pool.
type Options struct {
	// Driver is the database/sql driver name; default "postgres" (lib/pq).
	Driver       string
	MaxOpenConns int
	// AuthCacheTTL is how long an authenticated key is remembered; 0 looks every key up every time. A
	// key revoked through RevokeAPIKey is forgotten at once on every store (LISTEN/NOTIFY); the TTL
	// bounds what no notification announces (a key changed by hand in SQL, a lost notification), so the
	// server keeps it at most a second.
	AuthCacheTTL time.Duration
	// LastUsedFlushInterval is how often the keys' lastUsedAt is written (one statement for all the keys
	// used meanwhile); 0 writes it only when the store closes.
	LastUsedFlushInterval time.Duration
	// Logger receives the store's background warnings; default slog.Default().
	Logger *slog.Logger
	// MaxCreates bounds the creates of organizations that run at once, the others waiting their turn
	// (0: no bound). PostgreSQL spends more CPU per create as more run together (BENCHMARKS.md: on two
	// cores, 1.5 ms at 8 and 3.5 ms at 32), so past a few per core, more at once is fewer done.
	MaxCreates int
	// MaxReads bounds the list reads of the API's direct path that run at once (ReadTurn), the others
	// waiting their turn (0: no bound): as with creates, PostgreSQL spends more CPU per read as more
	// run together (BENCHMARKS.md).
	MaxReads int
}

// withBinaryParameters adds binary_parameters=yes to a connection URL that does not say otherwise:
// lib/pq then sends a parameterized statement in one round trip instead of two (prepare, then execute).
func withBinaryParameters(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn // key=value connection strings are taken as they are
	}
	q := u.Query()
	if q.Get("binary_parameters") == "" {
		q.Set("binary_parameters", "yes")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// usesBinaryParameters tells whether the connection string turns lib/pq's binary_parameters on, as
// lib/pq reads it.
func usesBinaryParameters(dsn string) bool {
	cfg, err := pq.NewConfig(dsn)
	return err == nil && cfg.BinaryParameters
}

// Open connects to PostgreSQL at dsn and checks the connection.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	dsn = withConnectTimeout(withBinaryParameters(dsn))
	drv := opt.Driver
	if drv == "" {
		drv = "postgres"
	}
	logger := opt.Logger
	if logger == nil {
		logger = slog.Default()
	}
	avail := &availability{logger: logger}
	pool, err := openPool(drv, dsn, avail)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	conn := sqlx.NewDb(pool, drv)
	maxIdle := 2 // database/sql's default
	if opt.MaxOpenConns > 0 {
		conn.SetMaxOpenConns(opt.MaxOpenConns)
		maxIdle = opt.MaxOpenConns
		conn.SetMaxIdleConns(maxIdle)
	}
	avail.dropIdle = func() { conn.SetMaxIdleConns(-1); conn.SetMaxIdleConns(maxIdle) }
	conn.SetConnMaxIdleTime(5 * time.Minute)
	// A connection keeps the plans of its foreign-key checks; renewing connections lets them follow
	// the tables' statistics as the tables grow.
	conn.SetConnMaxLifetime(30 * time.Minute)
	if err := conn.PingContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	s := newStore(conn, dsn, logger, time.Now, opt.MaxReads, opt.AuthCacheTTL)
	s.availability, s.keyLocks, s.creates = avail, keyLockTurns(opt.MaxOpenConns), newTurns(opt.MaxCreates)
	if opt.AuthCacheTTL > 0 {
		s.revocations = listenForRevocations(dsn, s.auth, logger, 5*time.Second)
	}
	if opt.LastUsedFlushInterval > 0 {
		s.background.Go(func() { s.flushLastUsedEvery(opt.LastUsedFlushInterval, s.stop) })
	}
	return s, nil
}

// newStore is a store over conn (opened with dsn) with what the primary's and a replica's stores both
// have: at most maxReads list reads at once, a cache of keys kept for authTTL, its own prepared
// statements. Open adds what only the primary has: its availability, and the bounds on creates and
// idempotency keys.
func newStore(conn *sqlx.DB, dsn string, logger *slog.Logger, now func() time.Time, maxReads int, authTTL time.Duration) *Store {
	return &Store{db: conn, reads: newTurns(maxReads), now: now, logger: logger, auth: &authCache{ttl: authTTL},
		lastUsed: &lastUsedBatch{}, stop: make(chan struct{}), prepared: &preparedStatements{}, binaryParameters: usesBinaryParameters(dsn)}
}

// keyLockTurns bounds the idempotency keys locked at once to half a pool of maxOpen connections (at
// least one); nil when the pool is not bounded.
func keyLockTurns(maxOpen int) turns {
	if maxOpen <= 0 {
		return nil
	}
	return newTurns(max(1, maxOpen/2))
}

// Close writes the keys' last uses still in memory, stops the background work and closes the pool;
// calls after the first do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.background.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.FlushLastUsed(ctx); err != nil {
			s.logger.Warn("flush API keys' last use", "error", err.Error())
		}
		s.revocations.close()
		if err := s.replica.close(); err != nil {
			s.logger.Warn("close read replica", "error", err.Error())
		}
		s.prepared.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// DB returns the pool, for health checks and tests.
func (s *Store) DB() *sqlx.DB { return s.db }

// migrationFiles returns the embedded migrations at the root of the file system, as goose expects them.
func migrationFiles() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is always there
	}
	return sub
}

// MigrationsChecksum identifies the embedded migrations, so that tests can cache a migrated template
// database per version of the schema.
func MigrationsChecksum() string {
	h := sha256.New()
	entries, _ := fs.ReadDir(migrations, "migrations")
	for _, e := range entries {
		b, _ := fs.ReadFile(migrations, "migrations/"+e.Name())
		h.Write([]byte(e.Name()))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func newMigrator(conn *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, conn, migrationFiles(),
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate applies the pending migrations. Concurrent callers (several replicas starting at once) are
// serialised by a PostgreSQL advisory lock.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	p, err := newMigrator(s.db.DB)
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return len(res), nil
}

// Ready reports an error unless the database answers and every migration is applied.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, s.db.DB, migrationFiles(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending {
		return errors.New("database has pending migrations")
	}
	return nil
}

// errRollback ends a transaction that must write nothing (validateOnly) without reporting an error.
var errRollback = errors.New("rollback")

// inTx runs fn in a transaction, committing when it returns nil and rolling back otherwise. The
// transaction is READ COMMITTED whatever the database's default_transaction_isolation: the store's
// statements count on a snapshot of their own (the webhook relay's horizon and the endpoints' since,
// re-checks after waiting for a row lock).
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		if errors.Is(err, errRollback) {
			return nil
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// nowUTC is the transaction's one timestamp, at PostgreSQL's precision.
func (s *Store) nowUTC() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
