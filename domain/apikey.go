package domain

import (
	"slices"
	"strings"
	"time"
)

// APIKey is a key of a tenant as it is listed: never its secret nor the secret's hash.
type APIKey struct {
	TenantID string
	ID       string
	// UserID is the key's principal: whom the key acts as.
	UserID string
	Name   string
	// Prefix is the first characters of the secret, to recognise it; keys made before prefixes were
	// kept show APIKeyPrefix alone.
	Prefix      string
	Permissions []Permission
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

// Event types of the tenant's log.
const (
	EventAPIKeyCreated = "apikey.created"
	EventAPIKeyRevoked = "apikey.revoked"
)

// APIKeyPrefixLen is how many of a key's first characters are kept to recognise it: "orgs_" and four
// of its random characters (24 of its 256 bits).
const APIKeyPrefixLen = len(APIKeyPrefix) + 4

// PrefixOf returns the part of key that is kept and shown.
func PrefixOf(key string) string {
	if len(key) < APIKeyPrefixLen {
		return key
	}
	return key[:APIKeyPrefixLen]
}

// NewAPIKeyInput is a key that a caller asks for.
type NewAPIKeyInput struct {
	Name        string
	Permissions []Permission
	ExpiresAt   *time.Time
}

// NewAPIKeyFrom checks a key asked for by the caller at now and returns it normalised (name trimmed,
// permissions without repeats). A key needs a name of 1..NameMaxLen characters and at least one
// permission, each held by the caller (a key cannot grant more than its creator may do), and expires,
// if at all, in the future. Paths are relative to the input.
func NewAPIKeyFrom(in NewAPIKeyInput, caller *Actor, now time.Time) (NewAPIKeyInput, error) {
	var v Violations
	out := NewAPIKeyInput{Name: strings.TrimSpace(in.Name), ExpiresAt: in.ExpiresAt}
	validateName(&v, Path{"name"}, out.Name)
	if len(in.Permissions) == 0 {
		v.Add(Path{"permissions"}, VRequired, "a key needs at least one permission")
	}
	for i, p := range in.Permissions {
		if !caller.Can(p) {
			v.Add(Path{"permissions"}.Index(i), VInvalidValue, "the calling key lacks the permission %s and cannot grant it", p)
			continue
		}
		if !slices.Contains(out.Permissions, p) {
			out.Permissions = append(out.Permissions, p)
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		v.Add(Path{"expiresAt"}, VInvalidValue, "expiresAt must be in the future")
	}
	if err := v.Err(); err != nil {
		return NewAPIKeyInput{}, err
	}
	return out, nil
}
