package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"orgs/db"
)

// replicaCheckInterval is how often the read replica's lag is measured.
const replicaCheckInterval = time.Second

// openReadReplica attaches READ_DATABASE_URL, when set, to the store: lists then read from it while it
// answers and lags at most READ_MAX_LAG (db/replica.go, graph/replica.go).
func openReadReplica(ctx context.Context, store *db.Store, cfg config, logger *slog.Logger) error {
	if cfg.ReadDatabaseURL == "" {
		return nil
	}
	_, err := store.OpenReadReplica(ctx, cfg.ReadDatabaseURL, db.ReplicaOptions{MaxOpenConns: cfg.DBMaxConns,
		MaxLag: cfg.ReadMaxLag, Interval: replicaCheckInterval, Logger: logger})
	return err
}

// registerReplicaMetrics registers the metrics of the read replica, when there is one: its pool's
// statistics (as the primary's, db_name "orgs_replica"), whether it is reached and used, its lag, and
// the reads that may lag by the pool that served them.
func registerReplicaMetrics(reg prometheus.Registerer, r *db.Replica) {
	if r == nil {
		return
	}
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v)
	}
	bit := func(b func() bool) func() float64 {
		return func() float64 {
			if b() {
				return 1
			}
			return 0
		}
	}
	const readsHelp = "GraphQL queries that may read from the read replica (organization lists), by the pool that served them: replica, or primary while the replica is down or lags."
	reads := func(pool string) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orgs_db_reads_total", Help: readsHelp,
			ConstLabels: prometheus.Labels{"pool": pool}}, func() float64 { return float64(r.ReadsBy(pool)) })
	}
	reg.MustRegister(collectors.NewDBStatsCollector(r.Store().DB().DB, "orgs_replica"),
		gauge("orgs_db_replica_up", "1 when the last measure of the read replica (every second) reached it.", bit(r.Up)),
		gauge("orgs_db_replica_in_use", "1 while lists read from the read replica, 0 while they read from the primary.", bit(r.InUse)),
		gauge("orgs_db_replica_lag_seconds", "How far the read replica's replay was behind the primary at the last measure that reached it.",
			func() float64 { return r.Lag().Seconds() }),
		gauge("orgs_db_replica_max_lag_seconds", "READ_MAX_LAG: the most the read replica may lag for lists to read from it.",
			func() float64 { return r.MaxLag().Seconds() }),
		reads(db.PoolPrimary), reads(db.PoolReplica))
}
