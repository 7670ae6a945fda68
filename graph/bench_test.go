package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/service"
)

// The benchmarks of the API through the real handler, in process, on the package's database (see
// TestMain): what bench/loadgen sends to the server, without the network. Each reports the statements
// it sends to PostgreSQL per operation (stmts/op).
//
//	go test -run '^$' -bench 'CreateOrganization|ListOrganizations' -benchmem ./graph

const benchCreateMutation = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id slug } userErrors { field code message } } }`

const benchListQuery = `{ organizations(first: 50) { edges { node { id name slug defaultProject { id name } projects { id name } owners { id email } } } } }`

// benchListFullQuery is the list with every relation of bench/loadgen's list-full workload.
const benchListFullQuery = `{ organizations(first: 50) { edges { node { id name slug defaultProject { id name } projects { id name } owners { id email }
  domains { domain isPrimary } customAttributes { key value } template { name }
  membersConnection(first: 10) { totalCount nodes { email role } } projectsConnection { totalCount nodes { id name } } } } } }`

// benchAPI is the handler as the server builds it for /query, over a store that counts its
// statements, with a key of a tenant of its own.
type benchAPI struct {
	h   http.Handler
	key string
}

func newBenchAPI(b *testing.B, tenant string) *benchAPI {
	return newBenchAPIWith(b, tenant, graph.DefaultHandlerOptions)
}

func newBenchAPIWith(b *testing.B, tenant string, opt graph.HandlerOptions) *benchAPI {
	b.Helper()
	// As the server: authenticated keys are remembered for half a second (AUTH_CACHE_TTL), logs at warn.
	s, err := db.Open(context.Background(), packageURL, db.Options{Driver: dbtest.CountingDriver, MaxOpenConns: 8, AuthCacheTTL: 500 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	logger := slog.New(httpapi.ContextLogHandler{Handler: slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})})
	h := httpapi.WithRequests(logger, newEndpoint(s, service.New(s, testServiceConfig), logger, httpapi.DefaultOptions, opt))
	key, _, err := s.CreateAPIKey(context.Background(), db.NewAPIKey{Name: "bench", Tenant: tenant + " " + runID,
		Permissions: domain.AllPermissions})
	if err != nil {
		b.Fatal(err)
	}
	return &benchAPI{h: h, key: key}
}

// do serves one GraphQL request and returns the answer's body, failing on a status other than 200.
func (a *benchAPI) do(b *testing.B, body []byte) []byte {
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.key)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %.300s", rec.Code, rec.Body.Bytes())
	}
	return rec.Body.Bytes()
}

func benchBody(query string, vars map[string]any) []byte {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return body
}

func createdOK(b *testing.B, res []byte) {
	if bytes.Contains(res, []byte(`"errors":`)) || !bytes.Contains(res, []byte(`"userErrors":[]`)) {
		b.Fatalf("create: %.300s", res)
	}
}

// benchCreateNestedMutation is the create with the answer bench/loadgen's create-nested workload, the
// seeds and the peers ask for.
const benchCreateNestedMutation = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id name slug description details { sequence creationDate changeDate resourceOwner } defaultProject { id name slug isDefault createdAt } projects { id name slug isDefault createdAt } owners { userId role joinedAt } } userErrors { field code message } } }`

// BenchmarkCreateOrganization is createOrganization with a minimal input (a new name each time, the
// slug generated), from the HTTP request to the answer.
func BenchmarkCreateOrganization(b *testing.B) {
	benchCreate(b, newBenchAPI(b, "bench create"), benchCreateMutation)
}

// BenchmarkCreateOrganizationNested is the same create with the nested answer, which the direct path
// writes (created.go).
func BenchmarkCreateOrganizationNested(b *testing.B) {
	benchCreate(b, newBenchAPI(b, "bench create nested"), benchCreateNestedMutation)
}

// BenchmarkCreateOrganizationNestedGqlgen is the nested create answered by gqlgen
// (HandlerOptions.GqlgenOnly), for comparison.
func BenchmarkCreateOrganizationNestedGqlgen(b *testing.B) {
	benchCreate(b, newBenchAPIWith(b, "bench create nested gqlgen", gqlgenOnly()), benchCreateNestedMutation)
}

func benchCreate(b *testing.B, a *benchAPI, mutation string) {
	n, run := 0, time.Now().UnixNano() // -count runs share the tenant: names stay new across them
	before, cpu := dbtest.Statements.Load(), processCPU(b)
	for b.Loop() {
		n++
		createdOK(b, a.do(b, benchBody(mutation, map[string]any{"input": map[string]any{"name": fmt.Sprintf("bench %d %d", run, n)}})))
	}
	b.ReportMetric(float64(dbtest.Statements.Load()-before)/float64(n), "stmts/op")
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(n), "cpu-ns/op")
}

// processCPU is the CPU time the process has used, user and system, in nanoseconds: the server's share
// of an operation, without PostgreSQL's, whose time ns/op includes.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkListOrganizations50Nested reads 50 organizations with their default project, projects and
// owners: the nested list of bench/loadgen, answered by the direct path (direct.go).
func BenchmarkListOrganizations50Nested(b *testing.B) {
	benchList(b, newBenchAPI(b, "bench list"), benchListQuery)
}

// BenchmarkListOrganizations50NestedGqlgen is the same list executed by gqlgen field by field
// (HandlerOptions.GqlgenOnly), for comparison.
func BenchmarkListOrganizations50NestedGqlgen(b *testing.B) {
	benchList(b, newBenchAPIWith(b, "bench list gqlgen", gqlgenOnly()), benchListQuery)
}

// gqlgenOnly are the handler's options with the direct paths off.
func gqlgenOnly() graph.HandlerOptions {
	opt := graph.DefaultHandlerOptions
	opt.GqlgenOnly = true
	return opt
}

// BenchmarkListOrganizations50Full reads the same 50 organizations with every relation (domains,
// custom attributes, template, both connections), on the direct path: two statements more than the
// nested list (domains and attributes; the seeded organizations have no template to read).
func BenchmarkListOrganizations50Full(b *testing.B) {
	benchList(b, newBenchAPI(b, "bench list full"), benchListFullQuery)
}

func benchList(b *testing.B, a *benchAPI, query string) {
	for i := range 50 {
		createdOK(b, a.do(b, benchBody(benchCreateMutation, map[string]any{"input": map[string]any{
			"name": fmt.Sprintf("Seeded %02d", i), "projects": []map[string]any{{"name": "Extra"}}}})))
	}
	body := benchBody(query, nil)
	n := 0
	before, cpu := dbtest.Statements.Load(), processCPU(b)
	for b.Loop() {
		n++
		res := a.do(b, body)
		if bytes.Contains(res, []byte(`"errors":`)) || bytes.Count(res, []byte(`"node":`)) != 50 {
			b.Fatalf("list: %.300s", res)
		}
	}
	b.ReportMetric(float64(dbtest.Statements.Load()-before)/float64(n), "stmts/op")
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(n), "cpu-ns/op")
}
