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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/service"
)

// store is the package's database: fresh, cloned from the migrated template. Tests share it and keep
// apart by tenant, so they can run in parallel.
var store *db.Store

// packageURL is the URL of the package's database.
var packageURL string

func TestMain(m *testing.M) {
	dbtest.Main(m, "graph", db.Options{MaxOpenConns: 40}, func(url string, s *db.Store) {
		packageURL, store = url, s
	})
}

// syncBuffer collects log output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// api is a real HTTP server over the GraphQL handler, with a tenant of its own.
type api struct {
	t       *testing.T
	url     string
	store   *db.Store
	service *service.Service
	logs    *syncBuffer
	key     string // every permission
	actor   *domain.Actor
	client  *http.Client
}

// newAPI serves the handler over the package's database for a tenant named after the test.
func newAPI(t *testing.T) *api {
	return newAPIFor(t, store, "tenant "+t.Name())
}

// newAPIInOtherTenant is newAPI for a second tenant of the same test.
func newAPIInOtherTenant(t *testing.T) *api {
	return newAPIFor(t, store, "other tenant "+t.Name())
}

func newAPIFor(t *testing.T, s *db.Store, tenant string) *api {
	return newAPIWith(t, s, tenant, graph.DefaultHandlerOptions)
}

// runID keeps the tenants of one run of the tests apart from those of another (go test -count=2).
var runID = strconv.FormatInt(time.Now().UnixNano(), 36)

func newAPIWith(t *testing.T, s *db.Store, tenant string, opt graph.HandlerOptions) *api {
	t.Helper()
	return newAPIWithFront(t, s, tenant, httpapi.DefaultOptions, opt)
}

// testServiceConfig is the service configuration of the tests.
var testServiceConfig = service.Config{DomainSuffix: "orgs.test"}

// newEndpoint is /query as the server routes it: the HTTP front door before the GraphQL handler.
func newEndpoint(s *db.Store, svc *service.Service, logger *slog.Logger, front httpapi.Options, opt graph.HandlerOptions) http.Handler {
	return httpapi.Endpoint(s, logger, front, graph.NewHandler(&graph.Resolver{Store: s, Service: svc, Logger: logger}, opt))
}

// newMeteredAPI is newAPIWith the default options and metrics of its own, which it returns.
func newMeteredAPI(t *testing.T, s *db.Store, tenant string) (*api, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opt := graph.DefaultHandlerOptions
	opt.Metrics = graph.NewMetrics(reg)
	return newAPIWith(t, s, tenant, opt), reg
}

// newAPIWithFront is newAPIWith with options for the front door too.
func newAPIWithFront(t *testing.T, s *db.Store, tenant string, front httpapi.Options, opt graph.HandlerOptions) *api {
	t.Helper()
	return newAPIServing(t, s, service.New(s, testServiceConfig), tenant, front, opt)
}

// newAPIServing is newAPIWithFront with a service of the caller's.
func newAPIServing(t *testing.T, s *db.Store, svc *service.Service, tenant string, front httpapi.Options, opt graph.HandlerOptions) *api {
	t.Helper()
	tenant += " " + runID
	logs := &syncBuffer{}
	logger := slog.New(httpapi.ContextLogHandler{Handler: slog.NewJSONHandler(logs, nil)})
	h := httpapi.WithRequests(logger, newEndpoint(s, svc, logger, front, opt))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &api{t: t, url: srv.URL, store: s, service: svc, logs: logs, client: srv.Client()}
	a.key, a.actor = a.newKeyIn(tenant, t.Name(), domain.AllPermissions...)
	return a
}

// newKey creates another key in this API's tenant, the way `apikey create` does.
func (a *api) newKey(name string, perms ...domain.Permission) (string, *domain.Actor) {
	a.t.Helper()
	return a.newKeyIn(a.actor.TenantID, name, perms...)
}

func (a *api) newKeyIn(tenant, name string, perms ...domain.Permission) (string, *domain.Actor) {
	a.t.Helper()
	key, actor, err := a.store.CreateAPIKey(context.Background(), db.NewAPIKey{
		Name: name, Tenant: tenant, Email: strings.ToLower(strings.NewReplacer("/", ".", "_", "-").Replace(name)) + "@example.com",
		UserName: "User " + name, Permissions: perms,
	})
	if err != nil {
		a.t.Fatalf("create api key: %v", err)
	}
	return key, actor
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type response struct {
	Status int
	Header http.Header
	Data   map[string]any `json:"data"`
	Errors []gqlError     `json:"errors"`
	Raw    string
}

// post sends a GraphQL request with the key in an Authorization header ("" sends none).
func (a *api) post(key, query string, vars map[string]any) response {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return a.do(req)
}

// do sends req; a transport or decoding failure is reported as an error of the response, so that do is
// safe in any goroutine.
func (a *api) do(req *http.Request) response {
	res, err := a.client.Do(req)
	if err != nil {
		return response{Errors: []gqlError{{Message: "request: " + err.Error()}}}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out); err != nil {
		out.Errors = append(out.Errors, gqlError{Message: fmt.Sprintf("decode %q: %v", raw, err)})
	}
	return out
}

// create runs createOrganization with input and returns the payload.
func (a *api) create(key string, input map[string]any) map[string]any {
	a.t.Helper()
	payload, err := a.tryCreate(key, input)
	if err != nil {
		a.t.Fatal(err)
	}
	return payload
}

// createOK creates an organization that must be valid.
func (a *api) createOK(input map[string]any) map[string]any {
	a.t.Helper()
	p := a.create(a.key, input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("create %v: %+v", input["name"], errs)
	}
	return p["organization"].(map[string]any)
}

// tryCreate is create for other goroutines than the test's: it returns the failure.
func (a *api) tryCreate(key string, input map[string]any) (map[string]any, error) {
	r := a.post(key, createMutation, map[string]any{"input": input})
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		return nil, fmt.Errorf("createOrganization: status %d, errors %+v", r.Status, r.Errors)
	}
	return r.Data["createOrganization"].(map[string]any), nil
}

const organizationFields = `
id name slug description avatarUrl countryCode languageCode primaryDomain
domains { domain isPrimary isVerified isGenerated }
isPrivate isDefault isSystem status statusChangedAt isActive totalMembers createdBy createdAt updatedAt
details { sequence creationDate changeDate resourceOwner }
defaultProject { id organizationId name slug type mode status isDefault isActive isTest contactEmails
  sendFromEmail { id } settings { trackers { deepScan realTimeScan lastRealTimeScan } } createdAt updatedAt }
projects { id isDefault }
owners { id userId email name role status joinedAt }
members { id userId email name role status joinedAt }`

const createMutation = `mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    clientMutationId
    organization {` + organizationFields + `}
    userErrors { field message code suggestions }
  }
}`

// userErrors returns the payload's userErrors as (path, code) pairs.
func userErrors(payload map[string]any) []userError {
	var out []userError
	for _, e := range payload["userErrors"].([]any) {
		m := e.(map[string]any)
		var path []string
		for _, p := range m["field"].([]any) {
			path = append(path, p.(string))
		}
		ue := userError{Field: strings.Join(path, "."), Code: m["code"].(string), Message: m["message"].(string)}
		if s, ok := m["suggestions"].([]any); ok {
			for _, v := range s {
				ue.Suggestions = append(ue.Suggestions, v.(string))
			}
		}
		out = append(out, ue)
	}
	return out
}

type userError struct {
	Field       string
	Code        string
	Message     string
	Suggestions []string
}

// count returns the number of rows of table in this API's tenant.
func (a *api) count(table string) int {
	a.t.Helper()
	var n int
	if err := a.store.DB().Get(&n, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, a.actor.TenantID); err != nil {
		a.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// assertNothingWritten fails unless the tenant has no organization and nothing that hangs off one.
func (a *api) assertNothingWritten() {
	a.t.Helper()
	for _, table := range []string{"organizations", "projects", "memberships", "organization_domains", "audit_events",
		"organization_attributes", "email_confirmations", "email_outbox"} {
		if n := a.count(table); n != 0 {
			a.t.Errorf("%s has %d rows for the tenant, want 0", table, n)
		}
	}
}
