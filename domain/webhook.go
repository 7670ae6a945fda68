package domain

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// WebhookEndpoint is a URL of a tenant that receives the tenant's audit events, signed with its secret
// as the Standard Webhooks specification says. The secret is never part of it: it is shown once, when
// the endpoint is created.
type WebhookEndpoint struct {
	TenantID    string
	ID          string
	URL         string
	Description *string
	// EventTypes are the event types it receives; empty: every type.
	EventTypes []string
	// Enabled is false once the endpoint failed for too long, or was turned off; no delivery is made to
	// a disabled endpoint.
	Enabled    bool
	DisabledAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Receives tells whether the endpoint takes events of type typ.
func (e *WebhookEndpoint) Receives(typ string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, typ)
}

// WebhookDeliveryStatus is where a delivery stands.
type WebhookDeliveryStatus string

const (
	DeliveryPending   WebhookDeliveryStatus = "PENDING"
	DeliverySucceeded WebhookDeliveryStatus = "SUCCEEDED"
	// DeliveryFailed is a delivery given up: after its last attempt, or when its endpoint was disabled.
	DeliveryFailed WebhookDeliveryStatus = "FAILED"
)

// WebhookDelivery is one event sent to one endpoint, with the outcome of its last attempt. Its ID is the
// webhook-id of every attempt.
type WebhookDelivery struct {
	TenantID   string
	ID         string
	EndpointID string
	EventID    string
	EventType  string
	Status     WebhookDeliveryStatus
	// Attempts counts the attempts made (the one in progress included).
	Attempts      int
	LastAttemptAt *time.Time
	// ResponseStatus is the HTTP status of the last attempt; nil when it got none.
	ResponseStatus *int
	LastError      *string
	// NextAttemptAt is when a pending delivery is due (again); nil once settled.
	NextAttemptAt *time.Time
	CreatedAt     time.Time
}

// Event types of the tenant's log for webhook endpoints.
const (
	EventWebhookEndpointCreated = "webhook_endpoint.created"
	EventWebhookEndpointUpdated = "webhook_endpoint.updated"
	EventWebhookEndpointDeleted = "webhook_endpoint.deleted"
)

// WebhookEventTypes are the event types an endpoint may ask for: those of the organizations' audit log.
var WebhookEventTypes = []string{
	EventOrganizationCreated, EventOrganizationUpdated, EventOrganizationDeactivated,
	EventOrganizationReactivated, EventOrganizationDeleted, EventOrganizationRestored,
	EventOrganizationAttributes, EventOrganizationDefaultRevoked, EventOrganizationPurged,
	EventProjectCreated, EventProjectUpdated, EventProjectDeleted,
	EventMemberInvited, EventMemberJoined, EventMemberRoleChanged, EventMemberRemoved,
	EventInvitationRevoked, EventInvitationResent,
	EventDomainAdded, EventDomainVerified, EventDomainVerificationFailed, EventDomainPrimaryChanged,
	EventDomainRemoved,
}

// WebhookDescriptionMaxLen bounds an endpoint's description, in characters.
const WebhookDescriptionMaxLen = 500

// WebhookSecretPrefix starts every signing secret, as the Standard Webhooks libraries expect it.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a new signing secret: whsec_ and the base64 of 32 random bytes.
func NewWebhookSecret() string {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(fmt.Errorf("random webhook secret: %w", err)) // crypto/rand does not fail on supported systems
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(raw)
}

// WebhookSigningKey returns the HMAC key of a secret: the bytes its base64 after whsec_ encodes.
func WebhookSigningKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, WebhookSecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	return key, nil
}

// WebhookEndpointInput is an endpoint as a caller describes it.
type WebhookEndpointInput struct {
	URL         string
	EventTypes  []string
	Description *string
}

// RefuseAddress says why a webhook URL may not name the literal address ip ("loopback", "private", ...),
// or "" when it may. Nil allows every address.
type RefuseAddress func(ip netip.Addr) string

// NewWebhookEndpointFrom checks an endpoint to create and returns it normalised (URL and description
// trimmed, a blank description none, event types without repeats). refuse, unless nil, checks a URL
// whose host is an IP address (and refuses localhost). Paths are relative to the input.
func NewWebhookEndpointFrom(in WebhookEndpointInput, refuse RefuseAddress) (WebhookEndpointInput, error) {
	var v Violations
	out := WebhookEndpointInput{URL: strings.TrimSpace(in.URL)}
	validateWebhookURL(&v, Path{"url"}, out.URL, refuse)
	out.EventTypes = checkEventTypes(&v, Path{"eventTypes"}, in.EventTypes)
	out.Description = checkWebhookDescription(&v, Path{"description"}, in.Description)
	if err := v.Err(); err != nil {
		return WebhookEndpointInput{}, err
	}
	return out, nil
}

// WebhookEndpointPatch is a change of an endpoint: nil fields are left as they are.
type WebhookEndpointPatch struct {
	URL *string
	// EventTypes, when set, replaces the list (*EventTypes empty: every type).
	EventTypes *[]string
	// Description, when set, replaces it (**Description nil: none).
	Description **string
	Enabled     *bool
}

// WebhookEndpointPatchInput is what the caller sent: each field left out (!Set), null or a value.
type WebhookEndpointPatchInput struct {
	URL         Patch[*string]
	EventTypes  Patch[[]string]
	Description Patch[*string]
	Enabled     Patch[*bool]
}

// NewWebhookEndpointPatch checks a change of an endpoint and returns it normalised: a null URL or
// enabled is REQUIRED (they always have a value); null event types are every type, a null description
// none. Paths are relative to the input.
func NewWebhookEndpointPatch(in WebhookEndpointPatchInput, refuse RefuseAddress) (WebhookEndpointPatch, error) {
	var v Violations
	var p WebhookEndpointPatch
	if in.URL.Set {
		if in.URL.Value == nil {
			v.Add(Path{"url"}, VRequired, "url can't be null")
		} else {
			u := strings.TrimSpace(*in.URL.Value)
			validateWebhookURL(&v, Path{"url"}, u, refuse)
			p.URL = &u
		}
	}
	if in.EventTypes.Set {
		types := checkEventTypes(&v, Path{"eventTypes"}, in.EventTypes.Value)
		p.EventTypes = &types
	}
	if in.Description.Set {
		d := checkWebhookDescription(&v, Path{"description"}, in.Description.Value)
		p.Description = &d
	}
	if in.Enabled.Set {
		if in.Enabled.Value == nil {
			v.Add(Path{"enabled"}, VRequired, "enabled can't be null: give true or false")
		} else {
			p.Enabled = in.Enabled.Value
		}
	}
	if err := v.Err(); err != nil {
		return WebhookEndpointPatch{}, err
	}
	return p, nil
}

// validateWebhookURL checks an endpoint's URL: absolute http(s), at most URLMaxLen characters, and,
// unless refuse is nil, neither localhost nor a literal address that refuse refuses. Host names are
// checked when a delivery is made, as they resolve then.
func validateWebhookURL(v *Violations, path Path, raw string, refuse RefuseAddress) {
	var before Violations
	validateHTTPURL(&before, path, raw)
	if len(before) > 0 {
		*v = append(*v, before...)
		return
	}
	u, _ := url.Parse(raw)
	if u.User != nil {
		v.Add(path, VInvalidFmt, "the URL must not carry credentials")
		return
	}
	if refuse == nil {
		return
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		v.Add(path, VInvalidValue, "the URL names this host (%s): webhooks go to public addresses only", host)
		return
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if kind := refuse(ip); kind != "" {
			v.Add(path, VInvalidValue, "%s is a %s address: webhooks go to public addresses only", ip, kind)
		}
	}
}

// checkEventTypes returns types without repeats, each one reported at its index unless it is a known
// type.
func checkEventTypes(v *Violations, path Path, types []string) []string {
	out := []string{}
	for i, t := range types {
		if !slices.Contains(WebhookEventTypes, t) {
			v.Add(path.Index(i), VInvalidValue, "unknown event type %q (known: %s)", t, strings.Join(WebhookEventTypes, ", "))
			continue
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func checkWebhookDescription(v *Violations, path Path, d *string) *string {
	if d == nil {
		return nil
	}
	s := strings.TrimSpace(*d)
	if s == "" {
		return nil
	}
	if n := utf8.RuneCountInString(s); n > WebhookDescriptionMaxLen {
		v.Add(path, VTooLong, "description is too long (%d characters, at most %d)", n, WebhookDescriptionMaxLen)
	}
	return &s
}
