package webhook_test

import (
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"orgs/domain"
	"orgs/webhook"
)

func TestBackoffFollowsTheScheduleWithJitter(t *testing.T) {
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	var total time.Duration
	for attempt := 1; attempt <= len(want); attempt++ {
		d := want[attempt-1]
		lo, hi, seen := d, d, map[time.Duration]bool{}
		for range 200 {
			got, ok := webhook.Backoff(webhook.DefaultSchedule, attempt)
			if !ok || got < d*8/10 || got > d*12/10 {
				t.Fatalf("after attempt %d: %s, %v; want %s ± 20%%", attempt, got, ok, d)
			}
			lo, hi, seen[got] = min(lo, got), max(hi, got), true
		}
		if len(seen) < 10 || hi-lo < d/10 {
			t.Errorf("after attempt %d: waits %s..%s, %d distinct: no jitter", attempt, lo, hi, len(seen))
		}
		total += d
	}
	// About a day in all, then given up.
	if total < 20*time.Hour || total > 36*time.Hour {
		t.Errorf("the schedule spans %s", total)
	}
	for _, attempt := range []int{0, len(want) + 1, 100} {
		if d, ok := webhook.Backoff(webhook.DefaultSchedule, attempt); ok {
			t.Errorf("after attempt %d: retry in %s, want given up", attempt, d)
		}
	}
}

func TestSignAsStandardWebhooks(t *testing.T) {
	secret := domain.NewWebhookSecret()
	if !strings.HasPrefix(secret, "whsec_") || secret == domain.NewWebhookSecret() {
		t.Fatalf("secret %q", secret)
	}
	body := []byte(`{"type":"organization.created"}`)
	at := time.Now()
	sig, err := webhook.Sign(secret, "msg_1", at, body)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := lib.Sign("msg_1", at, body)
	if sig != want {
		t.Errorf("signature %q, the library's %q", sig, want)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", sig)
	if err := lib.Verify(body, h); err != nil {
		t.Errorf("verify: %v", err)
	}
	h.Set("webhook-id", "msg_2")
	if lib.Verify(body, h) == nil {
		t.Error("a signature verifies for another webhook-id")
	}
	if _, err := webhook.Sign("whsec_not base64!", "msg_1", at, body); err == nil {
		t.Error("a malformed secret signs")
	}
}

func TestBodyHoldsTheEvent(t *testing.T) {
	key, user := "k1", "u1"
	at := time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC)
	b, err := webhook.Body(domain.Event{TenantID: "t1", ID: "e1", OrganizationID: "o1", Sequence: 4, Type: "organization.updated",
		OccurredAt: at, ActorKeyID: &key, ActorUserID: &user,
		Changes: []domain.FieldChange{{Field: "name", From: "A", To: "B"}}, Data: map[string]any{"x": 1.0}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"organization.updated","timestamp":"2024-05-06T07:08:09.123Z","data":{"id":"e1","organizationId":"o1",` +
		`"sequence":4,"type":"organization.updated","occurredAt":"2024-05-06T07:08:09.123Z",` +
		`"actor":{"apiKeyId":"k1","userId":"u1","tenantId":"t1"},"changes":[{"field":"name","from":"A","to":"B"}],"data":{"x":1}}}`
	if string(b) != want {
		t.Errorf("body\n%s\nwant\n%s", b, want)
	}
	// A system event: no actor, no changes, no data.
	b, _ = webhook.Body(domain.Event{TenantID: "t1", ID: "e2", OrganizationID: "o1", Sequence: 9, Type: "organization.purged", OccurredAt: at})
	if !strings.Contains(string(b), `"actor":{"apiKeyId":null,"userId":null,"tenantId":"t1"},"changes":[],"data":null`) {
		t.Errorf("system event body %s", b)
	}
}

// Every outcome of orgs_webhook_deliveries_total is on /metrics from the start, at 0, so that a
// dashboard's rate of failures exists before the first failure.
func TestMetricsListEveryOutcomeFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	webhook.NewMetrics(reg)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "orgs_webhook_deliveries_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"succeeded": 0, "retry": 0, "failed": 0}
	if !maps.Equal(got, want) {
		t.Fatalf("orgs_webhook_deliveries_total before any delivery = %v, want %v", got, want)
	}
}
