package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"orgs/domain"
)

// The statements of updateOrganization, inside ChangeOrganization's transaction.

// UpdateOrganization writes o's descriptive fields over the locked organization. A slug another
// organization of the tenant holds is ErrSlugTaken: the unique index decides, also between concurrent
// updates (the second waits for the first and fails when it commits).
func (t *OrganizationTx) UpdateOrganization(ctx context.Context, o *domain.Organization) error {
	headquarters, plan, cycle, err := compositeColumns(o)
	if err != nil {
		return err
	}
	const q = `
UPDATE organizations SET name = $3, slug = $4, description = $5, avatar_url = $6, country_code = $7,
    language_code = $8, locale = $9, timezone = $10, phone = $11, headquarters = $12, contact_emails = $13,
    billing_emails = $14, privacy_policy_url = $15, terms_of_service_url = $16, coupons = $17,
    region_template = $18, subscription_plan = $19, subscription_billing_cycle = $20, is_private = $21,
    is_default = $22
WHERE tenant_id = $1 AND id = $2`
	_, err = t.tx.ExecContext(ctx, q, t.Organization.TenantID, t.Organization.ID, o.Name, o.Slug, o.Description,
		o.AvatarURL, o.CountryCode, o.LanguageCode, o.Locale, o.Timezone, o.Phone, headquarters,
		pqStrings(o.ContactEmails), pqStrings(o.BillingEmails), o.PrivacyPolicyURL,
		o.TermsOfServiceURL, pqStrings(o.Coupons), o.RegionTemplate, plan, cycle, o.IsPrivate, o.IsDefault)
	if err := takenError(err); err != nil {
		return fmt.Errorf("update organization: %w", err)
	}
	return nil
}

// RenameGeneratedDomain moves the organization's generated domain to name (its slug changed); it
// reports whether that domain is the primary one, which it stays.
func (t *OrganizationTx) RenameGeneratedDomain(ctx context.Context, name string) (primary bool, err error) {
	const q = `
UPDATE organization_domains SET domain = $3
WHERE tenant_id = $1 AND organization_id = $2 AND is_generated AND NOT released
RETURNING is_primary`
	err = t.tx.GetContext(ctx, &primary, q, t.Organization.TenantID, t.Organization.ID, name)
	if errors.Is(err, sql.ErrNoRows) { // none: nothing to rename
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rename generated domain: %w", takenError(err))
	}
	return primary, nil
}

// DemoteOtherDefault clears the default flag of the tenant's other default organization, with its
// organization.default_revoked event. ChangeOrganization must hold the tenant (ChangeOptions.LockTenant).
func (t *OrganizationTx) DemoteOtherDefault(ctx context.Context) error {
	return demoteOtherDefault(ctx, t.tx, t.actor, t.Organization.ID, t.Now)
}

// compositeColumns are the columns of an organization's composite fields: its headquarters as JSON
// text, its subscription's plan and billing cycle (nil without one).
func compositeColumns(o *domain.Organization) (headquarters, plan, cycle *string, err error) {
	if headquarters, err = jsonOrNil(o.Headquarters); err != nil {
		return nil, nil, nil, err
	}
	if o.Subscription != nil {
		plan, cycle = &o.Subscription.Plan, &o.Subscription.BillingCycle
	}
	return headquarters, plan, cycle, nil
}

// takenError is err, or ErrSlugTaken / ErrDomainTaken when it broke the slug's or a domain's unique index.
func takenError(err error) error {
	switch uniqueViolation(err) {
	case "organizations_slug_key":
		return ErrSlugTaken
	case "organization_domains_domain_key":
		return ErrDomainTaken
	}
	return err
}
