package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
)

// Permission is a right an API key carries. The names are fixed by the API contract.
type Permission string

const (
	PermOrganizationCreate Permission = "ORGANIZATION_CREATE"
	PermOrganizationRead   Permission = "ORGANIZATION_READ"
	PermOrganizationUpdate Permission = "ORGANIZATION_UPDATE"
	PermOrganizationDelete Permission = "ORGANIZATION_DELETE"
	PermTemplateManage     Permission = "TEMPLATE_MANAGE"
	PermAPIKeyManage       Permission = "APIKEY_MANAGE"
	PermWebhookManage      Permission = "WEBHOOK_MANAGE"
)

// AllPermissions lists every permission, in the contract's order.
var AllPermissions = []Permission{
	PermOrganizationCreate, PermOrganizationRead, PermOrganizationUpdate,
	PermOrganizationDelete, PermTemplateManage, PermAPIKeyManage, PermWebhookManage,
}

// ParsePermission returns the permission named s (case-insensitive).
func ParsePermission(s string) (Permission, bool) {
	p := Permission(strings.ToUpper(strings.TrimSpace(s)))
	return p, slices.Contains(AllPermissions, p)
}

// Actor is who is calling: an API key of a tenant, acting for its principal user.
type Actor struct {
	KeyID       string
	KeyName     string
	TenantID    string
	TenantName  string
	UserID      string
	Email       string
	Name        string
	Permissions []Permission
	// ActingOrganizationID is the organization the caller acts for (X-Organization-ID), if any: the
	// resource owner of what it creates. The caller must be an OWNER or ADMIN of it.
	ActingOrganizationID string
}

// Can reports whether the actor holds permission p.
func (a *Actor) Can(p Permission) bool { return a != nil && slices.Contains(a.Permissions, p) }

// Require returns an EFORBIDDEN error naming p when the actor lacks it.
func (a *Actor) Require(p Permission) error {
	if a.Can(p) {
		return nil
	}
	return &Error{Code: EFORBIDDEN, Permission: p, Message: "this API key lacks the permission " + string(p)}
}

type actorKey struct{}

// WithActor returns a context carrying the actor.
func WithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the context's actor, or nil.
func ActorFrom(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// APIKeyPrefix starts every API key, so that leaked keys are easy to recognise and scan for.
const APIKeyPrefix = "orgs_"

// NewAPIKey returns a new random API key (256 bits) and its hash, which is all that is stored.
func NewAPIKey() (key string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key)
}

// HashAPIKey returns the stored form of a key. Keys carry 256 random bits, so a plain SHA-256 is enough:
// there is nothing to brute-force, and the lookup stays one indexed equality.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
