// Package webhook sends the tenants' audit events to their webhook endpoints: a worker, shared by every
// replica, claims the deliveries that the database made in the transactions of the events
// (db.Store.ClaimWebhookDeliveries), posts each one signed as the Standard Webhooks specification says,
// and retries failures with backoff over about a day.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"orgs/domain"
)

// Sign returns the webhook-signature header of a message: "v1," and the base64 of the HMAC-SHA256 of
// "id.timestamp.body" keyed with the bytes of the secret (whsec_<base64>).
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := domain.WebhookSigningKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Payload is the JSON body of a delivery: the event's type, when it occurred, and the event.
type Payload struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      Event  `json:"data"`
}

// Event is an audit event as a delivery carries it, with the names of the API's OrganizationEvent.
type Event struct {
	ID             string               `json:"id"`
	OrganizationID string               `json:"organizationId"`
	Sequence       int64                `json:"sequence"`
	Type           string               `json:"type"`
	OccurredAt     string               `json:"occurredAt"`
	Actor          Actor                `json:"actor"`
	Changes        []domain.FieldChange `json:"changes"`
	Data           map[string]any       `json:"data"`
}

// Actor says who made the change: an API key and its principal, or nobody (the system).
type Actor struct {
	APIKeyID *string `json:"apiKeyId"`
	UserID   *string `json:"userId"`
	TenantID string  `json:"tenantId"`
}

// Body returns the JSON body of a delivery of e.
func Body(e domain.Event) ([]byte, error) {
	occurred := e.OccurredAt.UTC().Format(time.RFC3339Nano)
	changes := e.Changes
	if changes == nil {
		changes = []domain.FieldChange{}
	}
	b, err := json.Marshal(Payload{Type: e.Type, Timestamp: occurred, Data: Event{
		ID: e.ID, OrganizationID: e.OrganizationID, Sequence: e.Sequence, Type: e.Type, OccurredAt: occurred,
		Actor: Actor{APIKeyID: e.ActorKeyID, UserID: e.ActorUserID, TenantID: e.TenantID}, Changes: changes, Data: e.Data,
	}})
	if err != nil {
		return nil, fmt.Errorf("webhook body: %w", err)
	}
	return b, nil
}

// unixSeconds is the webhook-timestamp header of an attempt at t.
func unixSeconds(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
