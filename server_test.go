package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestAPIKeyCreateCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.Empty(t) // the command migrates a fresh install itself
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"apikey", "create", "--name", "ci", "--tenant", "acme",
		"--permission", "ORGANIZATION_READ", "--permission", "organization_create", "--email", "ci@acme.test"},
		env(map[string]string{"DATABASE_URL": url}), &stdout, &stderr)
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	key := lines[len(lines)-1]
	if !regexp.MustCompile(`^orgs_[A-Za-z0-9_-]{43}$`).MatchString(key) {
		t.Fatalf("last line of stdout = %q, want the key alone", key)
	}
	store, err := db.Open(context.Background(), url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	actor, err := store.Authenticate(context.Background(), key)
	if err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}
	if actor.TenantName != "acme" || actor.Email != "ci@acme.test" || actor.KeyName != "ci" ||
		len(actor.Permissions) != 2 || actor.Permissions[0] != "ORGANIZATION_READ" || actor.Permissions[1] != "ORGANIZATION_CREATE" {
		t.Errorf("actor = %+v", actor)
	}

	for _, args := range [][]string{
		{"apikey", "create"},
		{"apikey", "create", "--name", "x", "--permission", "EVERYTHING"},
		{"apikey", "delete"},
	} {
		if err := run(context.Background(), args, env(map[string]string{"DATABASE_URL": url}), io.Discard, io.Discard); err == nil {
			t.Errorf("%v succeeded, want an error", args)
		}
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServe starts the server as main does, on a fresh database, follows the README's example with the
// README's own requests, and stops it with a signal's context.
func TestServe(t *testing.T) {
	t.Parallel()
	url := dbtest.Empty(t)
	addr := freeAddr(t)
	vars := env(map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": addr, "ORG_DOMAIN_SUFFIX": "example.test"})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, nil, vars, io.Discard, &logs) }()
	defer stop()

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil && res.StatusCode == http.StatusOK {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	get := func(path string) (int, string) {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, body := get("/"); code != http.StatusOK || !strings.Contains(body, "graphiql") {
		t.Errorf("/ = %d, want the playground", code)
	}

	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "create", "--name", "me"}, vars, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(stdout.String()[strings.LastIndex(strings.TrimSpace(stdout.String()), "\n")+1:])

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	bodies := regexp.MustCompile(`(?s)curl [^\n]*/query.*?-d '(\{.*?\})'`).FindAllStringSubmatch(string(readme), -1)
	if len(bodies) < 2 {
		t.Fatalf("README.md has %d curl examples of /query, want the create and the read", len(bodies))
	}
	post := func(body string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out["errors"] != nil {
			t.Fatalf("README request %s: %v %v", body, err, out["errors"])
		}
		return out["data"].(map[string]any)
	}
	created := post(bodies[0][1])["createOrganization"].(map[string]any)
	if errs := created["userErrors"].([]any); len(errs) != 0 {
		t.Fatalf("README create: userErrors %v", errs)
	}
	read := post(bodies[1][1])["organization"].(map[string]any)
	if read["id"] != created["organization"].(map[string]any)["id"] {
		t.Errorf("README read returned %v, want the created organization", read)
	}
	owners := read["owners"].([]any)
	if len(owners) != 1 || owners[0].(map[string]any)["email"] != "me@localhost" || read["defaultProject"] == nil {
		t.Errorf("README read: owners %v, defaultProject %v", owners, read["defaultProject"])
	}

	// Metrics: operations by root field and outcome, the pool, rate limiting.
	code, metrics := get("/metrics")
	for _, want := range []string{
		`orgs_graphql_operations_total{operation="mutation createOrganization",outcome="ok"} 1`,
		`orgs_graphql_operations_total{operation="query organization",outcome="ok"} 1`,
		`orgs_graphql_operation_duration_seconds_bucket{operation="mutation createOrganization",outcome="ok",le="+Inf"} 1`,
		`go_sql_open_connections{db_name="orgs"}`, `orgs_rate_limited_requests_total 0`,
	} {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not shut down")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no graceful stop in the log:\n%s", logs.String())
	}
}

func TestReadyzNeedsMigrations(t *testing.T) {
	t.Parallel()
	store, err := db.Open(context.Background(), dbtest.Empty(t), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg, _ := loadConfig(env(nil))
	h, err := newHandler(store, newLogger(cfg, io.Discard), cfg, nil, prometheus.NewRegistry())
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

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(nil))
	if err != nil || cfg.ListenAddr != ":8080" || cfg.DomainSuffix != "orgs.localhost" || !cfg.Introspection || cfg.DatabaseURL != defaultDatabaseURL {
		t.Errorf("defaults = %+v, %v", cfg, err)
	}
	cfg, _ = loadConfig(env(map[string]string{"PORT": "9000", "REGIONS": " us, eu ,apac,", "CORS_ALLOWED_ORIGINS": "https://a.example,https://b.example"}))
	if cfg.ListenAddr != ":9000" || fmt.Sprint(cfg.Regions) != "[us eu apac]" || len(cfg.CORSOrigins) != 2 {
		t.Errorf("PORT, REGIONS, CORS_ALLOWED_ORIGINS: %+v", cfg)
	}
	for k, v := range map[string]string{"REGIONS": " , ", "RATE_LIMIT_PER_MINUTE": "-1", "REQUEST_TIMEOUT": "0s", "DB_MAX_CONNS": "0", "LOG_LEVEL": "loud", "INTROSPECTION": "maybe", "LOG_FORMAT": "xml", "SHUTDOWN_TIMEOUT": "soon"} {
		if _, err := loadConfig(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}

// TestReadmeExamplesAreValid checks every GraphQL example of the README against the schema, so that the
// documentation cannot drift from the API.
func TestReadmeExamplesAreValid(t *testing.T) {
	t.Parallel()
	sdl, err := os.ReadFile("schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(sdl)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```graphql\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	for _, m := range regexp.MustCompile(`(?s)-d '(\{.*?\})'`).FindAllStringSubmatch(string(readme), -1) {
		var body struct{ Query string }
		if err := json.Unmarshal([]byte(m[1]), &body); err != nil {
			t.Errorf("README curl body is not JSON: %v\n%s", err, m[1])
			continue
		}
		blocks = append(blocks, []string{"", body.Query})
	}
	if len(blocks) < 4 {
		t.Fatalf("found %d GraphQL examples in README.md", len(blocks))
	}
	for _, b := range blocks {
		if _, errs := gqlparser.LoadQuery(schema, b[1]); errs != nil {
			t.Errorf("README example does not validate: %v\n%s", errs, b[1])
		}
	}
}

func TestDefaultMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if v, ok := m[name]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	for _, c := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"no cgroup", nil, 1 << 30},
		{"v2 without a limit", map[string]string{v2: "max\n"}, 1 << 30},
		{"v2 with 512 MiB", map[string]string{v2: "536870912\n"}, 402653184},
		{"v2 with 8 GiB", map[string]string{v2: "8589934592\n"}, 1 << 30},
		{"v1 with 256 MiB", map[string]string{v1: "268435456\n"}, 201326592},
		{"v1 without a limit", map[string]string{v1: "9223372036854771712\n"}, 1 << 30},
	} {
		if got := defaultMemoryLimit(files(c.files)); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
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
		h, err := newHandler(store, newLogger(cfg, io.Discard), cfg, nil, prometheus.NewRegistry())
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
