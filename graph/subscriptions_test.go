package graph_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/realtime"
	"orgs/service"
)

// newHub starts a hub of its own (one listener, as a replica has) over s.
func newHub(t *testing.T, s *db.Store, opt realtime.Options) *realtime.Hub {
	t.Helper()
	h := realtime.New(s, opt)
	if err := h.Start(context.Background(), packageURL); err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// settled waits until the hub has one subscription started (the test's).
func settled(t *testing.T, hub *realtime.Hub) {
	t.Helper()
	waitFor(t, "the subscription to settle", 20*time.Second, func() bool { return hub.Stats().Active == 1 })
}

// newRealtimeAPI is newAPI serving subscriptions too, with a hub of its own.
func newRealtimeAPI(t *testing.T, opt realtime.Options) (*api, *realtime.Hub) {
	t.Helper()
	hub := newHub(t, store, opt)
	return newRealtimeAPIWith(t, store, hub, "tenant "+t.Name()), hub
}

// newRealtimeAPIWith serves s and hub for a tenant.
func newRealtimeAPIWith(t *testing.T, s *db.Store, hub *realtime.Hub, tenant string) *api {
	t.Helper()
	tenant += " " + runID
	logs := &syncBuffer{}
	logger := slog.New(httpapi.ContextLogHandler{Handler: slog.NewJSONHandler(logs, nil)})
	svc := service.New(s, testServiceConfig)
	r := &graph.Resolver{Store: s, Service: svc, Logger: logger, Events: hub}
	h := httpapi.WithRequests(logger, httpapi.Endpoint(s, logger, httpapi.DefaultOptions, graph.NewHandler(r, graph.DefaultHandlerOptions)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &api{t: t, url: srv.URL, store: s, service: svc, logs: logs, client: srv.Client()}
	a.key, a.actor = a.newKeyIn(tenant, t.Name(), domain.AllPermissions...)
	return a
}

// execer runs a statement: the pool, or a transaction a test holds open.
type execer interface {
	Exec(query string, args ...any) (sql.Result, error)
}

// recordEvents writes the organization's events from sequence from to to by hand, in one statement of
// ex, as the store's statements record theirs.
func (a *api) recordEvents(ex execer, orgID string, from, to int) {
	a.t.Helper()
	if _, err := ex.Exec(`INSERT INTO audit_events (tenant_id, organization_id, sequence, type, created_at)
SELECT $1, $2, g, 'organization.updated', now() FROM generate_series($3::int, $4::int) g`, a.actor.TenantID, orgID, from, to); err != nil {
		a.t.Fatalf("record events %d to %d of %s: %v", from, to, orgID, err)
	}
}

// wsClient speaks graphql-transport-ws by hand.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a socket to the API's /query (the server's URL) with graphql-transport-ws and sends
// connection_init with payload.
func dialWS(t *testing.T, url string, payload map[string]any) *wsClient {
	t.Helper()
	return dialWSWith(t, url, payload, nil)
}

// dialWSWith is dialWS through client (nil: the default).
func dialWSWith(t *testing.T, url string, payload map[string]any, client *http.Client) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPClient: client})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 24)
	t.Cleanup(func() { c.CloseNow() })
	w := &wsClient{t: t, c: c}
	w.send(wsMessage{Type: "connection_init", Payload: mustJSON(payload)})
	return w
}

// connect opens a socket with the key and waits for connection_ack.
func connect(t *testing.T, url, key string) *wsClient {
	t.Helper()
	w := dialWS(t, url, map[string]any{"Authorization": "Bearer " + key})
	if m := w.read(); m.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %+v", m)
	}
	return w
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (w *wsClient) send(m wsMessage) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, mustJSON(m)); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// readErr returns the next message other than a ping (answered with a pong), or the read's error.
func (w *wsClient) readErr(timeout time.Duration) (wsMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			return wsMessage{}, err
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return m, fmt.Errorf("decode %s: %w", b, err)
		}
		switch m.Type {
		case "ping":
			if err := w.c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`)); err != nil {
				return m, err
			}
			continue
		case "pong", "ka":
			continue
		}
		return m, nil
	}
}

func (w *wsClient) read() wsMessage {
	w.t.Helper()
	m, err := w.readErr(10 * time.Second)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return m
}

// closeStatus reads until the socket closes and returns the server's close code and reason.
func (w *wsClient) closeStatus() (websocket.StatusCode, string) {
	w.t.Helper()
	for {
		_, err := w.readErr(20 * time.Second)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		return -1, err.Error()
	}
}

const eventsSubscription = `subscription($org: ID, $after: Int, $types: [String!]) {
  organizationEvents(organizationId: $org, afterSequence: $after, types: $types) {
    id organizationId sequence type changes { field from to } actor { tenantId apiKeyId }
  }
}`

// subscribe starts the subscription id with vars.
func (w *wsClient) subscribe(id string, vars map[string]any) {
	w.t.Helper()
	w.subscribeTo(id, eventsSubscription, vars)
}

func (w *wsClient) subscribeTo(id, query string, vars map[string]any) {
	w.t.Helper()
	w.send(wsMessage{ID: id, Type: "subscribe", Payload: mustJSON(map[string]any{"query": query, "variables": vars})})
}

type subEvent struct {
	ID             string `json:"id"`
	OrganizationID string `json:"organizationId"`
	Sequence       int    `json:"sequence"`
	Type           string `json:"type"`
	Changes        []struct {
		Field string `json:"field"`
		To    any    `json:"to"`
	} `json:"changes"`
	Actor struct {
		TenantID string `json:"tenantId"`
	} `json:"actor"`
}

// next reads the next event of the subscription id, failing on anything else.
func (w *wsClient) next(id string) subEvent {
	w.t.Helper()
	m := w.read()
	if m.Type != "next" || m.ID != id {
		w.t.Fatalf("want an event of %s, got %s %s %s", id, m.Type, m.ID, m.Payload)
	}
	var p struct {
		Data struct {
			OrganizationEvents subEvent `json:"organizationEvents"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		w.t.Fatalf("event %s: %v", m.Payload, err)
	}
	return p.Data.OrganizationEvents
}

// subscriptionError reads the error that ends the subscription id ("next" with errors, or "error").
func (w *wsClient) subscriptionError(id string) gqlError {
	w.t.Helper()
	m := w.read()
	if m.ID != id {
		w.t.Fatalf("want an error of %s, got %+v", id, m)
	}
	var errs []gqlError
	switch m.Type {
	case "next":
		var p struct {
			Errors []gqlError `json:"errors"`
		}
		json.Unmarshal(m.Payload, &p)
		errs = p.Errors
	case "error":
		json.Unmarshal(m.Payload, &errs)
	}
	if len(errs) == 0 {
		w.t.Fatalf("want an error of %s, got %s %s", id, m.Type, m.Payload)
	}
	return errs[0]
}

func TestSubscriptionAuthentication(t *testing.T) {
	t.Parallel()
	a, _ := newRealtimeAPI(t, realtime.Options{})
	revoked, revokedActor := a.newKey("revoked", domain.PermOrganizationRead)
	if _, err := a.store.RevokeAPIKey(context.Background(), a.actor, revokedActor.KeyID, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		payload map[string]any
		code    websocket.StatusCode
	}{
		{"no payload", nil, 4401},
		{"no key", map[string]any{"Authorization": ""}, 4401},
		{"unknown bearer", map[string]any{"Authorization": "Bearer orgs_nope"}, 4403},
		{"unknown x-api-key", map[string]any{"X-API-Key": "orgs_nope"}, 4403},
		{"revoked", map[string]any{"Authorization": "Bearer " + revoked}, 4403},
	} {
		w := dialWS(t, a.url, tc.payload)
		if code, reason := w.closeStatus(); code != tc.code {
			t.Errorf("%s: closed with %d %q, want %d", tc.name, code, reason, tc.code)
		}
	}
	for _, payload := range []map[string]any{{"Authorization": "Bearer " + a.key}, {"x-api-key": a.key}} {
		w := dialWS(t, a.url, payload)
		if m := w.read(); m.Type != "connection_ack" {
			t.Errorf("%v: got %+v, want connection_ack", payload, m)
		}
	}
}

func TestSubscriptionOrderedBurst(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{})
	id := a.createOK(map[string]any{"name": "Burst"})["id"].(string)
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{"org": id, "after": 1})
	settled(t, hub)
	a.updateOK(id, map[string]any{"description": "first"})
	if e := w.next("1"); e.Sequence != 2 {
		t.Fatalf("first event: sequence %d, want 2", e.Sequence)
	}
	const n = 30
	for i := range n {
		a.updateOK(id, map[string]any{"name": fmt.Sprintf("Burst %d", i)})
	}
	for i := range n {
		e := w.next("1")
		if e.Sequence != 3+i || e.Type != "organization.updated" || e.OrganizationID != id {
			t.Fatalf("event %d: %+v, want sequence %d", i, e, 3+i)
		}
		if len(e.Changes) != 1 || e.Changes[0].Field != "name" || e.Changes[0].To != fmt.Sprintf("Burst %d", i) {
			t.Errorf("event %d changes: %+v", i, e.Changes)
		}
	}
}

// TestSubscriptionGaplessReplay subscribes with afterSequence while a writer changes the organization:
// the stored events, then the live ones, arrive exactly once each, in order, across the switch. Several
// subscribers connect at different points of the writes, each switching from the log to the live events
// at a different moment.
func TestSubscriptionGaplessReplay(t *testing.T) {
	t.Parallel()
	a, _ := newRealtimeAPI(t, realtime.Options{})
	id := a.createOK(map[string]any{"name": "Replay"})["id"].(string)
	const writes, subscribers = 80, 6
	var starts [subscribers]chan struct{}
	for i := range starts {
		starts[i] = make(chan struct{})
	}
	// Four writers at once: the changes of the organization commit back to back.
	const writers = 4
	errc := make(chan error, writers)
	var done atomic.Int32
	for w := range writers {
		go func() {
			for j := range writes / writers {
				p, err := a.tryUpdate(a.key, map[string]any{"id": id, "description": fmt.Sprintf("Replay %d.%d", w, j)})
				if err == nil && len(p["userErrors"].([]any)) > 0 {
					err = fmt.Errorf("update: %v", p["userErrors"])
				}
				if err != nil {
					errc <- err
					return
				}
				if i := done.Add(1); i%10 == 5 && i/10 < subscribers {
					close(starts[i/10])
				}
			}
			errc <- nil
		}()
	}
	clients := make([]*wsClient, subscribers)
	for i := range clients {
		clients[i] = connect(t, a.url, a.key)
	}
	var wg sync.WaitGroup
	got := make([][]int, subscribers)
	for i, w := range clients {
		wg.Go(func() {
			<-starts[i]
			w.subscribe("1", map[string]any{"org": id, "after": 0})
			for len(got[i]) == 0 || got[i][len(got[i])-1] < writes+1 {
				m, err := w.readErr(20 * time.Second)
				if err != nil || m.Type != "next" {
					t.Errorf("subscriber %d after %v: %+v %v", i, got[i], m, err)
					return
				}
				var p struct {
					Data struct{ OrganizationEvents subEvent } `json:"data"`
				}
				json.Unmarshal(m.Payload, &p)
				got[i] = append(got[i], p.Data.OrganizationEvents.Sequence)
			}
		})
	}
	wg.Wait()
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for i := range got {
		for j, seq := range got[i] {
			if seq != j+1 {
				t.Fatalf("subscriber %d: sequences %v, want exactly 1..%d", i, got[i], writes+1)
			}
		}
	}
	// Nothing more: no event twice after the last.
	a.updateOK(id, map[string]any{"description": "after"})
	for _, w := range clients {
		if e := w.next("1"); e.Sequence != writes+2 {
			t.Fatalf("after the burst: sequence %d, want %d", e.Sequence, writes+2)
		}
	}

	// Resuming in the middle starts right after.
	w2 := connect(t, a.url, a.key)
	w2.subscribe("r", map[string]any{"org": id, "after": 40, "types": []string{"organization.updated"}})
	for want := 41; want <= writes+2; want++ {
		if e := w2.next("r"); e.Sequence != want {
			t.Fatalf("resumed after 40: sequence %d, want %d", e.Sequence, want)
		}
	}
}

func TestSubscriptionTenantIsolation(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{})
	b := newRealtimeAPIWith(t, store, hub, "other tenant "+t.Name())
	theirs := b.createOK(map[string]any{"name": "Theirs"})["id"].(string)

	w := connect(t, a.url, a.key)
	w.subscribe("all", map[string]any{})
	w.subscribe("theirs", map[string]any{"org": theirs})
	if e := w.subscriptionError("theirs"); e.Extensions["code"] != "NOT_FOUND" {
		t.Errorf("another tenant's organization: %+v, want NOT_FOUND", e)
	}
	if m := w.read(); m.Type != "complete" || m.ID != "theirs" {
		t.Fatalf("want complete, got %+v", m)
	}
	w.subscribe("bad", map[string]any{"after": 3})
	if e := w.subscriptionError("bad"); e.Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("afterSequence without organizationId: %+v, want BAD_USER_INPUT", e)
	}
	if m := w.read(); m.Type != "complete" || m.ID != "bad" {
		t.Fatalf("want complete, got %+v", m)
	}
	settled(t, hub)
	for i := range 5 {
		b.updateOK(theirs, map[string]any{"name": fmt.Sprintf("Theirs %d", i)})
		b.createOK(map[string]any{"name": fmt.Sprintf("Theirs too %d", i)})
	}
	mine := a.createOK(map[string]any{"name": "Mine"})["id"].(string)
	a.updateOK(mine, map[string]any{"name": "Mine 2"})
	for want := 1; want <= 2; want++ {
		e := w.next("all")
		if e.OrganizationID != mine || e.Sequence != want || e.Actor.TenantID != a.actor.TenantID {
			t.Fatalf("event %+v: want only the tenant's own (%s, sequence %d)", e, mine, want)
		}
	}
}

// TestSubscriptionNoRolledBackEvent: no event of a change that was refused or rolled back is delivered.
func TestSubscriptionNoRolledBackEvent(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{})
	id := a.createOK(map[string]any{"name": "Careful"})["id"].(string)
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{"org": id, "after": 1})
	settled(t, hub)
	// A change refused by a violation writes nothing.
	if p := a.update(id, map[string]any{"name": ""}); len(userErrors(p)) == 0 {
		t.Fatal("an empty name was accepted")
	}
	// An event inserted in a transaction rolled back by hand.
	tx, err := a.store.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	a.recordEvents(tx, id, 2, 2)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The next event is the first one committed after the subscription.
	a.updateOK(id, map[string]any{"description": "committed"})
	e := w.next("1")
	if e.Sequence != 2 || len(e.Changes) != 1 || e.Changes[0].Field != "description" {
		t.Fatalf("event %+v: want the committed description change, sequence 2", e)
	}
}

// TestSubscriptionWaitsForOlderTransactions: a tenant's subscriber gets every event committed after it
// started, once, in the order of the transactions that wrote them, and none from before. The event of a
// transaction still open when a younger one commits is not skipped: the younger one's waits for it.
func TestSubscriptionWaitsForOlderTransactions(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{})
	id := a.createOK(map[string]any{"name": "Older"})["id"].(string)
	id2 := a.createOK(map[string]any{"name": "Younger"})["id"].(string)
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{})
	settled(t, hub)

	older, err := a.store.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer older.Rollback()
	a.recordEvents(older, id, 2, 2)
	a.updateOK(id2, map[string]any{"description": "younger"})
	// Committed and announced; let the hub read the log after it, before the older transaction ends.
	reads := hub.Stats().LogReads
	waitFor(t, "two reads of the log", 20*time.Second, func() bool { return hub.Stats().LogReads >= reads+2 })
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		org string
		seq int
	}{{id, 2}, {id2, 2}} {
		if e := w.next("1"); e.OrganizationID != want.org || e.Sequence != want.seq {
			t.Fatalf("event %d: %+v, want organization %s sequence %d (the creations came before the subscription)", i, e, want.org, want.seq)
		}
	}
}

// TestSubscriptionOrganizationOutOfIdOrder: the log gives one organization's events in the order of
// their transactions' ids, which a transaction that took its id before locking the organization (the
// tenant lock of a create that demotes the default) reverses. A subscriber of the tenant that meets the
// organization for the first time at the later sequence still gets both, in sequence order.
func TestSubscriptionOrganizationOutOfIdOrder(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{})
	id := a.createOK(map[string]any{"name": "Target"})["id"].(string) // sequence 1
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{})
	settled(t, hub)

	older, err := a.store.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer older.Rollback()
	if _, err := older.Exec(`SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	a.updateOK(id, map[string]any{"description": "younger"}) // sequence 2, a younger transaction id
	if _, err := older.Exec(`
WITH changed AS (
    UPDATE organizations SET updated_at = now(), sequence = sequence + 1 WHERE tenant_id = $1 AND id = $2
    RETURNING tenant_id, id, sequence
)
INSERT INTO audit_events (tenant_id, organization_id, sequence, type, created_at)
SELECT tenant_id, id, sequence, 'organization.default_revoked', now() FROM changed`, a.actor.TenantID, id); err != nil {
		t.Fatal(err)
	}
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{2, 3} {
		if e := w.next("1"); e.OrganizationID != id || e.Sequence != want {
			t.Fatalf("event %+v: want sequence %d of %s", e, want, id)
		}
	}
}

// TestSubscriptionBurst: a transaction holds the log back while the tenant commits many events; when
// it ends they come at once. A subscriber that reads is not dropped: the default queue holds such a
// burst.
func TestSubscriptionBurst(t *testing.T) {
	t.Parallel()
	const events = 300
	a, hub := newRealtimeAPI(t, realtime.Options{})
	id := a.createOK(map[string]any{"name": "Busy"})["id"].(string)
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{})
	settled(t, hub)
	held, err := a.store.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback()
	if _, err := held.Exec(`SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	for seq := 2; seq <= events+1; seq++ { // one transaction each
		a.recordEvents(a.store.DB(), id, seq, seq)
	}
	if err := held.Commit(); err != nil {
		t.Fatal(err)
	}
	for want := 2; want <= events+1; want++ {
		if e := w.next("1"); e.Sequence != want {
			t.Fatalf("event %+v: want sequence %d", e, want)
		}
	}
	if n := hub.Stats().SlowDisconnects; n != 0 {
		t.Fatalf("%d subscriptions dropped as slow", n)
	}
}

// TestSubscriptionStartsAfterBacklog: events committed before a subscription starts are not delivered
// and do not take room in its queue, however many the hub reads at once after it joined.
func TestSubscriptionStartsAfterBacklog(t *testing.T) {
	t.Parallel()
	const queue, events = 8, 100
	a, hub := newRealtimeAPI(t, realtime.Options{QueueSize: queue})
	id := a.createOK(map[string]any{"name": "Backlog"})["id"].(string)
	// Without subscriptions the hub moves its place in the log once a second: these are read when the
	// first subscription joins.
	a.recordEvents(a.store.DB(), id, 2, events+1)
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{})
	settled(t, hub)
	id2 := a.createOK(map[string]any{"name": "After"})["id"].(string)
	if e := w.next("1"); e.OrganizationID != id2 || e.Type != "organization.created" {
		t.Fatalf("first event %+v: want the creation of %s", e, id2)
	}
	if n := hub.Stats().SlowDisconnects; n != 0 {
		t.Fatalf("%d subscriptions dropped as slow", n)
	}
}

// TestSubscriptionOrganizationIDInAnyForm: an organization's id in upper case is the same organization:
// its stored events replay page after page, and the live ones follow.
func TestSubscriptionOrganizationIDInAnyForm(t *testing.T) {
	t.Parallel()
	const stored = 150 // more than a page of the replay
	a, hub := newRealtimeAPI(t, realtime.Options{})
	id := a.createOK(map[string]any{"name": "Shouting"})["id"].(string)
	a.recordEvents(a.store.DB(), id, 2, stored+1)
	if _, err := a.store.DB().Exec(`UPDATE organizations SET sequence = $3 WHERE tenant_id = $1 AND id = $2`,
		a.actor.TenantID, id, stored+1); err != nil {
		t.Fatal(err)
	}
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{"org": strings.ToUpper(id), "after": 0})
	settled(t, hub)
	a.updateOK(id, map[string]any{"description": "live"})
	for want := 1; want <= stored+2; want++ {
		if e := w.next("1"); e.OrganizationID != id || e.Sequence != want {
			t.Fatalf("event %+v: want sequence %d of %s", e, want, id)
		}
	}
}

// TestSubscriptionAcrossReplicas: two servers, each with its own store and listener, on one database; a
// subscriber on one gets the changes made through the other.
func TestSubscriptionAcrossReplicas(t *testing.T) {
	t.Parallel()
	other := dbtest.Open(t, packageURL, db.Options{MaxOpenConns: 5})
	a, hubA := newRealtimeAPI(t, realtime.Options{})
	hubB := newHub(t, other, realtime.Options{})
	b := newRealtimeAPIWith(t, other, hubB, "tenant "+t.Name())
	if a.actor.TenantID != b.actor.TenantID {
		t.Fatal("the replicas serve different tenants")
	}
	wa, wb := connect(t, a.url, a.key), connect(t, b.url, b.key)
	wa.subscribe("a", map[string]any{})
	wb.subscribe("b", map[string]any{})
	waitFor(t, "the subscriptions to settle", 20*time.Second, func() bool { return hubA.Stats().Active == 1 && hubB.Stats().Active == 1 })
	idB := b.createOK(map[string]any{"name": "Made on B"})["id"].(string)
	idA := a.createOK(map[string]any{"name": "Made on A"})["id"].(string)
	for _, w := range []struct {
		c  *wsClient
		id string
	}{{wa, "a"}, {wb, "b"}} {
		got := map[string]bool{}
		for range 2 {
			e := w.c.next(w.id)
			got[e.OrganizationID] = true
		}
		if !got[idA] || !got[idB] {
			t.Errorf("replica %s got %v, want the creations made on both", w.id, got)
		}
	}
}

func TestSubscriptionLimits(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{MaxPerKey: 2})
	id := a.createOK(map[string]any{"name": "Limited"})["id"].(string)
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{"org": id, "after": 1})
	// Tenant-wide, of a type this test never records: the create committed just before it may not
	// reach it, ahead of the answers this test reads.
	w.subscribe("2", map[string]any{"types": []string{"organization.deleted"}})
	waitFor(t, "the subscriptions to settle", 20*time.Second, func() bool { return hub.Stats().Active == 2 })
	w.subscribe("3", map[string]any{})
	if e := w.subscriptionError("3"); e.Extensions["code"] != "RATE_LIMITED" {
		t.Errorf("third subscription of a key: %+v, want RATE_LIMITED", e)
	}
	if m := w.read(); m.Type != "complete" || m.ID != "3" {
		t.Fatalf("want complete of 3, got %+v", m)
	}
	// Another key of the tenant has its own budget; ending one frees a place.
	other, _ := a.newKey("other", domain.PermOrganizationRead)
	w2 := connect(t, a.url, other)
	w2.subscribe("x", map[string]any{"org": id, "after": 1})
	waitFor(t, "the subscriptions to settle", 20*time.Second, func() bool { return hub.Stats().Active == 3 })
	w.send(wsMessage{ID: "2", Type: "complete"})
	waitFor(t, "the subscriptions to settle", 20*time.Second, func() bool { return hub.Stats().Active == 2 })
	if m := w.read(); m.Type != "complete" || m.ID != "2" {
		t.Fatalf("want complete of 2, got %+v", m)
	}
	w.subscribe("4", map[string]any{"org": id, "after": 1})
	a.updateOK(id, map[string]any{"name": "Limited 2"})
	if e := w2.next("x"); e.Sequence != 2 {
		t.Errorf("subscription x: %+v", e)
	}
	got := map[string]int{}
	for range 2 {
		m := w.read()
		got[m.ID]++
		if m.Type != "next" {
			t.Fatalf("want an event, got %+v", m)
		}
	}
	if got["1"] != 1 || got["4"] != 1 {
		t.Errorf("events of the subscriptions 1 and 4: %v", got)
	}

	// The document limits apply to subscription documents too.
	var aliases strings.Builder
	for i := range httpapi.DefaultQueryLimits.MaxAliases + 1 {
		fmt.Fprintf(&aliases, " a%d: id", i)
	}
	w.subscribeTo("big", `subscription { organizationEvents {`+aliases.String()+` } }`, nil)
	if e := w.subscriptionError("big"); e.Extensions["code"] != "QUERY_TOO_COMPLEX" {
		t.Errorf("too many aliases: %+v, want QUERY_TOO_COMPLEX", e)
	}
	if hub.Stats().Active != 3 {
		t.Errorf("active subscriptions: %d, want 3", hub.Stats().Active)
	}
}

func TestSubscriptionPermission(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{})
	key, _ := a.newKey("creator", domain.PermOrganizationCreate)
	w := connect(t, a.url, key)
	w.subscribe("1", map[string]any{})
	if e := w.subscriptionError("1"); e.Extensions["code"] != "FORBIDDEN" {
		t.Errorf("without ORGANIZATION_READ: %+v, want FORBIDDEN", e)
	}
	if n := hub.Stats().Active; n != 0 {
		t.Errorf("active subscriptions: %d, want 0", n)
	}
}

func TestSubscriptionOrigin(t *testing.T) {
	t.Parallel()
	a, _ := newRealtimeAPI(t, realtime.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{"Origin": []string{"https://elsewhere.example"}}
	_, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.url, "http"), &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"graphql-transport-ws"}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a socket from another origin: %v %v, want 403", res, err)
	}
	// The refusal is coder/websocket's 403 alone: gqlgen's "unable to upgrade" is not written after it.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	req.Header = http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Protocol": {"graphql-transport-ws"},
		"Origin": {"https://elsewhere.example"}}
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("a handshake from another origin: %v", err)
	} else {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || strings.Contains(string(body), "unable to upgrade") {
			t.Errorf("a handshake from another origin: %d %q, want 403 and the origin's refusal alone", res.StatusCode, body)
		}
	}
	h.Set("Origin", a.url) // same origin
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.url, "http"), &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("same origin: %v", err)
	}
	c.CloseNow()
}

func TestSubscriptionShutdown(t *testing.T) {
	t.Parallel()
	a, hub := newRealtimeAPI(t, realtime.Options{})
	w := connect(t, a.url, a.key)
	w.subscribe("1", map[string]any{})
	idle := connect(t, a.url, a.key) // a socket without a subscription closes too
	settled(t, hub)
	hub.Shutdown()
	for _, c := range []*wsClient{w, idle} {
		if code, reason := c.closeStatus(); code != websocket.StatusGoingAway {
			t.Errorf("closed with %d %q, want 1001", code, reason)
		}
	}
	if n := hub.Stats().Active; n != 0 {
		t.Errorf("active subscriptions after shutdown: %d", n)
	}
}

// TestSubscriptionSlowSubscriber: a subscriber that never reads is disconnected with 4429 once its queue
// is full, and the server does not keep the events it could not send. Not parallel: it measures the heap.
func TestSubscriptionSlowSubscriber(t *testing.T) {
	const queue, events, size = 8, 2000, 10_000 // 20 MB of events, far more than the sockets' buffers
	a, hub := newRealtimeAPI(t, realtime.Options{QueueSize: queue})
	id := a.createOK(map[string]any{"name": "Slow"})["id"].(string)
	// A fixed receive buffer of 64 KiB (no autotuning) on the client's side.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
		return err
	}}
	w := dialWSWith(t, a.url, map[string]any{"Authorization": "Bearer " + a.key},
		&http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}})
	if m := w.read(); m.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %+v", m)
	}
	w.subscribe("1", map[string]any{"org": id, "after": 1})
	settled(t, hub)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := a.store.DB().Exec(`INSERT INTO audit_events (tenant_id, organization_id, sequence, type, payload, created_at)
SELECT $1, $2, 1 + g, 'test.bulk', jsonb_build_object('blob', repeat(md5(g::text), $3 / 32)), now() FROM generate_series(1, $4) g`,
		a.actor.TenantID, id, size, events); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscriptions to settle", 20*time.Second, func() bool { return hub.Stats().SlowDisconnects == 1 && hub.Stats().Active == 0 })
	time.Sleep(time.Second) // the hub reads the rest of the announcements, for no one
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > events*size/3 {
		t.Errorf("the heap grew by %d bytes with a subscriber that does not read", grew)
	}
	code, reason := w.closeStatus()
	if code != 4429 {
		t.Errorf("closed with %d %q, want 4429", code, reason)
	}
}
