package dbtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// CountingDriver is the name of a database/sql driver that is lib/pq counting the statements it runs
// (queries and execs, prepared or not; not BEGIN and COMMIT) and, apart, the statements it prepares, so
// that tests can show a read costs a constant number of statements. Open a store with
// db.Options{Driver: dbtest.CountingDriver}.
const CountingDriver = "postgres-counting"

// Statements is the number of statements run through CountingDriver so far.
var Statements atomic.Int64

// Prepares is the number of statements prepared through CountingDriver so far: once per statement and
// connection.
var Prepares atomic.Int64

var register sync.Once

// watchers count the statements whose text contains their substring (Watch).
var (
	watchersMu sync.Mutex
	watchers   = map[*watcher]struct{}{}
	watching   atomic.Int32
)

type watcher struct {
	substr string
	n      atomic.Int64
}

// Watch counts, from now until stop, the statements run through CountingDriver whose text contains
// substr (by any store of the process), for tests that show what a use case writes.
func Watch(substr string) (count func() int64, stop func()) {
	w := &watcher{substr: substr}
	watchersMu.Lock()
	watchers[w] = struct{}{}
	watching.Add(1)
	watchersMu.Unlock()
	return w.n.Load, func() {
		watchersMu.Lock()
		if _, ok := watchers[w]; ok {
			delete(watchers, w)
			watching.Add(-1)
		}
		watchersMu.Unlock()
	}
}

// ran counts a statement.
func ran(q string) {
	Statements.Add(1)
	if watching.Load() == 0 {
		return
	}
	watchersMu.Lock()
	defer watchersMu.Unlock()
	for w := range watchers {
		if strings.Contains(q, w.substr) {
			w.n.Add(1)
		}
	}
}

func init() {
	register.Do(func() {
		sql.Register(CountingDriver, countingDriver{})
		sqlx.BindDriver(CountingDriver, sqlx.DOLLAR)
	})
}

type countingDriver struct{}

func (countingDriver) Open(name string) (driver.Conn, error) {
	c, err := OpenPQ(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{c}, nil
}

// OpenPQ opens a lib/pq connection, for drivers that wrap it to watch its statements.
func OpenPQ(name string) (PQConn, error) {
	c, err := pq.Driver{}.Open(name)
	if err != nil {
		return nil, err
	}
	return c.(PQConn), nil
}

// PQConn is what lib/pq's connection implements and database/sql uses.
type PQConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.QueryerContext
	driver.ExecerContext
	driver.ConnPrepareContext
	driver.NamedValueChecker
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type countingConn struct{ PQConn }

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	ran(q)
	return c.PQConn.QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	ran(q)
	return c.PQConn.ExecContext(ctx, q, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	Prepares.Add(1)
	st, err := c.PQConn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{st.(pqStmt), q}, nil
}

// pqStmt is what lib/pq's prepared statement implements.
type pqStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

type countingStmt struct {
	pqStmt
	query string
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ran(s.query)
	return s.pqStmt.QueryContext(ctx, args)
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ran(s.query)
	return s.pqStmt.ExecContext(ctx, args)
}
