package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"orgs/db/dbtest"
)

// TestShutdownClosesSockets: SIGTERM (the context of run) closes the sockets of subscriptions with 1001,
// which http.Server.Shutdown alone would leave open, and the server still stops gracefully.
func TestShutdownClosesSockets(t *testing.T) {
	t.Parallel()
	url := dbtest.Empty(t)
	addr := freeAddr(t)
	vars := env(map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": addr, "SHUTDOWN_TIMEOUT": "10s"})
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "create", "--name", "me"}, vars, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(stdout.String())
	key := out[strings.LastIndex(out, "\n")+1:]

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, vars, io.Discard, io.Discard) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil && res.StatusCode == http.StatusOK {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	dctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws://"+addr+"/query", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, m := range []string{`{"type":"connection_init","payload":{"X-API-Key":"` + key + `"}}`,
		`{"id":"1","type":"subscribe","payload":{"query":"subscription { organizationEvents { id } }"}}`} {
		if err := c.Write(dctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, b, err := c.Read(dctx); err != nil || !strings.Contains(string(b), "connection_ack") {
		t.Fatalf("want connection_ack, got %s %v", b, err)
	}
	// The subscription is open once the gauge says so.
	for {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), "orgs_subscriptions_active 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	stop()
	for {
		_, _, err := c.Read(dctx)
		if err == nil {
			continue // a ping, or the message before the close frame
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
			t.Errorf("socket closed with %v, want 1001", err)
		}
		break
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not shut down")
	}
}
