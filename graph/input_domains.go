package graph

import (
	"orgs/domain"
	"orgs/graph/model"
)

// Conversions of the domain mutations (service/domains.go).

// toOrganizationDomain converts a domain; its verification is shown until it is verified, and never for
// the generated domain.
func toOrganizationDomain(d *domain.Domain) *model.OrganizationDomain {
	out := &model.OrganizationDomain{ID: d.ID, Domain: d.Domain, IsPrimary: d.IsPrimary, IsVerified: d.IsVerified,
		IsGenerated: d.IsGenerated, Status: model.DomainStatus(d.Status), LastFailure: d.LastFailure}
	if d.VerifiedAt != nil {
		t := model.DateTime(*d.VerifiedAt)
		out.VerifiedAt = &t
	}
	out.Verification = domainVerification(d)
	return out
}

// domainVerification is what to publish to verify d, or nil once it is verified and for the generated
// domain.
func domainVerification(d *domain.Domain) *model.DomainVerification {
	if d.Status == domain.DomainVerified || d.IsGenerated || d.ExpiresAt == nil {
		return nil
	}
	return &model.DomainVerification{
		DNSRecordName:  domain.ChallengeRecordName(d.Domain),
		DNSRecordValue: domain.ChallengeRecordValue(d.Token),
		HTTPURL:        domain.ChallengeURL(d.Domain, d.Token),
		HTTPBody:       d.Token,
		ExpiresAt:      model.DateTime(*d.ExpiresAt),
	}
}
