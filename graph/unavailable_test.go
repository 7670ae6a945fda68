package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/service"
)

// tcpProxy forwards connections to target until it is cut: then every connection through it is reset
// and new ones are refused, as when the database server has gone; it can be started again on its address.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.start()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) start() {
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	d, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[d] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(d, c); d.Close() }()
	io.Copy(c, d)
	c.Close()
}

// cut resets every connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // reset, as a crashed server's kernel would
		}
		c.Close()
		delete(p.conns, c)
	}
}

// TestDatabaseUnavailable cuts the database away from a running API (through a proxy that resets its
// connections and refuses new ones), then brings it back: meanwhile every request is answered 503
// with Retry-After and one UNAVAILABLE error, whatever failed (a list, a loader, a mutation, a create
// with an idempotency key, the authentication of a key), /readyz is 503, and the outage is logged
// once, never as an internal error; once the database is back, service resumes by itself.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(packageURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	logs := &syncBuffer{}
	logger := slog.New(httpapi.ContextLogHandler{Handler: slog.NewJSONHandler(logs, nil)})
	s := dbtest.Open(t, u.String(), db.Options{MaxOpenConns: 4, Logger: logger})
	tenant := "tenant " + t.Name() + " " + runID
	key, _, err := store.CreateAPIKey(context.Background(), db.NewAPIKey{Name: "key " + uuid.NewString(), Tenant: tenant,
		Email: "owner@example.com", UserName: "Owner", Permissions: domain.AllPermissions})
	if err != nil {
		t.Fatal(err)
	}
	// /query authenticates with the package's store, which stays, so that requests reach the resolvers
	// with the database gone; /all-gone authenticates with the store that loses it too.
	resolvers := graph.NewHandler(&graph.Resolver{Store: s, Service: service.New(s, testServiceConfig), Logger: logger}, graph.DefaultHandlerOptions)
	mux := http.NewServeMux()
	mux.Handle("/query", httpapi.Endpoint(store, logger, httpapi.DefaultOptions, resolvers))
	mux.Handle("/all-gone", httpapi.Endpoint(s, logger, httpapi.DefaultOptions, resolvers))
	mux.Handle("GET /readyz", httpapi.Ready(s, logger))
	srv := httptest.NewServer(httpapi.WithRequests(logger, mux))
	t.Cleanup(srv.Close)

	type answer struct {
		status     int
		retryAfter string
		body       map[string]any
	}
	post := func(path, idempotencyKey, query string) answer {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"query": query})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		if idempotencyKey != "" {
			req.Header.Set("Idempotency-Key", idempotencyKey)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		a := answer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After")}
		if err := json.NewDecoder(res.Body).Decode(&a.body); err != nil {
			t.Fatalf("answer %d: %v", res.StatusCode, err)
		}
		return a
	}
	const create = `mutation { createOrganization(input: {name: "Acme"}) { organization { id } userErrors { code } } }`
	created := post("/query", "", create)
	id, _ := created.body["data"].(map[string]any)["createOrganization"].(map[string]any)["organization"].(map[string]any)["id"].(string)
	if created.status != http.StatusOK || id == "" {
		t.Fatalf("create before the outage = %d %v", created.status, created.body)
	}
	requests := map[string]func() answer{
		"list (direct path)":      func() answer { return post("/query", "", `{ organizations(first: 5) { nodes { id name } } }`) },
		"organization (loader)":   func() answer { return post("/query", "", `{ organization(id: "`+id+`") { name projects { name } } }`) },
		"create":                  func() answer { return post("/query", "", create) },
		"create with a key":       func() answer { return post("/query", "order-1", create) },
		"authentication of a key": func() answer { return post("/all-gone", "", `{ organizations(first: 5) { nodes { id } } }`) },
		"two root fields, one DB": func() answer {
			return post("/query", "", `{ viewer { name } organizations(first: 1) { nodes { id } } }`)
		},
	}

	proxy.cut()
	for name, request := range requests {
		a := request()
		errs, _ := a.body["errors"].([]any)
		var code any
		if len(errs) == 1 {
			code = errs[0].(map[string]any)["extensions"].(map[string]any)["code"]
		}
		_, hasData := a.body["data"]
		if a.status != http.StatusServiceUnavailable || a.retryAfter != "1" || len(errs) != 1 || code != "UNAVAILABLE" || hasData {
			t.Errorf("%s with the database away = %d, Retry-After %q, %v; want 503, Retry-After 1, one UNAVAILABLE error and no data",
				name, a.status, a.retryAfter, a.body)
		}
	}
	res, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database away = %d, want 503", res.StatusCode)
	}
	out := logs.String()
	if strings.Contains(out, `"level":"ERROR"`) || strings.Count(out, `"msg":"database unavailable"`) != 1 {
		t.Errorf("logs with the database away, want no error and the outage once:\n%s", out)
	}

	// Back: the next requests are served, on connections opened afresh.
	proxy.start()
	back := time.Now()
	for name, request := range requests {
		for {
			a := request()
			if a.status == http.StatusOK && a.body["errors"] == nil {
				break
			}
			if time.Since(back) > 5*time.Second {
				t.Fatalf("%s once the database is back = %d %v", name, a.status, a.body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if res, err := srv.Client().Get(srv.URL + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("/readyz once the database is back = %v, %v", res, err)
	}
	if out := logs.String(); strings.Count(out, `"msg":"database back"`) != 1 || strings.Contains(out, `"level":"ERROR"`) {
		t.Errorf("logs once the database is back, want it once and no error:\n%s", out)
	}
}
