package domain

import (
	"net"
	"strings"
	"time"
)

// Verified domains. A domain added to an organization is PENDING until the organization proves it
// controls it, before its token expires, by one of two challenges:
//
//   - DNS: a TXT record named _orgs-challenge.<domain> with the value orgs-verification=<token>;
//   - HTTP: http://<domain>/.well-known/orgs-challenge/<token> answering 2xx with the token as its body.
//
// A failed attempt leaves the domain FAILED (tried again at will until the token expires); an expired
// token is renewed by adding the domain again. The generated domain <slug>.<suffix> is VERIFIED from the
// start. Only a VERIFIED or generated domain may be primary; neither the primary nor the generated one
// may be removed.

// DomainStatus is where a domain stands in its verification.
type DomainStatus string

const (
	DomainPending  DomainStatus = "PENDING"
	DomainVerified DomainStatus = "VERIFIED"
	DomainFailed   DomainStatus = "FAILED"
)

// VerificationMethod is how a domain is proved.
type VerificationMethod string

const (
	VerifyByDNS  VerificationMethod = "DNS_TXT"
	VerifyByHTTP VerificationMethod = "HTTP"
)

// Audit event types of domains.
const (
	EventDomainAdded = "domain.added"
	// EventDomainVerified is recorded when a verification succeeds.
	EventDomainVerified = "domain.verified"
	// EventDomainVerificationFailed is recorded when a verification attempt fails: the domain is then
	// FAILED, and the event keeps why.
	EventDomainVerificationFailed = "domain.verification_failed"
	EventDomainPrimaryChanged     = "domain.primary_changed"
	EventDomainRemoved            = "domain.removed"
)

const (
	// ChallengeLabel is the DNS label under which the TXT record is looked up.
	ChallengeLabel = "_orgs-challenge"
	// ChallengeValuePrefix starts the TXT record's value; the token follows.
	ChallengeValuePrefix = "orgs-verification="
	// ChallengePath is the HTTP path under which the token is served.
	ChallengePath = "/.well-known/orgs-challenge/"
)

// ChallengeRecordName is the name of the TXT record that proves d.
func ChallengeRecordName(d string) string { return ChallengeLabel + "." + d }

// ChallengeRecordValue is the value of the TXT record that proves a domain with token.
func ChallengeRecordValue(token string) string { return ChallengeValuePrefix + token }

// ChallengeURL is the URL that must answer token to prove d (an IP literal in brackets when IPv6).
func ChallengeURL(d, token string) string {
	host := d
	if strings.Contains(d, ":") {
		host = "[" + d + "]"
	}
	return "http://" + host + ChallengePath + token
}

// IsIPLiteral tells whether a normalized domain is an IP address (allowed as primaryDomain at creation,
// which then can only be verified over HTTP).
func IsIPLiteral(d string) bool { return net.ParseIP(d) != nil }

// VerificationOpen tells whether d's verification token still works at now.
func (d *Domain) VerificationOpen(now time.Time) bool {
	return d.ExpiresAt != nil && now.Before(*d.ExpiresAt)
}

// CanBePrimary tells whether d may become its organization's primary domain.
func (d *Domain) CanBePrimary() bool { return d.IsGenerated || d.Status == DomainVerified }

// NormalizeNewDomain checks a domain to add to an organization (at path, relative to the input) with the
// rules of primaryDomain at creation (IDNA to ASCII, nothing under the generated domains' suffix), and
// refuses IP addresses: they have no DNS record to prove them by. It returns the ASCII form.
func NormalizeNewDomain(raw, suffix string, path Path) (string, error) {
	var v Violations
	d, ok := NormalizeDomain(&v, path, raw)
	if !ok {
		return "", v.Err()
	}
	suffix = strings.Trim(strings.ToLower(suffix), ".")
	switch {
	case IsIPLiteral(d):
		v.Add(path, VInvalidValue, "%s is an IP address; only host names can be added and verified", d)
	case suffix != "" && (d == suffix || strings.HasSuffix(d, "."+suffix)):
		v.Add(path, VInvalidValue, "domains under %s are generated from slugs and cannot be added", suffix)
	}
	return d, v.Err()
}
