package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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
// two seconds.
func Ready(r Readier, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := r.Ready(ctx); err != nil {
			logger.WarnContext(ctx, "not ready", "error", err.Error())
			w.Header().Set("Cache-Control", "no-store")
			WriteError(w, http.StatusServiceUnavailable, domain.EUNAVAILABLE, "database unreachable or not migrated", RequestIDFrom(ctx))
			return
		}
		writeOK(w)
	})
}

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", MediaJSON)
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, `{"status":"ok"}`)
}
