package graph

import (
	"github.com/99designs/gqlgen/graphql"

	"orgs/domain"
	"orgs/graph/model"
)

// patchOf converts a field of an update input: left out stays left out, null and values go through
// conv (which keeps nil nil).
func patchOf[T, U any](o graphql.Omittable[T], conv func(T) U) domain.Patch[U] {
	v, ok := o.ValueOK()
	if !ok {
		return domain.Patch[U]{}
	}
	return domain.Set(conv(v))
}

func same[T any](v T) T { return v }

func toSubscriptionInput(in *model.SubscriptionInput) *domain.Subscription {
	if in == nil {
		return nil
	}
	return &domain.Subscription{Plan: in.Plan, BillingCycle: string(in.BillingCycle)}
}

func toUpdateOrganizationInput(in model.UpdateOrganizationInput) domain.UpdateOrganizationInput {
	return domain.UpdateOrganizationInput{
		Name: patchOf(in.Name, same), Slug: patchOf(in.Slug, same), Description: patchOf(in.Description, same),
		AvatarURL: patchOf(in.AvatarURL, same), CountryCode: patchOf(in.CountryCode, same),
		LanguageCode: patchOf(in.LanguageCode, same), Locale: patchOf(in.Locale, same),
		Timezone: patchOf(in.Timezone, same), Phone: patchOf(in.Phone, same),
		Headquarters: patchOf(in.Headquarters, toAddress), ContactEmails: patchOf(in.ContactEmails, same),
		BillingEmails: patchOf(in.BillingEmails, same), PrivacyPolicyURL: patchOf(in.PrivacyPolicyURL, same),
		TermsOfServiceURL: patchOf(in.TermsOfServiceURL, same), Coupons: patchOf(in.Coupons, same),
		RegionTemplate: patchOf(in.RegionTemplate, same), Subscription: patchOf(in.Subscription, toSubscriptionInput),
		IsPrivate: patchOf(in.IsPrivate, same), IsDefault: patchOf(in.IsDefault, same),
	}
}
