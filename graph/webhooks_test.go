package graph_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/outbound"
	"orgs/service"
	"orgs/webhook"
)

// The tests that run a webhook worker are not parallel: a worker claims the due deliveries of the
// whole database, so two of them at once would take each other's. Each test deletes its endpoints (and
// so their deliveries) when it ends, so that no later worker finds them.

const webhookEndpointFields = `id url description eventTypes enabled disabledAt createdAt updatedAt`

const webhookDeliveryFields = `id eventId eventType status attempts lastAttemptAt responseStatus nextAttemptAt`

// newWebhookAPI serves the API in a fresh tenant with private addresses allowed for outbound requests
// (OUTBOUND_ALLOW_PRIVATE=true: the test receivers listen on 127.0.0.1).
func newWebhookAPI(t *testing.T) *api {
	t.Helper()
	cfg := testServiceConfig
	cfg.Outbound = outbound.Options{AllowPrivate: true}
	a := newAPIServing(t, store, service.New(store, cfg), freshTenant(t, "hooks"), httpapi.DefaultOptions, graph.DefaultHandlerOptions)
	t.Cleanup(func() {
		if _, err := store.DB().Exec(`DELETE FROM webhook_endpoints WHERE tenant_id = $1`, a.actor.TenantID); err != nil {
			t.Errorf("delete the test's endpoints: %v", err)
		}
	})
	return a
}

// webhookCall runs a webhook mutation with key and returns its payload.
func (a *api) webhookCall(key, name, inputType, selection string, input map[string]any) map[string]any {
	a.t.Helper()
	q := fmt.Sprintf(`mutation($input: %s!) { %s(input: $input) { clientMutationId %s userErrors { field code message } } }`,
		inputType, name, selection)
	r := a.post(key, q, map[string]any{"input": input})
	p, ok := r.Data[name].(map[string]any)
	if r.Status != http.StatusOK || !ok {
		a.t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
	}
	return p
}

func (a *api) createEndpoint(input map[string]any) map[string]any {
	a.t.Helper()
	return a.webhookCall(a.key, "createWebhookEndpoint", "CreateWebhookEndpointInput",
		`secret endpoint { `+webhookEndpointFields+` }`, input)
}

// createEndpointOK registers url for eventTypes (nil: every type) and returns the endpoint's id and
// secret.
func (a *api) createEndpointOK(url string, eventTypes []string) (id, secret string) {
	a.t.Helper()
	input := map[string]any{"url": url}
	if eventTypes != nil {
		input["eventTypes"] = eventTypes
	}
	p := a.createEndpoint(input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("createWebhookEndpoint %v: %+v", input, errs)
	}
	return p["endpoint"].(map[string]any)["id"].(string), p["secret"].(string)
}

func (a *api) updateEndpoint(key string, input map[string]any) map[string]any {
	a.t.Helper()
	return a.webhookCall(key, "updateWebhookEndpoint", "UpdateWebhookEndpointInput", `endpoint { `+webhookEndpointFields+` }`, input)
}

func (a *api) deleteEndpoint(key, id string) map[string]any {
	a.t.Helper()
	return a.webhookCall(key, "deleteWebhookEndpoint", "DeleteWebhookEndpointInput", `deletedWebhookEndpointId`,
		map[string]any{"id": id, "clientMutationId": "d1"})
}

// endpointsPage reads a page of webhookEndpoints with each endpoint's deliveries.
func (a *api) endpointsPage(first int, after any) map[string]any {
	a.t.Helper()
	const q = `query($first: Int, $after: String) { webhookEndpoints(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
  edges { cursor node { ` + webhookEndpointFields + ` } } nodes { id } } }`
	r := a.post(a.key, q, map[string]any{"first": first, "after": after})
	if len(r.Errors) != 0 {
		a.t.Fatalf("webhookEndpoints: %s", r.Raw)
	}
	return r.Data["webhookEndpoints"].(map[string]any)
}

// endpoint returns the endpoint id as webhookEndpoints lists it, with its deliveries (newest first), once
// the deliveries of the events committed so far are made.
func (a *api) endpoint(id string) (endpoint map[string]any, deliveries []map[string]any) {
	a.t.Helper()
	dbtest.WebhooksRelayed(a.t, store)
	const q = `{ webhookEndpoints(first: 100) { nodes { ` + webhookEndpointFields + `
  deliveries(first: 100) { totalCount nodes { ` + webhookDeliveryFields + ` } } } } }`
	r := a.post(a.key, q, nil)
	if len(r.Errors) != 0 {
		a.t.Fatalf("webhookEndpoints: %s", r.Raw)
	}
	for _, n := range r.Data["webhookEndpoints"].(map[string]any)["nodes"].([]any) {
		e := n.(map[string]any)
		if e["id"] != id {
			continue
		}
		conn := e["deliveries"].(map[string]any)
		for _, d := range conn["nodes"].([]any) {
			deliveries = append(deliveries, d.(map[string]any))
		}
		if int(conn["totalCount"].(float64)) != len(deliveries) {
			a.t.Errorf("deliveries totalCount %v, %d nodes", conn["totalCount"], len(deliveries))
		}
		return e, deliveries
	}
	a.t.Fatalf("endpoint %s not listed", id)
	return nil, nil
}

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
}

// receiver is a webhook endpoint of a test: it records every request and answers what respond says for
// the n-th request (1 for the first), after delay.
type receiver struct {
	srv     *httptest.Server
	respond func(n int) int
	delay   time.Duration

	mu  sync.Mutex
	got []received
}

func startReceiver(t *testing.T, respond func(n int) int) *receiver {
	t.Helper()
	r := &receiver{respond: respond}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		time.Sleep(r.delay)
		r.mu.Lock()
		status := r.respond(len(r.got) + 1)
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body, Status: status})
		r.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, strings.Repeat("x", 64<<10)) // more than the worker reads
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// setRespond changes the answers from now on.
func (r *receiver) setRespond(respond func(n int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = respond
}

func always(status int) func(int) int { return func(int) int { return status } }

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testSchedule retries at once, in tests.
var testSchedule = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}

// newWorker is a worker over the package's database that may reach the test receivers, polling often.
func newWorker(allowPrivate bool) *webhook.Worker {
	return &webhook.Worker{Store: store, Client: outbound.NewHTTPClient(outbound.Options{AllowPrivate: allowPrivate, Timeout: 2 * time.Second}),
		PollInterval: 10 * time.Millisecond, Schedule: testSchedule, Lease: 10 * time.Second}
}

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w *webhook.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}

// verifySignature checks the Standard Webhooks headers of a request against secret as the
// specification says: v1, the base64 HMAC-SHA256 of "id.timestamp.body" keyed with the secret's bytes.
func verifySignature(t *testing.T, secret string, r received) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(key) < 24 || len(key) > 64 {
		t.Fatalf("secret %q: %d bytes, %v", secret, len(key), err)
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || id == "" {
		t.Fatalf("webhook-id %q, webhook-timestamp %q", id, ts)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(r.Body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := r.Header.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature %q, want %q", got, want)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// webhookPayload is a delivery's body.
type webhookPayload struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		auditEvent
		OccurredAt string         `json:"occurredAt"`
		Data       map[string]any `json:"data"`
	} `json:"data"`
}

func payloadOf(t *testing.T, r received) webhookPayload {
	t.Helper()
	var p webhookPayload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return p
}

func TestWebhookDeliveriesSignedWithTheEvent(t *testing.T) {
	a := newWebhookAPI(t)
	other := newWebhookAPI(t)
	all, updates := startReceiver(t, always(http.StatusNoContent)), startReceiver(t, always(http.StatusOK))
	_, allSecret := a.createEndpointOK(all.srv.URL+"/hooks?all=1", nil)
	_, updatesSecret := a.createEndpointOK(updates.srv.URL, []string{"organization.updated"})
	// Another tenant's events never reach this tenant's endpoints, whatever they receive.
	otherReceiver := startReceiver(t, always(http.StatusOK))
	other.createEndpointOK(otherReceiver.srv.URL, nil)

	runWorker(t, newWorker(true))
	org := a.createOK(map[string]any{"name": "Hooked"})
	a.mutate("updateOrganization", "UpdateOrganizationInput", "organization { id }",
		map[string]any{"id": org["id"], "name": "Hooked Again"})
	events, _, _ := a.auditLog(org["id"].(string), 100, nil)
	if len(events) < 2 {
		t.Fatalf("events %+v", events)
	}
	waitFor(t, "the deliveries", 10*time.Second, func() bool {
		return len(all.requests()) == len(events) && len(updates.requests()) == 1
	})

	// Every event (in any order: deliveries are sent in parallel), each signed, its body the event as
	// the API shows it.
	lib, err := standardwebhooks.NewWebhook(allSecret)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]auditEvent{}
	for _, ev := range events {
		byID[ev.ID] = ev
	}
	webhookIDs := map[string]bool{}
	for i, r := range all.requests() {
		verifySignature(t, allSecret, r)
		if err := lib.Verify(r.Body, r.Header); err != nil {
			t.Errorf("the Standard Webhooks library refuses delivery %d: %v", i, err)
		}
		webhookIDs[r.Header.Get("webhook-id")] = true
		p := payloadOf(t, r)
		ev, ok := byID[p.Data.ID]
		delete(byID, p.Data.ID)
		if !ok || p.Type != ev.Type || p.Data.OrganizationID != org["id"] || p.Data.Sequence != ev.Sequence ||
			p.Data.Type != ev.Type || p.Data.Actor.TenantID != a.actor.TenantID || p.Data.Actor.APIKeyID != a.actor.KeyID ||
			p.Data.Actor.UserID != a.actor.UserID || !equalJSON(p.Data.Changes, ev.Changes) {
			t.Errorf("delivery %d: %s\nwant event %+v", i, r.Body, ev)
		}
		if _, err := time.Parse(time.RFC3339, p.Timestamp); err != nil || p.Timestamp != p.Data.OccurredAt {
			t.Errorf("timestamp %q, occurredAt %q", p.Timestamp, p.Data.OccurredAt)
		}
	}
	if len(byID) != 0 || len(webhookIDs) != len(events) {
		t.Errorf("events not delivered: %v; %d webhook-ids for %d events", byID, len(webhookIDs), len(events))
	}
	// The update endpoint got the update alone.
	r := updates.requests()[0]
	verifySignature(t, updatesSecret, r)
	if p := payloadOf(t, r); p.Type != "organization.updated" || !strings.Contains(string(r.Body), `"Hooked Again"`) {
		t.Errorf("update delivery %s", r.Body)
	}
	if webhookIDs[r.Header.Get("webhook-id")] {
		t.Error("two endpoints' deliveries share a webhook-id")
	}
	// The secret of one endpoint does not sign another's deliveries.
	if otherLib, _ := standardwebhooks.NewWebhook(updatesSecret); otherLib.Verify(all.requests()[0].Body, all.requests()[0].Header) == nil {
		t.Error("a delivery verifies with another endpoint's secret")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(otherReceiver.requests()); n != 0 {
		t.Errorf("another tenant's endpoint received %d deliveries", n)
	}
	if n := len(all.requests()); n != len(events) {
		t.Errorf("%d deliveries for %d events", n, len(events))
	}
}

func TestWebhookRetriesKeepTheWebhookID(t *testing.T) {
	a := newWebhookAPI(t)
	rcv := startReceiver(t, func(n int) int {
		if n <= 2 {
			return []int{http.StatusInternalServerError, http.StatusServiceUnavailable}[n-1]
		}
		return http.StatusOK
	})
	id, secret := a.createEndpointOK(rcv.srv.URL, []string{"organization.created"})
	runWorker(t, newWorker(true))
	org := a.createOK(map[string]any{"name": "Flaky Receiver"})
	waitFor(t, "three attempts", 10*time.Second, func() bool { return len(rcv.requests()) >= 3 })
	time.Sleep(100 * time.Millisecond) // nothing more comes

	got := rcv.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	succeeded := 0
	for _, r := range got {
		verifySignature(t, secret, r)
		if r.Header.Get("webhook-id") != got[0].Header.Get("webhook-id") {
			t.Errorf("webhook-id %q, then %q", got[0].Header.Get("webhook-id"), r.Header.Get("webhook-id"))
		}
		if string(r.Body) != string(got[0].Body) {
			t.Errorf("the body changed between attempts: %s, then %s", got[0].Body, r.Body)
		}
		if r.Status == http.StatusOK {
			succeeded++
		}
	}
	if succeeded != 1 {
		t.Errorf("%d successful deliveries", succeeded)
	}
	_, ds := a.endpoint(id)
	if len(ds) != 1 {
		t.Fatalf("deliveries %v", ds)
	}
	d := ds[0]
	if d["id"] != got[0].Header.Get("webhook-id") || d["status"] != "SUCCEEDED" || d["attempts"] != 3.0 ||
		d["responseStatus"] != 200.0 || d["nextAttemptAt"] != nil || d["lastAttemptAt"] == nil ||
		d["eventType"] != "organization.created" {
		t.Errorf("delivery %v", d)
	}
	if events, _, _ := a.auditLog(org["id"].(string), 10, []string{"organization.created"}); len(events) != 1 || d["eventId"] != events[0].ID {
		t.Errorf("eventId %v, events %+v", d["eventId"], events)
	}
}

func TestWebhookGivesUpAfterTheLastRetry(t *testing.T) {
	a := newWebhookAPI(t)
	rcv := startReceiver(t, always(http.StatusBadGateway))
	id, _ := a.createEndpointOK(rcv.srv.URL, []string{"organization.created"})
	runWorker(t, newWorker(true))
	a.createOK(map[string]any{"name": "Never Received"})
	// One attempt and a retry for each wait of the schedule.
	waitFor(t, "the delivery given up", 10*time.Second, func() bool {
		_, ds := a.endpoint(id)
		return len(ds) == 1 && ds[0]["status"] == "FAILED"
	})
	e, ds := a.endpoint(id)
	if n := len(rcv.requests()); n != len(testSchedule)+1 || ds[0]["attempts"] != float64(n) || ds[0]["responseStatus"] != 502.0 ||
		ds[0]["nextAttemptAt"] != nil {
		t.Errorf("%d requests, delivery %v", n, ds[0])
	}
	if e["enabled"] != true {
		t.Errorf("the endpoint was disabled after one delivery: %v", e)
	}
}

func TestWebhookNoDeliveryOfARolledBackChange(t *testing.T) {
	a := newWebhookAPI(t)
	rcv := startReceiver(t, always(http.StatusOK))
	id, _ := a.createEndpointOK(rcv.srv.URL, nil)
	org := a.createOK(map[string]any{"name": "Rolled Back"})
	// validateOnly records the events of the change, then rolls the transaction back.
	p := a.mutate("updateOrganization", "UpdateOrganizationInput", "organization { id }",
		map[string]any{"id": org["id"], "name": "Never Saved", "validateOnly": true})
	if p["organization"] != nil {
		t.Fatalf("validateOnly answered %v", p)
	}
	a.mutate("createOrganization", "CreateOrganizationInput", "organization { id }",
		map[string]any{"name": "Never Created", "validateOnly": true})
	events, _, _ := a.auditLog(org["id"].(string), 100, nil)
	_, ds := a.endpoint(id)
	if len(ds) != len(events) {
		t.Fatalf("%d deliveries for %d committed events: %v", len(ds), len(events), ds)
	}
	for _, d := range ds {
		if d["eventType"] == "organization.updated" {
			t.Errorf("a delivery of the rolled-back update: %v", d)
		}
	}
	runWorker(t, newWorker(true))
	waitFor(t, "the deliveries", 10*time.Second, func() bool { return len(rcv.requests()) == len(events) })
	time.Sleep(100 * time.Millisecond)
	for _, r := range rcv.requests() {
		if body := string(r.Body); strings.Contains(body, "Never Saved") || strings.Contains(body, "Never Created") {
			t.Errorf("a rolled-back change was delivered: %s", body)
		}
	}
}

func TestWebhookWorkersNeverShareADelivery(t *testing.T) {
	a := newWebhookAPI(t)
	rcv := startReceiver(t, always(http.StatusOK))
	rcv.delay = 20 * time.Millisecond
	id, _ := a.createEndpointOK(rcv.srv.URL, []string{"organization.created"})
	const n = 30
	for i := range n {
		a.createOK(map[string]any{"name": fmt.Sprintf("Shared %d", i)})
	}
	// Two replicas' workers, each naming itself in a header, start on the same due deliveries.
	var byWorker [2]atomic.Int64
	for i := range 2 {
		w := newWorker(true)
		w.Batch = 3
		base := w.Client.Transport
		w.Client.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
			byWorker[i].Add(1)
			return base.RoundTrip(req)
		})
		runWorker(t, w)
	}
	waitFor(t, "every delivery", 20*time.Second, func() bool { return len(rcv.requests()) >= n })
	time.Sleep(200 * time.Millisecond)
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.Header.Get("webhook-id")]++
	}
	for wid, c := range seen {
		if c != 1 {
			t.Errorf("delivery %s sent %d times", wid, c)
		}
	}
	_, ds := a.endpoint(id)
	if len(seen) != n || len(ds) != n {
		t.Errorf("%d deliveries received, %d listed, want %d", len(seen), len(ds), n)
	}
	for _, d := range ds {
		if d["attempts"] != 1.0 || d["status"] != "SUCCEEDED" {
			t.Errorf("delivery %v", d)
		}
	}
	t.Logf("requests by worker: %d, %d", byWorker[0].Load(), byWorker[1].Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWebhookEndpointDisabledAfterFailingForDays(t *testing.T) {
	a := newWebhookAPI(t)
	rcv := startReceiver(t, always(http.StatusInternalServerError))
	id, _ := a.createEndpointOK(rcv.srv.URL, []string{"organization.created", "organization.updated"})
	// A clock the test moves: retries an hour apart, the endpoint disabled after three days of failures.
	var offset atomic.Int64
	w := newWorker(true)
	w.Schedule = []time.Duration{time.Hour, time.Hour, time.Hour}
	w.DisableAfter = 72 * time.Hour
	w.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	runWorker(t, w)

	org := a.createOK(map[string]any{"name": "Down For Days"})
	// The first attempt received AND recorded (else its retry would be scheduled from the moved clock).
	waitFor(t, "the first attempt", 10*time.Second, func() bool {
		_, ds := a.endpoint(id)
		return len(rcv.requests()) == 1 && len(ds) == 1 && ds[0]["attempts"] == 1.0
	})
	offset.Store(int64(2 * time.Hour)) // the first retry, two hours later: still failing, still enabled
	waitFor(t, "the retry", 10*time.Second, func() bool {
		_, ds := a.endpoint(id)
		return len(rcv.requests()) == 2 && len(ds) == 1 && ds[0]["attempts"] == 2.0
	})
	if e, ds := a.endpoint(id); e["enabled"] != true || ds[0]["status"] != "PENDING" || ds[0]["attempts"] != 2.0 || ds[0]["nextAttemptAt"] == nil {
		t.Fatalf("after two failures: %v %v", e, ds)
	}

	offset.Store(int64(73 * time.Hour)) // the next retry, three days after the first failure
	waitFor(t, "the endpoint disabled", 10*time.Second, func() bool {
		e, _ := a.endpoint(id)
		return e["enabled"] == false
	})
	e, ds := a.endpoint(id)
	if e["disabledAt"] == nil || len(ds) != 1 || len(rcv.requests()) != 3 {
		t.Fatalf("disabled endpoint %v, deliveries %v, %d requests", e, ds, len(rcv.requests()))
	}
	for _, d := range ds {
		if d["status"] != "FAILED" || d["nextAttemptAt"] != nil {
			t.Errorf("a delivery of the disabled endpoint: %v", d)
		}
	}
	// A disabled endpoint receives nothing more: its events make no delivery.
	sent := len(rcv.requests())
	a.mutate("updateOrganization", "UpdateOrganizationInput", "organization { id }",
		map[string]any{"id": org["id"], "name": "Unheard"})
	time.Sleep(100 * time.Millisecond)
	if _, ds := a.endpoint(id); len(ds) != 1 || len(rcv.requests()) != sent {
		t.Errorf("after disabling: %d deliveries, %d requests (were %d)", len(ds), len(rcv.requests()), sent)
	}

	// Turned on again, it receives the events that follow.
	p := a.updateEndpoint(a.key, map[string]any{"id": id, "enabled": true})
	if errs := userErrors(p); len(errs) != 0 || p["endpoint"].(map[string]any)["enabled"] != true || p["endpoint"].(map[string]any)["disabledAt"] != nil {
		t.Fatalf("re-enable: %v", p)
	}
	rcv.setRespond(always(http.StatusOK))
	a.mutate("updateOrganization", "UpdateOrganizationInput", "organization { id }",
		map[string]any{"id": org["id"], "name": "Back Up"})
	waitFor(t, "the delivery after re-enabling", 10*time.Second, func() bool {
		_, ds := a.endpoint(id)
		return len(ds) == 2 && ds[0]["status"] == "SUCCEEDED"
	})
}

func TestWebhookRefusesPrivateAddressesAtDelivery(t *testing.T) {
	a := newWebhookAPI(t) // the API lets the endpoint be registered ...
	rcv := startReceiver(t, always(http.StatusOK))
	id, _ := a.createEndpointOK(rcv.srv.URL, []string{"organization.created"})
	runWorker(t, newWorker(false)) // ... but the worker's requests may not reach private addresses
	a.createOK(map[string]any{"name": "Private Receiver"})
	waitFor(t, "the delivery given up", 10*time.Second, func() bool {
		_, ds := a.endpoint(id)
		return len(ds) == 1 && ds[0]["status"] == "FAILED"
	})
	_, ds := a.endpoint(id)
	if n := len(rcv.requests()); n != 0 || ds[0]["responseStatus"] != nil || ds[0]["status"] == "SUCCEEDED" {
		t.Errorf("%d requests reached the private receiver; delivery %v", n, ds[0])
	}
	var lastError string
	store.DB().Get(&lastError, `SELECT coalesce(last_error, '') FROM webhook_deliveries WHERE tenant_id = $1`, a.actor.TenantID)
	if !strings.Contains(lastError, "loopback") {
		t.Errorf("last_error %q", lastError)
	}
}

func TestCreateWebhookEndpoint(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t)
	p := a.createEndpoint(map[string]any{"clientMutationId": "c1", "url": " https://hooks.example.com/orgs ",
		"eventTypes": []string{"organization.updated", "member.joined", "organization.updated"}, "description": "  CRM sync  "})
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "c1" {
		t.Fatalf("payload %v", p)
	}
	e, secret := p["endpoint"].(map[string]any), p["secret"].(string)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) < 24 || len(key) > 32 {
		t.Errorf("secret %q", secret)
	}
	if e["url"] != "https://hooks.example.com/orgs" || e["description"] != "CRM sync" || e["enabled"] != true || e["disabledAt"] != nil ||
		!equalJSON(e["eventTypes"], []string{"organization.updated", "member.joined"}) || e["createdAt"] == nil || e["createdAt"] != e["updatedAt"] {
		t.Errorf("endpoint %v", e)
	}
	// Every type by default; the secret is another one each time and never listed.
	_, secret2 := a.createEndpointOK("http://hooks.example.com", nil)
	if secret2 == secret {
		t.Error("two endpoints share a secret")
	}
	r := a.post(a.key, `{ webhookEndpoints { nodes { url eventTypes } } }`, nil)
	if strings.Contains(r.Raw, secret) || strings.Contains(r.Raw, secret2) || !strings.Contains(r.Raw, `"eventTypes":[]`) {
		t.Errorf("webhookEndpoints: %s", r.Raw)
	}
	var stored int
	store.DB().Get(&stored, `SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1 AND secret = $2`, a.actor.TenantID, secret)
	if stored != 1 {
		t.Error("the secret is not stored as given: the worker could not sign")
	}
	evs := slices.DeleteFunc(a.tenantEvents(), func(e tenantEvent) bool { return strings.HasPrefix(e.Type, "apikey.") })
	if len(evs) != 2 || evs[0].Type != "webhook_endpoint.created" || evs[0].Data["url"] != e["url"] {
		t.Errorf("tenant events %+v", evs)
	} else if b, _ := json.Marshal(evs); strings.Contains(string(b), secret) {
		t.Errorf("the tenant's log keeps the secret: %s", b)
	}
}

func TestWebhookEndpointValidation(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t)
	strict := newAPIFor(t, store, freshTenant(t, "strict")) // OUTBOUND_ALLOW_PRIVATE unset
	long := "https://example.com/" + strings.Repeat("a", domain.URLMaxLen)
	for _, c := range []struct {
		on    *api
		input map[string]any
		want  string
	}{
		{a, map[string]any{"url": "ftp://example.com/x", "eventTypes": []string{"organization.created", "organization.exploded", "nope"},
			"description": strings.Repeat("d", 501)},
			"input.url INVALID_FORMAT, input.eventTypes.1 INVALID_VALUE, input.eventTypes.2 INVALID_VALUE, input.description TOO_LONG"},
		{a, map[string]any{"url": "/relative"}, "input.url INVALID_FORMAT"},
		{a, map[string]any{"url": "not a url"}, "input.url INVALID_FORMAT"},
		{a, map[string]any{"url": long}, "input.url TOO_LONG"},
		{a, map[string]any{"url": "https://user:pw@example.com/"}, "input.url INVALID_FORMAT"},
		{strict, map[string]any{"url": "http://127.0.0.1:8080/hook"}, "input.url INVALID_VALUE"},
		{strict, map[string]any{"url": "http://10.1.2.3/hook"}, "input.url INVALID_VALUE"},
		{strict, map[string]any{"url": "http://[::1]/hook"}, "input.url INVALID_VALUE"},
		{strict, map[string]any{"url": "http://169.254.169.254/latest"}, "input.url INVALID_VALUE"},
		{strict, map[string]any{"url": "http://localhost:9000/"}, "input.url INVALID_VALUE"},
		{strict, map[string]any{"url": "http://192.168.0.1/"}, "input.url INVALID_VALUE"},
	} {
		p := c.on.createEndpoint(c.input)
		var got []string
		for _, e := range userErrors(p) {
			got = append(got, e.Field+" "+e.Code)
		}
		if strings.Join(got, ", ") != c.want || p["endpoint"] != nil || p["secret"] != nil {
			t.Errorf("%v: %v, want %s (payload %v)", c.input, got, c.want, p)
		}
	}
	// Allowed where private addresses are: the test receivers.
	if _, secret := a.createEndpointOK("http://127.0.0.1:9/hook", nil); secret == "" {
		t.Error("no secret")
	}
	if _, secret := strict.createEndpointOK("https://93.184.215.14/hook", nil); secret == "" {
		t.Error("no secret")
	}
	var n int
	store.DB().Get(&n, `SELECT count(*) FROM webhook_endpoints WHERE tenant_id IN ($1, $2)`, a.actor.TenantID, strict.actor.TenantID)
	if n != 2 {
		t.Errorf("%d endpoints stored, want the 2 valid ones", n)
	}
}

func TestUpdateAndDeleteWebhookEndpoint(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t)
	other := newWebhookAPI(t)
	id, _ := a.createEndpointOK("https://hooks.example.com/a", []string{"organization.created"})
	otherID, _ := other.createEndpointOK("https://hooks.example.com/other", nil)

	p := a.updateEndpoint(a.key, map[string]any{"id": id, "clientMutationId": "u1", "url": "https://hooks.example.com/b",
		"eventTypes": nil, "description": "new"})
	e, _ := p["endpoint"].(map[string]any)
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "u1" || e["url"] != "https://hooks.example.com/b" ||
		!equalJSON(e["eventTypes"], []string{}) || e["description"] != "new" || e["enabled"] != true {
		t.Fatalf("update: %v", p)
	}
	// Left out: unchanged; null description: none.
	p = a.updateEndpoint(a.key, map[string]any{"id": id, "description": nil, "eventTypes": []string{"project.created"}})
	if e := p["endpoint"].(map[string]any); e["url"] != "https://hooks.example.com/b" || e["description"] != nil ||
		!equalJSON(e["eventTypes"], []string{"project.created"}) {
		t.Errorf("update: %v", p)
	}
	// Turned off by hand, its pending deliveries are given up.
	a.createOK(map[string]any{"name": "Pending Hook"})
	a.mutate("createProject", "CreateProjectInput", "project { id }", map[string]any{
		"organizationId": a.createOK(map[string]any{"name": "Projects Hook"})["id"], "name": "P"})
	if _, ds := a.endpoint(id); len(ds) != 1 || ds[0]["status"] != "PENDING" || ds[0]["eventType"] != "project.created" {
		t.Fatalf("deliveries before turning off: %v", ds)
	}
	p = a.updateEndpoint(a.key, map[string]any{"id": id, "enabled": false})
	if e := p["endpoint"].(map[string]any); e["enabled"] != false || e["disabledAt"] == nil {
		t.Errorf("turned off: %v", p)
	}
	if _, ds := a.endpoint(id); len(ds) != 1 || ds[0]["status"] != "FAILED" || ds[0]["nextAttemptAt"] != nil {
		t.Errorf("deliveries after turning off: %v", ds)
	}

	for _, c := range []struct {
		input map[string]any
		want  string
	}{
		{map[string]any{"id": otherID, "url": "https://x.example.com"}, "input.id NOT_FOUND"},
		{map[string]any{"id": "not-a-uuid"}, "input.id NOT_FOUND"},
		{map[string]any{"id": "00000000-0000-0000-0000-000000000000", "enabled": true}, "input.id NOT_FOUND"},
		{map[string]any{"id": id, "url": nil, "enabled": nil, "eventTypes": []string{"bogus"}, "description": strings.Repeat("é", 501)},
			"input.url REQUIRED, input.eventTypes.0 INVALID_VALUE, input.description TOO_LONG, input.enabled REQUIRED"},
		{map[string]any{"id": id, "url": "mailto:a@example.com"}, "input.url INVALID_FORMAT"},
	} {
		p := a.updateEndpoint(a.key, c.input)
		var got []string
		for _, e := range userErrors(p) {
			got = append(got, e.Field+" "+e.Code)
		}
		if strings.Join(got, ", ") != c.want || p["endpoint"] != nil {
			t.Errorf("%v: %v, want %s", c.input, got, c.want)
		}
	}
	if e, _ := other.endpoint(otherID); e["url"] != "https://hooks.example.com/other" {
		t.Errorf("another tenant's endpoint changed: %v", e)
	}

	// Delete: another tenant's is NOT_FOUND; one's own goes with its deliveries.
	if p := a.deleteEndpoint(a.key, otherID); fmt.Sprint(userErrors(p)) == "[]" || userErrors(p)[0].Code != "NOT_FOUND" ||
		userErrors(p)[0].Field != "input.id" || p["deletedWebhookEndpointId"] != nil {
		t.Errorf("delete another tenant's: %v", p)
	}
	p = a.deleteEndpoint(a.key, id)
	if errs := userErrors(p); len(errs) != 0 || p["deletedWebhookEndpointId"] != id || p["clientMutationId"] != "d1" {
		t.Errorf("delete: %v", p)
	}
	var n int
	store.DB().Get(&n, `SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1`, a.actor.TenantID)
	if page := a.endpointsPage(10, nil); page["totalCount"] != 0.0 || n != 0 {
		t.Errorf("after delete: %v, %d deliveries", page, n)
	}
	if p := a.deleteEndpoint(a.key, id); len(userErrors(p)) != 1 || userErrors(p)[0].Code != "NOT_FOUND" {
		t.Errorf("delete twice: %v", p)
	}
	var types []string
	for _, ev := range a.tenantEvents() {
		if !strings.HasPrefix(ev.Type, "apikey.") {
			types = append(types, ev.Type)
		}
	}
	if want := "webhook_endpoint.created webhook_endpoint.updated webhook_endpoint.updated webhook_endpoint.updated webhook_endpoint.deleted"; strings.Join(types, " ") != want {
		t.Errorf("tenant events %v", types)
	}
}

func TestWebhookEndpointsPages(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t)
	var ids []string
	for i := range 5 {
		id, _ := a.createEndpointOK(fmt.Sprintf("https://hooks.example.com/%d", i), nil)
		ids = append(ids, id)
	}
	slices.Reverse(ids) // newest first
	var got []string
	var after any
	for page := 0; page < 5; page++ {
		p := a.endpointsPage(2, after)
		if p["totalCount"] != 5.0 {
			t.Errorf("totalCount %v", p["totalCount"])
		}
		for _, e := range p["edges"].([]any) {
			got = append(got, e.(map[string]any)["node"].(map[string]any)["id"].(string))
		}
		info := p["pageInfo"].(map[string]any)
		if info["hasNextPage"] != true {
			break
		}
		after = info["endCursor"]
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages %v, want %v", got, ids)
	}
	if r := a.post(a.key, `{ webhookEndpoints(first: 101) { totalCount } }`, nil); len(r.Errors) == 0 {
		t.Errorf("first: 101 answered %s", r.Raw)
	}
}

func TestWebhookEndpointsNeedWebhookManage(t *testing.T) {
	t.Parallel()
	a := newWebhookAPI(t)
	id, _ := a.createEndpointOK("https://hooks.example.com/", nil)
	var all []domain.Permission
	for _, p := range domain.AllPermissions {
		if p != domain.PermWebhookManage {
			all = append(all, p)
		}
	}
	key, _ := a.newKey("no webhooks", all...)
	for _, c := range []struct {
		query string
		vars  map[string]any
	}{
		{`mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret } }`,
			map[string]any{"input": map[string]any{"url": "https://hooks.example.com/forbidden"}}},
		{`mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) { endpoint { id } } }`,
			map[string]any{"input": map[string]any{"id": id, "enabled": false}}},
		{`mutation($input: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $input) { deletedWebhookEndpointId } }`,
			map[string]any{"input": map[string]any{"id": id}}},
		{`{ webhookEndpoints { totalCount } }`, nil},
	} {
		r := a.post(key, c.query, c.vars)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("%s: %s", c.query, r.Raw)
		}
	}
	if p := a.endpointsPage(10, nil); p["totalCount"] != 1.0 || p["nodes"].([]any)[0].(map[string]any)["id"] != id {
		t.Errorf("written without WEBHOOK_MANAGE: %v", p)
	}
	if e, _ := a.endpoint(id); e["enabled"] != true {
		t.Errorf("changed without WEBHOOK_MANAGE: %v", e)
	}
}
