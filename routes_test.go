package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/service"
)

func TestReadyzNeedsMigrations(t *testing.T) {
	t.Parallel()
	store, err := db.Open(context.Background(), dbtest.Empty(t), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg, _ := loadConfig(env(nil))
	h, err := newHandler(store, service.New(store, service.Config{}), newLogger(cfg, io.Discard), cfg, nil, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := httpGet(t, h, "/readyz")
	if res != http.StatusServiceUnavailable {
		t.Errorf("/readyz on an unmigrated database = %d, want 503", res)
	}
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := httpGet(t, h, "/readyz"); res != http.StatusOK {
		t.Errorf("/readyz after migrating = %d, want 200", res)
	}
}

func httpGet(t *testing.T, h http.Handler, path string) int {
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestConfigDirectReads reads DIRECT_READS, and shows the handler answering lists directly with it on
// (the default) and through gqlgen alone with it off.
func TestConfigDirectReads(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": true, "on": true, "off": false} {
		cfg, err := loadConfig(env(map[string]string{"DIRECT_READS": v}))
		if err != nil || cfg.DirectReads != want {
			t.Errorf("DIRECT_READS=%q: %v, %v; want %v", v, cfg.DirectReads, err, want)
		}
	}
	for _, v := range []string{"ON", "Off", "true", "false", "0", "1", " off", "disabled"} {
		if _, err := loadConfig(env(map[string]string{"DIRECT_READS": v})); err == nil || !strings.Contains(err.Error(), "DIRECT_READS") {
			t.Errorf("DIRECT_READS=%q: %v, want an error naming it", v, err)
		}
	}

	store, err := db.Open(context.Background(), dbtest.Empty(t), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, _, err := store.CreateAPIKey(context.Background(), db.NewAPIKey{Name: "direct", Tenant: "direct",
		Email: "direct@example.com", Permissions: domain.AllPermissions})
	if err != nil {
		t.Fatal(err)
	}
	for v, answered := range map[string]string{"on": `orgs_graphql_direct_reads_total{outcome="answered"} 1`, "off": ""} {
		cfg, _ := loadConfig(env(map[string]string{"DIRECT_READS": v}))
		h, err := newHandler(store, service.New(store, service.Config{}), newLogger(cfg, io.Discard), cfg, nil, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", strings.NewReader(`{"query":"{ organizations { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != `{"data":{"organizations":{"totalCount":0}}}` {
			t.Errorf("DIRECT_READS=%s: %s", v, body)
		}
		res, err = http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(res.Body)
		res.Body.Close()
		srv.Close()
		direct := strings.Contains(string(metrics), "orgs_graphql_direct_reads_total")
		if answered != "" && !strings.Contains(string(metrics), answered) || answered == "" && direct {
			t.Errorf("DIRECT_READS=%s: the direct path's metrics: %v, want %q", v, direct, answered)
		}
	}
}
