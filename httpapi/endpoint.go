package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
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
//
// A WebSocket upgrade (GET with Upgrade: websocket) meets only the rate limit (by address) before next:
// its socket outlives any request deadline, its API key comes in its first message, the document limits
// apply to each operation it starts (QueryLimits.Check), and the origin of a browser is checked when the
// socket is accepted, since browsers send no CORS preflight for WebSockets.
func Endpoint(auth Authenticator, logger *slog.Logger, opt Options, next http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h, upgrade := next, next
	if opt.RateLimiter != nil {
		h = opt.RateLimiter.Middleware(h)
		upgrade = h
	}
	h = Authenticate(auth, logger, h)
	h = LimitQueries(opt.Limits, h)
	h = Guard(opt.MaxBodyBytes, opt.RequestTimeout, h)
	h = cors.New(cors.Options{
		AllowedOrigins: opt.CORSOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "X-API-Key", "Content-Type", "Accept", "Idempotency-Key",
			"X-Organization-ID", "X-Request-ID", "Apollo-Require-Preflight"},
		ExposedHeaders: []string{"X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"},
		MaxAge:         600,
	}).Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWebSocketUpgrade(r) {
			upgrade.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// IsWebSocketUpgrade tells whether r asks to open a WebSocket: GET with Upgrade: websocket.
func IsWebSocketUpgrade(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	for _, v := range r.Header.Values("Upgrade") {
		for _, token := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(token), "websocket") {
				return true
			}
		}
	}
	return false
}
