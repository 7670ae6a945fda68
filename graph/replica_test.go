package graph_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/service"
)

// The routing of reads to the read replica, shown with a "replica" that is a copy of the primary's
// database taken after an organization was created, with different data since: the copy's names end in
// " (replica)", and organizations created afterwards exist on the primary only. Whatever the answer
// holds tells which server answered.

// replicaWorld is a primary database and a copy of it, with one organization ("Before") in the tenant
// of the test's API.
type replicaWorld struct {
	primaryURL, replicaURL string
	tenant                 string
}

func newReplicaWorld(t *testing.T) replicaWorld {
	t.Helper()
	ctx := context.Background()
	w := replicaWorld{primaryURL: dbtest.New(t), tenant: "tenant " + t.Name()}
	p, err := db.Open(ctx, w.primaryURL, db.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The tenant newAPIServing gives the test's API.
	_, actor, err := p.CreateAPIKey(ctx, db.NewAPIKey{Name: "setup", Tenant: w.tenant + " " + runID,
		Email: "setup@example.com", Permissions: domain.AllPermissions})
	if err == nil {
		_, err = service.New(p, testServiceConfig).CreateOrganization(ctx, actor, domain.CreateOrganizationInput{Name: "Before"}, service.CreateOptions{})
	}
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	w.replicaURL = copyDatabase(t, w.primaryURL)
	admin, err := sql.Open("postgres", w.replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`UPDATE organizations SET name = name || ' (replica)';
UPDATE projects SET name = name || ' (replica)'`); err != nil {
		t.Fatal(err)
	}
	return w
}

// copyDatabase creates a copy of the database at src (which nobody may be connected to), dropped when
// the test ends, and returns its URL.
func copyDatabase(t *testing.T, src string) string {
	t.Helper()
	u, err := url.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	from := strings.TrimPrefix(u.Path, "/")
	name := from + "_copy"
	admin, err := sql.Open("postgres", dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, from)); err != nil {
		t.Fatalf("copy database: %v", err)
	}
	t.Cleanup(func() {
		if admin, err := sql.Open("postgres", dbtest.ServerURL()); err == nil {
			admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
			admin.Close()
		}
	})
	u.Path = "/" + name
	return u.String()
}

// replicaAPI serves the world's primary with readURL as its read replica.
func (w replicaWorld) api(t *testing.T, readURL string, ropt db.ReplicaOptions, hopt graph.HandlerOptions) (*api, *db.Replica) {
	t.Helper()
	p := dbtest.Open(t, w.primaryURL, db.Options{MaxOpenConns: 10})
	if ropt.Logger == nil {
		ropt.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := p.OpenReadReplica(context.Background(), readURL, ropt)
	if err != nil {
		t.Fatal(err)
	}
	return newAPIWith(t, p, w.tenant, hopt), r
}

const replicaListQuery = `{ organizations(orderBy: {field: NAME, direction: ASC}) { totalCount nodes { name projects { name } } } }`

// listed returns the names of the organizations a list answered, each with its projects' names.
func listed(t *testing.T, r response) (names []string, total int) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("list: %+v", r.Errors)
	}
	c := r.Data["organizations"].(map[string]any)
	for _, n := range c["nodes"].([]any) {
		o := n.(map[string]any)
		var ps []string
		for _, p := range o["projects"].([]any) {
			ps = append(ps, p.(map[string]any)["name"].(string))
		}
		names = append(names, o["name"].(string)+" / "+strings.Join(ps, ","))
	}
	return names, int(c["totalCount"].(float64))
}

func checkListed(t *testing.T, r response, want ...string) {
	t.Helper()
	got, total := listed(t, r)
	if strings.Join(got, "; ") != strings.Join(want, "; ") || total != len(want) {
		t.Errorf("listed %q (totalCount %d), want %q", got, total, want)
	}
}

func TestListsReadFromTheReplicaAndOwnWritesFromThePrimary(t *testing.T) {
	t.Parallel()
	w := newReplicaWorld(t)
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			hopt := graph.DefaultHandlerOptions
			hopt.GqlgenOnly, hopt.Metrics = !direct, graph.NewMetrics(reg)
			a, rep := w.api(t, w.replicaURL, db.ReplicaOptions{}, hopt)
			if !rep.InUse() {
				t.Fatal("a replica that answers without lag is not in use")
			}

			// A mutation reads its payload (the relations come through the loaders) from the primary.
			name := "After " + fmt.Sprint(direct)
			created := a.createOK(map[string]any{"name": name})
			if dp, _ := created["defaultProject"].(map[string]any); dp == nil || created["name"] != name {
				t.Fatalf("createOrganization answered %v, want its organization and default project", created)
			}
			// organization(id) right after the create: the primary.
			r := a.post(a.key, `query($id: ID!) { organization(id: $id) { name projects { name } } }`, map[string]any{"id": created["id"]})
			if o, _ := r.Data["organization"].(map[string]any); o == nil || o["name"] != name || len(o["projects"].([]any)) != 1 {
				t.Fatalf("organization(id) after the create answered %s, want it from the primary", r.Raw)
			}

			// A list, its count and its organizations' relations: the replica, which has not got the new
			// organization yet.
			before := rep.ReadsBy(db.PoolReplica)
			answered := directCount(reg, "answered")
			checkListed(t, a.post(a.key, replicaListQuery, nil), "Before (replica) / Default project (replica)")
			if got := rep.ReadsBy(db.PoolReplica) - before; got != 1 {
				t.Errorf("reads counted on the replica: %d, want 1", got)
			}
			if got := directCount(reg, "answered") - answered; direct && got != 1 {
				t.Errorf("the direct path answered %v lists, want 1", got)
			}

			// A list in the same operation as a single organization: all of it from the primary.
			r = a.post(a.key, `query($id: ID!) { organization(id: $id) { name }
  organizations(orderBy: {field: NAME, direction: ASC}) { totalCount nodes { name projects { name } } } }`, map[string]any{"id": created["id"]})
			if got, total := listed(t, r); len(got) < 2 || strings.Contains(strings.Join(got, ";"), "(replica)") || total != len(got) {
				t.Errorf("a list beside organization(id) answered %q, want the primary's organizations", got)
			}
			// A list beside the viewer: the primary too.
			if r := a.post(a.key, `query { viewer { name } organizations { totalCount } }`, nil); len(r.Errors) > 0 ||
				int(r.Data["organizations"].(map[string]any)["totalCount"].(float64)) < 2 {
				t.Errorf("a list beside the viewer answered %s, want the primary's count", r.Raw)
			}
		})
	}
}

// freePort returns a TCP port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestListsReadFromThePrimaryWhileTheReplicaIsDown(t *testing.T) {
	t.Parallel()
	w := newReplicaWorld(t)
	logs := &syncBuffer{}
	down := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/orgs?sslmode=disable&connect_timeout=2", freePort(t))
	a, rep := w.api(t, down, db.ReplicaOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))}, graph.DefaultHandlerOptions)
	if rep.InUse() || rep.Up() {
		t.Fatalf("a replica on a closed port is in use (%v) or up (%v)", rep.InUse(), rep.Up())
	}
	a.createOK(map[string]any{"name": "After"})
	for range 3 {
		checkListed(t, a.post(a.key, replicaListQuery, nil), "After / Default project", "Before / Default project")
	}
	if got := rep.ReadsBy(db.PoolPrimary); got != 3 {
		t.Errorf("reads counted on the primary: %d, want 3", got)
	}
	rep.Check(context.Background())
	if n := strings.Count(logs.String(), "read replica unavailable"); n != 1 {
		t.Errorf("%d lines say the replica is unavailable, want 1 (a line per switch):\n%s", n, logs)
	}
}

func TestListsReadFromThePrimaryWhileTheReplicaLags(t *testing.T) {
	t.Parallel()
	w := newReplicaWorld(t)
	logs := &syncBuffer{}
	var lag atomic.Int64
	var fail atomic.Bool
	probe := func(context.Context) (time.Duration, error) {
		if fail.Load() {
			return 0, errors.New("connection refused")
		}
		return time.Duration(lag.Load()), nil
	}
	a, rep := w.api(t, w.replicaURL, db.ReplicaOptions{MaxLag: 3 * time.Second, Probe: probe,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, graph.DefaultHandlerOptions)
	a.createOK(map[string]any{"name": "After"})
	fromReplica := []string{"Before (replica) / Default project (replica)"}
	fromPrimary := []string{"After / Default project", "Before / Default project"}

	lag.Store(int64(3 * time.Second)) // at the bound: still in use
	rep.Check(context.Background())
	checkListed(t, a.post(a.key, replicaListQuery, nil), fromReplica...)

	lag.Store(int64(3*time.Second + time.Millisecond))
	for range 2 {
		rep.Check(context.Background())
		checkListed(t, a.post(a.key, replicaListQuery, nil), fromPrimary...)
	}
	if rep.Lag() != 3*time.Second+time.Millisecond || !rep.Up() || rep.InUse() {
		t.Errorf("lag %v, up %v, in use %v; want the lag measured, up, not in use", rep.Lag(), rep.Up(), rep.InUse())
	}

	lag.Store(int64(10 * time.Millisecond))
	rep.Check(context.Background())
	checkListed(t, a.post(a.key, replicaListQuery, nil), fromReplica...)

	fail.Store(true)
	rep.Check(context.Background())
	checkListed(t, a.post(a.key, replicaListQuery, nil), fromPrimary...)

	out := logs.String()
	for line, n := range map[string]int{"read replica in use": 2, "read replica lags": 1, "read replica unavailable": 1} {
		if got := strings.Count(out, line); got != n {
			t.Errorf("%d lines %q, want %d:\n%s", got, line, n, out)
		}
	}
}

func TestReplicaIsMeasuredInTheBackground(t *testing.T) {
	t.Parallel()
	w := newReplicaWorld(t)
	var lag atomic.Int64
	a, rep := w.api(t, w.replicaURL, db.ReplicaOptions{MaxLag: time.Second, Interval: 20 * time.Millisecond,
		Probe: func(context.Context) (time.Duration, error) { return time.Duration(lag.Load()), nil }}, graph.DefaultHandlerOptions)
	a.createOK(map[string]any{"name": "After"})
	eventually := func(inUse bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); rep.InUse() != inUse; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the replica is still in use: %v", rep.InUse())
			}
		}
	}
	lag.Store(int64(time.Minute))
	eventually(false)
	checkListed(t, a.post(a.key, replicaListQuery, nil), "After / Default project", "Before / Default project")
	lag.Store(0)
	eventually(true)
	checkListed(t, a.post(a.key, replicaListQuery, nil), "Before (replica) / Default project (replica)")
}

func TestReplicaPoolRefusesWrites(t *testing.T) {
	t.Parallel()
	w := newReplicaWorld(t)
	_, rep := w.api(t, w.replicaURL, db.ReplicaOptions{}, graph.DefaultHandlerOptions)
	_, err := rep.Store().DB().Exec(`UPDATE organizations SET name = 'written on the replica'`)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("a write through the replica's pool: %v, want a read-only transaction error", err)
	}
}
