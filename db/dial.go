package db

import (
	"bufio"
	"context"
	"database/sql/driver"
	"net"
	"time"

	"github.com/lib/pq"
)

// readBufferSize is what one read of a PostgreSQL connection may take in. lib/pq reads through a
// buffer of 4 KiB, so that the 10 KiB of the projects of a page of 50 organizations took three read
// system calls; through this buffer, one takes in whatever has arrived.
const readBufferSize = 32 << 10

// pqConnector is lib/pq's connector of dsn, its connections dialed by bufferedDialer.
func pqConnector(dsn string) (driver.Connector, error) {
	pc, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	pc.Dialer(bufferedDialer{})
	return uncancelled{pc}, nil
}

// uncancelled opens connections whatever becomes of the context of the request that asked for one, as
// lib/pq's driver does (its Open takes no context); connect_timeout bounds the dial. A dial cut short by
// a request that went away would otherwise fail as a network error, which Unavailable takes for the
// database being down (availabilityConnector).
type uncancelled struct{ driver.Connector }

func (u uncancelled) Connect(ctx context.Context) (driver.Conn, error) {
	return u.Connector.Connect(context.WithoutCancel(ctx))
}

// bufferedDialer dials PostgreSQL as lib/pq's own dialer does, and reads each connection through a
// buffer of readBufferSize. The buffer sits below TLS, when the connection uses it: it holds bytes as
// they came from the socket, in order.
type bufferedDialer struct{ d net.Dialer }

func (b bufferedDialer) Dial(network, address string) (net.Conn, error) {
	return b.DialContext(context.Background(), network, address)
}

func (b bufferedDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return b.DialContext(ctx, network, address)
}

func (b bufferedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := b.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return newBufferedConn(c), nil
}

// bufferedConn is a connection read through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedConn(c net.Conn) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufferSize)}
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
