package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"

	"orgs/domain"
)

// RateLimiter limits the requests of each API key per minute, in process or, with Redis, across every
// replica.
type RateLimiter struct {
	limiter *limiter.Limiter
	logger  *slog.Logger
	// Rejected counts the requests answered 429 (for metrics); may be nil.
	Rejected func()
}

// NewRateLimiter returns a limiter of perMinute requests per key; rdb, when not nil, shares the counts
// through Redis.
func NewRateLimiter(perMinute int, rdb *redis.Client, logger *slog.Logger) (*RateLimiter, error) {
	rate := limiter.Rate{Period: time.Minute, Limit: int64(perMinute)}
	store := memory.NewStore()
	if rdb != nil {
		var err error
		if store, err = redisstore.NewStoreWithOptions(rdb, limiter.StoreOptions{Prefix: "orgs:ratelimit"}); err != nil {
			return nil, err
		}
	}
	return &RateLimiter{limiter: limiter.New(store, rate), logger: logger}, nil
}

// rateKey identifies the caller: its authenticated API key, or its address for the requests that need
// none (introspection). Keys are counted after authentication, so that inventing keys buys no budget.
func rateKey(r *http.Request) string {
	if a := domain.ActorFrom(r.Context()); a != nil {
		return "key:" + a.KeyID
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// Middleware sets X-RateLimit-Limit, -Remaining and -Reset on every answer and answers HTTP 429 with
// Retry-After and RATE_LIMITED once the caller is over its limit. When the store fails (Redis down), the
// request is let through and the failure logged: availability over strictness.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		c, err := l.limiter.Get(r.Context(), rateKey(r))
		if err != nil {
			l.logger.WarnContext(r.Context(), "rate limiter unavailable", "error", err.Error())
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.FormatInt(c.Limit, 10))
		h.Set("X-RateLimit-Remaining", strconv.FormatInt(c.Remaining, 10))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(c.Reset, 10))
		if c.Reached {
			retry := max(c.Reset-time.Now().Unix(), 1)
			h.Set("Retry-After", strconv.FormatInt(retry, 10))
			if l.Rejected != nil {
				l.Rejected()
			}
			WriteError(w, http.StatusTooManyRequests, domain.ERATELIMITED,
				"too many requests: at most "+strconv.FormatInt(c.Limit, 10)+" a minute per API key; retry in "+strconv.FormatInt(retry, 10)+"s", "")
			return
		}
		next.ServeHTTP(w, r)
	})
}
