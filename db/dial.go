package db

import (
	"bufio"
	"context"
	"net"
	"time"
)

// readBufferSize is what one read of a PostgreSQL connection may take in. lib/pq reads through a
// buffer of 4 KiB, so that the 10 KiB of the projects of a page of 50 organizations took three read
// system calls; through this buffer, one takes in whatever has arrived.
const readBufferSize = 32 << 10

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
