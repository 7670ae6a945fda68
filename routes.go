package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"orgs/db"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/playground"
	"orgs/realtime"
	"orgs/service"
)

// newHandler routes the server's paths: the playground at /, the API at /query (the HTTP front door of
// httpapi before the GraphQL handler of graph), the probes and the metrics. rdb, when not nil, shares
// rate limits and persisted queries between replicas. events, when not nil, serves subscriptions over
// WebSockets at /query.
func newHandler(store *db.Store, svc *service.Service, logger *slog.Logger, cfg config, rdb *redis.Client, reg *prometheus.Registry, events *realtime.Hub) (http.Handler, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(store.DB().DB, "orgs"))
	httpMetrics := httpapi.NewMetrics(reg)
	registerReplicaMetrics(reg, store.ReadReplica())

	front := httpapi.DefaultOptions
	front.RequestTimeout, front.CORSOrigins = cfg.RequestTimeout, cfg.CORSOrigins
	if cfg.RateLimit > 0 {
		rl, err := httpapi.NewRateLimiter(cfg.RateLimit, rdb, logger)
		if err != nil {
			return nil, fmt.Errorf("rate limiter: %w", err)
		}
		rl.Rejected = httpMetrics.RateLimited.Inc
		front.RateLimiter = rl
	}

	opt := graph.DefaultHandlerOptions
	opt.Introspection, opt.Metrics, opt.GqlgenOnly = cfg.Introspection, graph.NewMetrics(reg), !cfg.DirectReads
	opt.TokenLimit = front.Limits.MaxTokens
	opt.WebSocket.Authenticator, opt.WebSocket.Limits, opt.WebSocket.OriginPatterns = store, front.Limits, cfg.CORSOrigins
	opt.WebSocket.ReadLimit = front.MaxBodyBytes
	if rdb != nil {
		opt.APQCache = httpapi.RedisAPQCache{Client: rdb, TTL: 24 * time.Hour}
	}

	mux := http.NewServeMux()
	mux.Handle("/", playground.Handler("orgs", "/query"))
	mux.Handle("/query", httpapi.Endpoint(store, logger, front, graph.NewHandler(&graph.Resolver{Store: store, Service: svc, Logger: logger, Events: events}, opt)))
	mux.Handle("GET /metrics", httpapi.MetricsHandler(reg))
	mux.HandleFunc("GET /healthz", httpapi.Health)
	mux.Handle("GET /readyz", httpapi.Ready(store, logger))
	return httpapi.WithRequests(logger, mux), nil
}
