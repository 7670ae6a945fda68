package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"orgs/db/dbtest"
)

// syncBuffer collects a server's logs safely across goroutines.
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

// testServer is the server run as main runs it, until stop.
type testServer struct {
	base string
	stop context.CancelFunc
	done chan error
	logs *syncBuffer
}

// startServer runs the server with vars and waits until it is ready.
func startServer(t *testing.T, vars map[string]string) *testServer {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	s := &testServer{base: "http://" + vars["LISTEN_ADDR"], stop: stop, done: make(chan error, 1), logs: &syncBuffer{}}
	go func() { s.done <- run(ctx, nil, env(vars), io.Discard, s.logs) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-s.done:
		case <-time.After(60 * time.Second):
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := http.Get(s.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("server stopped: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, s.logs.String())
		}
	}
}

// wait waits until the server has stopped, and returns what run returned.
func (s *testServer) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(within):
		t.Fatalf("server did not stop within %s", within)
		return nil
	}
}

// newServerKey creates an API key with every permission as `orgs apikey create` does.
func newServerKey(t *testing.T, vars map[string]string, tenant string) string {
	t.Helper()
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "create", "--name", "test", "--tenant", tenant}, env(vars), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(stdout.String())
	return out[strings.LastIndex(out, "\n")+1:]
}

// TestDrainedShutdown stops a server as SIGTERM does: /readyz turns 503 at once while the listener
// still serves for SHUTDOWN_DELAY; then new connections are refused, the request in flight finishes,
// the background work stops and run returns without an error.
func TestDrainedShutdown(t *testing.T) {
	t.Parallel()
	url := dbtest.Empty(t)
	const delay = 1500 * time.Millisecond
	vars := map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": freeAddr(t), "SHUTDOWN_DELAY": delay.String(), "SHUTDOWN_TIMEOUT": "20s"}
	s := startServer(t, vars)
	key := newServerKey(t, vars, "drain")
	post := func(query string) (int, map[string]any, error) {
		body, _ := json.Marshal(map[string]any{"query": query})
		req, _ := http.NewRequest(http.MethodPost, s.base+"/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		var out map[string]any
		err = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out, err
	}
	status := func(path string) int {
		res, err := http.Get(s.base + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}

	// A create held in flight by a lock on the users, which its organization refers to.
	conn, err := sqlx.Connect("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx := conn.MustBegin()
	defer tx.Rollback()
	tx.MustExec(`SELECT 1 FROM users FOR UPDATE`)
	type result struct {
		status int
		body   map[string]any
		err    error
	}
	inFlight := make(chan result, 1)
	go func() {
		code, body, err := post(`mutation { createOrganization(input: {name: "In flight"}) { organization { id } } }`)
		inFlight <- result{code, body, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		conn.Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the create never waited for the lock")
		}
	}

	s.stop() // SIGTERM
	signalled := time.Now()
	if code := status("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz right after the signal = %d, want 503", code)
	}
	if code := status("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining = %d, want 200", code)
	}
	if code, body, err := post(`{ viewer { name } }`); err != nil || code != http.StatusOK || body["errors"] != nil {
		t.Errorf("request while draining = %d %v %v, want served", code, body, err)
	}
	// After the delay the listener closes.
	var refusedAt time.Time
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", vars["LISTEN_ADDR"], time.Second)
		if err != nil {
			refusedAt = time.Now()
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener never closed")
		}
	}
	if served := refusedAt.Sub(signalled); served < delay-100*time.Millisecond {
		t.Errorf("the listener closed %s after the signal, want SHUTDOWN_DELAY %s", served, delay)
	}
	select {
	case r := <-inFlight:
		t.Fatalf("the request in flight ended before its lock was released: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}

	tx.Rollback()
	r := <-inFlight
	if r.err != nil || r.status != http.StatusOK || r.body["errors"] != nil {
		t.Errorf("request in flight = %d %v %v, want finished", r.status, r.body, r.err)
	}
	if err := s.wait(t, 30*time.Second); err != nil {
		t.Errorf("run = %v after the drain", err)
	}
	logs := s.logs.String()
	for _, want := range []string{`"msg":"draining"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("errors logged by a drained shutdown:\n%s", logs)
	}
}
