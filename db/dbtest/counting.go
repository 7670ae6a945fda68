package dbtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
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
	Statements.Add(1)
	return c.PQConn.QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	Statements.Add(1)
	return c.PQConn.ExecContext(ctx, q, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	Prepares.Add(1)
	st, err := c.PQConn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{st.(pqStmt)}, nil
}

// pqStmt is what lib/pq's prepared statement implements.
type pqStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

type countingStmt struct{ pqStmt }

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	Statements.Add(1)
	return s.pqStmt.QueryContext(ctx, args)
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	Statements.Add(1)
	return s.pqStmt.ExecContext(ctx, args)
}
