package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// A read replica: reads that may lag (lists and searches) can go to a streaming replica of the primary
// (READ_DATABASE_URL). The Replica watches it in the background: every interval it measures how far
// the replica's replay is behind the primary, and reads go to the replica only while it answers and
// lags at most MaxLag; otherwise they go to the primary, and come back by themselves when the replica
// does. Which reads may lag is the caller's choice (graph/replica.go); writes, a request's reads of its
// own writes and the authentication of keys always use the primary's Store.

// DefaultReadMaxLag is how far behind the primary the replica may be for reads to go to it, unless
// ReplicaOptions.MaxLag says otherwise.
const DefaultReadMaxLag = 5 * time.Second

// ReplicaOptions tune a read replica.
type ReplicaOptions struct {
	// Driver is the database/sql driver name; default "postgres" (lib/pq).
	Driver       string
	MaxOpenConns int
	// MaxLag is the most the replica may lag behind the primary for reads to go to it; default
	// DefaultReadMaxLag.
	MaxLag time.Duration
	// Interval is how often the replica's lag is measured; default a second. 0 measures only when the
	// replica opens and when Check is called.
	Interval time.Duration
	// Logger receives one line at each switch between the replica and the primary; default
	// slog.Default().
	Logger *slog.Logger
	// Probe, when set, replaces the measure of the replica's lag (tests inject a lag or a failure).
	Probe func(ctx context.Context) (time.Duration, error)
}

// Pools that answer the reads which may lag, as Replica.Reads counts them.
const (
	PoolPrimary = "primary"
	PoolReplica = "replica"
)

// Replica is a read-only Store on a streaming replica of a primary Store, with its health.
type Replica struct {
	primary *Store
	store   *Store
	maxLag  time.Duration
	logger  *slog.Logger
	probe   func(ctx context.Context) (time.Duration, error)

	// inUse is true while reads go to the replica; up while its last measure reached it; lag is the
	// last lag measured, in nanoseconds.
	inUse atomic.Bool
	up    atomic.Bool
	lag   atomic.Int64
	// reads counts the reads Reads routed, to the primary [0] and to the replica [1].
	reads [2]atomic.Int64

	// checking serialises the measures (the background loop, Check); caughtUpAt is when the replica last
	// had replayed everything the primary had written, known is false until a measure decided inUse.
	checking   sync.Mutex
	caughtUpAt time.Time
	known      bool

	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
}

// readOnlyDSN asks PostgreSQL to make every transaction of the connection read-only (lib/pq passes
// unknown URL parameters to the server as run-time parameters): a write sent to the replica's pool by
// mistake fails at once, even when the replica is a database that would accept it.
func readOnlyDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn
	}
	q := u.Query()
	if q.Get("default_transaction_read_only") == "" {
		q.Set("default_transaction_read_only", "on")
	}
	if q.Get("application_name") == "" {
		q.Set("application_name", "orgs-read")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenReadReplica attaches the streaming replica at dsn to the store, for the reads that may lag, and
// measures its lag once before it returns (then every opt.Interval in the background). A replica that
// does not answer is no error: reads go to the primary until it does. Call it before serving; the
// store closes the replica when it closes.
func (s *Store) OpenReadReplica(ctx context.Context, dsn string, opt ReplicaOptions) (*Replica, error) {
	if s.replica != nil {
		return nil, errors.New("open read replica: the store has one already")
	}
	dsn = readOnlyDSN(withBinaryParameters(dsn))
	drv := opt.Driver
	if drv == "" {
		drv = "postgres"
	}
	conn, err := sqlx.Open(drv, dsn)
	if err != nil {
		return nil, fmt.Errorf("open read replica: %w", err)
	}
	if opt.MaxOpenConns > 0 {
		conn.SetMaxOpenConns(opt.MaxOpenConns)
		conn.SetMaxIdleConns(opt.MaxOpenConns)
	}
	conn.SetConnMaxIdleTime(5 * time.Minute)
	conn.SetConnMaxLifetime(30 * time.Minute)
	logger := opt.Logger
	if logger == nil {
		logger = slog.Default()
	}
	r := &Replica{primary: s, maxLag: opt.MaxLag, logger: logger, probe: opt.Probe, stop: make(chan struct{}),
		store: newStore(conn, dsn, logger, s.now, cap(s.reads), 0)} // the replica's own turns, as many as the primary's
	if r.maxLag <= 0 {
		r.maxLag = DefaultReadMaxLag
	}
	if r.probe == nil {
		r.probe = r.measure
	}
	r.Check(ctx)
	if opt.Interval > 0 {
		r.done.Go(func() { r.watch(opt.Interval) })
	}
	s.replica = r
	return r, nil
}

// ReadReplica returns the store's read replica, nil when it has none.
func (s *Store) ReadReplica() *Replica {
	if s == nil {
		return nil
	}
	return s.replica
}

// Reads returns the store the reads that may lag go to now, the replica's or the primary's, and
// whether it is the replica's; it counts the read by pool.
func (r *Replica) Reads() (*Store, bool) {
	if r.inUse.Load() {
		r.reads[1].Add(1)
		return r.store, true
	}
	r.reads[0].Add(1)
	return r.primary, false
}

// Store is the replica's own store, whatever its health (metrics of its pool, tests).
func (r *Replica) Store() *Store { return r.store }

// InUse tells whether the reads that may lag go to the replica now.
func (r *Replica) InUse() bool { return r.inUse.Load() }

// Up tells whether the last measure reached the replica.
func (r *Replica) Up() bool { return r.up.Load() }

// Lag is the replica's lag behind the primary at the last measure that reached it.
func (r *Replica) Lag() time.Duration { return time.Duration(r.lag.Load()) }

// MaxLag is the most the replica may lag for reads to go to it.
func (r *Replica) MaxLag() time.Duration { return r.maxLag }

// ReadsBy returns how many reads Reads sent to pool (PoolPrimary or PoolReplica).
func (r *Replica) ReadsBy(pool string) int64 {
	if pool == PoolReplica {
		return r.reads[1].Load()
	}
	return r.reads[0].Load()
}

// watch measures the replica every interval until the replica closes.
func (r *Replica) watch(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.Check(context.Background())
		}
	}
}

// checkTimeout bounds one measure: a replica that does not answer within it counts as down.
const checkTimeout = 2 * time.Second

// Check measures the replica now and decides where the reads that may lag go: to the replica when it
// answered and lags at most MaxLag, to the primary otherwise. Each switch is logged once.
func (r *Replica) Check(ctx context.Context) {
	r.checking.Lock()
	defer r.checking.Unlock()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	lag, err := r.probe(ctx)
	r.up.Store(err == nil)
	if err == nil {
		r.lag.Store(int64(lag))
	}
	use := err == nil && lag <= r.maxLag
	was := r.inUse.Swap(use)
	if r.known && was == use {
		return
	}
	r.known = true
	switch {
	case use:
		r.logger.Info("read replica in use: lists read from it", "lag", lag.String(), "max_lag", r.maxLag.String())
	case err != nil:
		r.logger.Warn("read replica unavailable: lists read from the primary", "error", err.Error())
	default:
		r.logger.Warn("read replica lags: lists read from the primary", "lag", lag.String(), "max_lag", r.maxLag.String())
	}
}

// measure returns how far the replica's replay is behind the primary: zero when the replica has
// replayed everything the primary had written when the measure began (or is not in recovery: a
// promoted replica, or a database that is not a replica), otherwise the smaller of the time since it
// last had and the age of the last transaction it replayed. The first alone would grow on a replica
// that is always a few milliseconds behind a busy primary, the second alone on a replica of a primary
// that wrote nothing for a while and then one transaction.
func (r *Replica) measure(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	var primaryLSN sql.NullString
	if err := r.primary.db.QueryRowContext(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&primaryLSN); err != nil {
		primaryLSN = sql.NullString{} // the replica's own clock measures alone
	}
	var inRecovery bool
	var caughtUp sql.NullBool
	var replayAge sql.NullFloat64
	err := r.store.db.QueryRowContext(ctx, `SELECT pg_is_in_recovery(),
  pg_last_wal_replay_lsn() >= $1::pg_lsn,
  extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8`, primaryLSN).Scan(&inRecovery, &caughtUp, &replayAge)
	if err != nil {
		return 0, fmt.Errorf("measure read replica: %w", err)
	}
	if !inRecovery || caughtUp.Bool {
		r.caughtUpAt = began
		return 0, nil
	}
	lag := time.Duration(-1)
	if !r.caughtUpAt.IsZero() {
		lag = time.Since(r.caughtUpAt)
	}
	if replayAge.Valid {
		if age := time.Duration(max(replayAge.Float64, 0) * float64(time.Second)); lag < 0 || age < lag {
			lag = age
		}
	}
	if lag < 0 {
		return 0, errors.New("measure read replica: its lag is unknown (nothing replayed yet)")
	}
	return lag, nil
}

// close stops the measures and closes the replica's pool.
func (r *Replica) close() error {
	if r == nil {
		return nil
	}
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		r.done.Wait()
		err = r.store.Close()
	})
	return err
}
