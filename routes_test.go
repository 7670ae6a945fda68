package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/db/dbtest"
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
	h, err := newHandler(store, service.New(store, service.Config{}), newLogger(cfg, io.Discard), cfg, nil, prometheus.NewRegistry())
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
