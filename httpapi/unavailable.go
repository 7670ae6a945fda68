package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"orgs/domain"
)

// RetryAfter is the Retry-After, in seconds, of the answers 503 UNAVAILABLE: the database is away, or
// the replica is leaving.
const RetryAfter = 1

// UnavailableMessage is the message of the error of an answer 503 UNAVAILABLE.
const UnavailableMessage = "the database is unavailable; retry later"

// Classifier tells whether an error says that a dependency cannot be reached now, as the database's
// store tells of its errors. Such errors are answered 503 UNAVAILABLE with Retry-After: "retry later",
// for load balancers and client libraries alike.
type Classifier interface {
	Unavailable(err error) bool
}

// WriteUnavailable answers 503 with Retry-After and one UNAVAILABLE error, in media (MediaJSON or
// another negotiated GraphQL media type), without data.
func WriteUnavailable(w http.ResponseWriter, media, requestID string) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	w.Header().Set("Cache-Control", "no-store")
	writeError(w, media, http.StatusServiceUnavailable, domain.EUNAVAILABLE, UnavailableMessage, requestID)
}

type drainingKey struct{}

// WithDraining returns ctx marked with done, which closes when the server starts leaving: the server's
// base context, so that every request can tell (Draining).
func WithDraining(ctx context.Context, done <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainingKey{}, done)
}

// Draining reports whether the server that serves ctx's request is leaving: its readiness probe then
// answers 503 while it still serves the requests that reach it.
func Draining(ctx context.Context) bool {
	done, _ := ctx.Value(drainingKey{}).(<-chan struct{})
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// CloseWhenDraining asks clients to close their connection after each answer once the server is
// leaving (Draining): a client then sends its next request on a new connection, which a load balancer
// sends to another replica, instead of on a connection the server will close when it stops. Idle
// connections are left open until then: closing them at once would race with requests sent on them.
func CloseWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Draining(r.Context()) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
