package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/rs/cors"
)

// Options tune the front door of the GraphQL endpoint.
type Options struct {
	// MaxBodyBytes caps a request body (413 beyond).
	MaxBodyBytes int64
	// RequestTimeout bounds the work of one request.
	RequestTimeout time.Duration
	// Limits bound the size and shape of a document before it is validated.
	Limits QueryLimits
	// RateLimiter, when set, limits the requests per API key.
	RateLimiter *RateLimiter
	// CORSOrigins are the origins browsers may call the API from ("*" for any); none by default.
	CORSOrigins []string
}

// DefaultOptions are the options the server starts with unless configured otherwise.
var DefaultOptions = Options{MaxBodyBytes: 1 << 20, RequestTimeout: 30 * time.Second, Limits: DefaultQueryLimits}

// Endpoint puts the front door before the GraphQL handler (next). In the order a request meets them:
// CORS, the guard (method, Accept, content type, body size, UTF-8, batches, the request's parameters,
// deadline), the document limits, authentication, the rate limit of the authenticated key, then next,
// which finds the request's parameters and negotiated media type with GraphQLRequestFrom.
func Endpoint(auth Authenticator, logger *slog.Logger, opt Options, next http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := next
	if opt.RateLimiter != nil {
		h = opt.RateLimiter.Middleware(h)
	}
	h = Authenticate(auth, logger, h)
	h = LimitQueries(opt.Limits, h)
	h = Guard(opt.MaxBodyBytes, opt.RequestTimeout, h)
	return cors.New(cors.Options{
		AllowedOrigins: opt.CORSOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "X-API-Key", "Content-Type", "Accept", "Idempotency-Key",
			"X-Organization-ID", "X-Request-ID", "Apollo-Require-Preflight"},
		ExposedHeaders: []string{"X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"},
		MaxAge:         600,
	}).Handler(h)
}
