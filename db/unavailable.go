package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// When PostgreSQL cannot be reached. Unavailable is the one place that decides whether an error means
// the database cannot be reached now (rather than that a request or the code is wrong): the API answers
// such errors HTTP 503 UNAVAILABLE with Retry-After, and logs nothing for them beyond the request's own
// line. The store notices when the database goes away and comes back by the connections it opens
// (availabilityConnector): it logs each change once and drops its idle connections then, which a
// restarted server has broken, so that no request is handed one once the database is back.

// Unavailable reports whether err says that the database cannot be reached now: a connection refused,
// reset or timed out, a connection the driver found broken (driver.ErrBadConn), a server shutting down,
// crashed or starting up (57P01, 57P02, 57P03), a connection failure (class 08) or too many
// connections (53300).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		code := string(pqErr.Code)
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
	}
	var opErr *net.OpError
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &opErr)
}

// Unavailable is the package's Unavailable, as a method: the store is what httpapi asks.
func (s *Store) Unavailable(err error) bool { return Unavailable(err) }

// connectTimeout bounds the opening of one connection, unless the connection URL says otherwise: a
// server that does not answer (a host gone, packets dropped) is then unavailable within seconds rather
// than holding every request until its deadline.
const connectTimeout = 5 * time.Second

// withConnectTimeout adds connect_timeout to a connection URL that does not set it.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn // key=value connection strings are taken as they are
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", strconv.Itoa(int(connectTimeout/time.Second)))
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// availability follows whether the database can be reached, as the connections the pool opens tell.
type availability struct {
	logger *slog.Logger
	// dropIdle closes the pool's idle connections.
	dropIdle func()
	mu       sync.Mutex
	down     bool
	since    time.Time
}

// failed notes a connection that could not be opened.
func (a *availability) failed(err error) {
	if !Unavailable(err) {
		return // a request cancelled while it waited, say
	}
	a.mu.Lock()
	changed := !a.down
	if changed {
		a.down, a.since = true, time.Now()
	}
	a.mu.Unlock()
	if changed {
		a.logger.Warn("database unavailable", "error", err.Error())
		// The connections still idle were opened before: those the server dropped would fail their next
		// request.
		a.dropIdle()
	}
}

// opened notes a connection opened.
func (a *availability) opened() {
	a.mu.Lock()
	changed := a.down
	since := a.since
	a.down = false
	a.mu.Unlock()
	if changed {
		a.logger.Info("database back", "unavailable_for", time.Since(since).Round(time.Millisecond).String())
		// Connections returned to the pool while the database was away may have been broken by its
		// restart.
		a.dropIdle()
	}
}

// availabilityConnector opens the pool's connections through next and tells a.
type availabilityConnector struct {
	next driver.Connector
	a    *availability
}

func (c availabilityConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.next.Connect(ctx)
	if err != nil {
		c.a.failed(err)
		return nil, err
	}
	c.a.opened()
	return conn, nil
}

func (c availabilityConnector) Driver() driver.Driver { return c.next.Driver() }

// dsnConnector is the connector of a driver that has none of its own.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

// openPool opens the pool of the driver registered as drv, its connections followed by a.
func openPool(drv, dsn string, a *availability) (*sql.DB, error) {
	c, err := poolConnector(drv, dsn, a)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// poolConnector is the connector of openPool's pool: lib/pq's of dsn (pqConnector) or the driver's own,
// its connections followed by a.
func poolConnector(drv, dsn string, a *availability) (driver.Connector, error) {
	probe, err := sql.Open(drv, dsn) // only to find the registered driver; it opens no connection
	if err != nil {
		return nil, err
	}
	d := probe.Driver()
	probe.Close()
	var next driver.Connector = dsnConnector{dsn: dsn, drv: d}
	switch d := d.(type) {
	case *pq.Driver:
		if next, err = pqConnector(dsn); err != nil {
			return nil, err
		}
	case driver.DriverContext:
		if next, err = d.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return availabilityConnector{next: next, a: a}, nil
}
