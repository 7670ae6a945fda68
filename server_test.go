package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"orgs/db/dbtest"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
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
		if _, errs := gqlparser.LoadQueryWithRules(schema, b[1], rules.NewDefaultRules()); errs != nil {
			t.Errorf("README example does not validate: %v\n%s", errs, b[1])
		}
	}
}
