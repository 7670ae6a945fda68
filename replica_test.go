package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/service"
)

func TestConfigReadReplica(t *testing.T) {
	t.Parallel()
	if cfg, err := loadConfig(env(nil)); err != nil || cfg.ReadDatabaseURL != "" || cfg.ReadMaxLag != 5*time.Second {
		t.Errorf("defaults: READ_DATABASE_URL %q, READ_MAX_LAG %v, %v; want none, 5s", cfg.ReadDatabaseURL, cfg.ReadMaxLag, err)
	}
	cfg, err := loadConfig(env(map[string]string{"READ_DATABASE_URL": "postgres://replica/orgs", "READ_MAX_LAG": "1500ms"}))
	if err != nil || cfg.ReadDatabaseURL != "postgres://replica/orgs" || cfg.ReadMaxLag != 1500*time.Millisecond {
		t.Errorf("READ_DATABASE_URL, READ_MAX_LAG: %q, %v, %v", cfg.ReadDatabaseURL, cfg.ReadMaxLag, err)
	}
	for _, v := range []string{"0s", "-1s", "soon"} {
		if _, err := loadConfig(env(map[string]string{"READ_MAX_LAG": v})); err == nil {
			t.Errorf("READ_MAX_LAG=%s accepted", v)
		}
	}
}

// TestReplicaMetrics serves a store with a read replica (a second database) and reads its metrics:
// in use, its lag, and the lists it served.
func TestReplicaMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := db.Open(ctx, dbtest.New(t), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg, _ := loadConfig(env(map[string]string{"READ_DATABASE_URL": dbtest.New(t)}))
	logger := slog.New(slog.DiscardHandler)
	if err := openReadReplica(ctx, store, cfg, logger); err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(store, service.New(store, service.Config{}), logger, cfg, nil, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	key, _, err := store.CreateAPIKey(ctx, db.NewAPIKey{Name: "metrics", Tenant: "replica metrics", Permissions: domain.AllPermissions})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", strings.NewReader(`{"query":"{ organizations { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{"orgs_db_replica_up 1\n", "orgs_db_replica_in_use 1\n", "orgs_db_replica_lag_seconds 0\n",
		"orgs_db_replica_max_lag_seconds 5\n", `orgs_db_reads_total{pool="replica"} 2` + "\n", `orgs_db_reads_total{pool="primary"} 0` + "\n",
		`go_sql_open_connections{db_name="orgs_replica"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
