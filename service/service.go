// Package service holds the write use cases of the API: what a mutation does, in what order, under
// which rules, with which transaction. Resolvers call one method each; the domain package validates; the
// db package runs the SQL. Violations carry paths relative to the mutation's argument (["slug"], not
// ["input", "slug"]): the GraphQL layer adds the argument's name.
package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"orgs/db"
	"orgs/domain"
	"orgs/outbound"
)

// Config holds the service's settings.
type Config struct {
	// Regions are the allowed regionTemplate values; default us, eu.
	Regions []string
	// DomainSuffix ends every generated primary domain: <slug>.<DomainSuffix>; default orgs.localhost.
	DomainSuffix string
	// ConfirmationTTL is how long an administrator's confirmation link works; default 72h.
	ConfirmationTTL time.Duration
	// RequestTimeout is the deadline of a request.
	RequestTimeout time.Duration
	// OrgRetention is how long a deleted organization can be restored; then it is purged. Default 720h.
	OrgRetention time.Duration
	// DomainVerificationTTL is how long a domain's verification token works; default 72h.
	DomainVerificationTTL time.Duration
	// Outbound is how domain verification reaches the domains: the DNS resolver, and whether private
	// addresses may be reached.
	Outbound outbound.Options
	// EmailQueued, when set, is called after a change that queued an email commits (it wakes the mail
	// worker, which otherwise polls).
	EmailQueued func()
}

// Service runs the write use cases over a store.
type Service struct {
	store *db.Store
	cfg   Config
	// now is the clock; tests may replace it.
	now func() time.Time
	// challenges checks domain verification challenges.
	challenges *challenger
}

// New returns the service over store, with cfg's zero settings replaced by their defaults.
func New(store *db.Store, cfg Config) *Service {
	if len(cfg.Regions) == 0 {
		cfg.Regions = []string{"us", "eu"}
	}
	if cfg.DomainSuffix == "" {
		cfg.DomainSuffix = "orgs.localhost"
	}
	if cfg.ConfirmationTTL <= 0 {
		cfg.ConfirmationTTL = 72 * time.Hour
	}
	if cfg.OrgRetention <= 0 {
		cfg.OrgRetention = DefaultOrgRetention
	}
	if cfg.DomainVerificationTTL <= 0 {
		cfg.DomainVerificationTTL = 72 * time.Hour
	}
	return &Service{store: store, cfg: cfg, now: time.Now, challenges: newChallenger(cfg.Outbound)}
}

// clock is the one timestamp of a use case, in UTC at PostgreSQL's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// emailQueued wakes the mail worker after a commit that queued an email.
func (s *Service) emailQueued() {
	if s.cfg.EmailQueued != nil {
		s.cfg.EmailQueued()
	}
}

// violation returns the error of one violation at path.
func violation(path domain.Path, code domain.ViolationCode, msg string) error {
	return &domain.ValidationError{Violations: domain.Violations{{Field: path, Code: code, Message: msg}}}
}

// requireActor refuses a use case without a caller.
func requireActor(a *domain.Actor) error {
	if a == nil {
		return domain.Errorf(domain.EUNAUTHENTICATED, "an API key is required")
	}
	return nil
}

// newToken returns a random one-time token for a link and the hash of it that is stored.
func newToken() (token string, hash []byte) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(fmt.Errorf("random token: %w", err)) // crypto/rand does not fail on supported systems
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	return token, hashToken(token)
}

// hashToken is how a one-time token is stored and looked up.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// PurgeIdempotencyKeys deletes the idempotency keys past their time; it returns how many.
func (s *Service) PurgeIdempotencyKeys(ctx context.Context) (int64, error) {
	return s.store.PurgeIdempotencyKeys(ctx, s.clock())
}
