package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"orgs/domain"
)

// Metrics are the Prometheus metrics of the HTTP layer.
type Metrics struct {
	// RateLimited counts the requests answered 429.
	RateLimited prometheus.Counter
}

// NewMetrics registers the metrics of the HTTP layer with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orgs_rate_limited_requests_total",
			Help: "Requests answered 429 because their API key was over its limit.",
		}),
	}
	reg.MustRegister(m.RateLimited)
	return m
}

// MetricsHandler serves the metrics of reg in Prometheus's text format.
func MetricsHandler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// Health answers 200 while the process serves: the liveness probe.
func Health(w http.ResponseWriter, _ *http.Request) {
	writeOK(w)
}

// Readier says whether the service can serve: the database's store answers and is migrated.
type Readier interface {
	Ready(ctx context.Context) error
}

// Ready answers 200 when r is ready and 503 UNAVAILABLE otherwise: the readiness probe. Each check gets
// two seconds. A server that is leaving (Draining) is not ready, whatever r says, so that load balancers
// stop sending to it while it still serves. It logs when the answer changes, not at every probe.
func Ready(r Readier, logger *slog.Logger) http.Handler {
	var notReady atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Cache-Control", "no-store")
		if Draining(ctx) {
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
			WriteError(w, http.StatusServiceUnavailable, domain.EUNAVAILABLE, "shutting down", RequestIDFrom(ctx))
			return
		}
		if err := r.Ready(ctx); err != nil {
			if !notReady.Swap(true) {
				logger.WarnContext(ctx, "not ready", "error", err.Error())
			}
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
			WriteError(w, http.StatusServiceUnavailable, domain.EUNAVAILABLE, "database unreachable or not migrated", RequestIDFrom(ctx))
			return
		}
		if notReady.Swap(false) {
			logger.InfoContext(ctx, "ready")
		}
		writeOK(w)
	})
}

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", MediaJSON)
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, `{"status":"ok"}`)
}
