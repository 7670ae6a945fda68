package db_test

import (
	"context"
	"testing"

	"orgs/db"
)

// The pool's lib/pq connections are read through the larger buffer, and one asked for by a request
// that has gone away still opens, as lib/pq's driver opened it (its Open takes no context), rather than
// failing as a network error that the store would take for the database being down.
func TestPoolConnectionsAreBufferedAndOutliveTheirRequest(t *testing.T) {
	t.Parallel()
	for _, cancelled := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		if cancelled {
			cancel()
		}
		conn, down, err := db.ConnectAsThePool(ctx, packageURL)
		cancel()
		if err != nil {
			t.Fatalf("cancelled %v: connect: %v (the store took it for an outage: %v)", cancelled, err, down)
		}
		if conn != "*db.bufferedConn" {
			t.Errorf("cancelled %v: lib/pq reads a %s, want *db.bufferedConn", cancelled, conn)
		}
	}
}
