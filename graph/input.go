package graph

import (
	"context"

	"orgs/domain"
	"orgs/graph/model"
)

// Conversions of the API's inputs into the domain's. They copy; the domain validates.

func strPtr[T ~string](v *T) *string {
	if v == nil {
		return nil
	}
	s := string(*v)
	return &s
}

func toAddress(in *model.AddressInput) *domain.Address {
	if in == nil {
		return nil
	}
	return &domain.Address{CountryCode: in.CountryCode, State: in.State, City: in.City, ZipCode: in.ZipCode,
		Address1: in.Address1, Address2: in.Address2}
}

func toProjectInput(in model.ProjectInput) domain.ProjectInput {
	p := domain.ProjectInput{Name: in.Name, Type: strPtr(in.Type), Mode: strPtr(in.Mode), ContactEmails: in.ContactEmails}
	if in.SendFromEmail != nil {
		p.SendFromEmail = &domain.SenderEmail{Email: in.SendFromEmail.Email, Name: in.SendFromEmail.Name}
	}
	if in.Settings != nil && in.Settings.Trackers != nil {
		p.DeepScan, p.RealTimeScan = in.Settings.Trackers.DeepScan, in.Settings.Trackers.RealTimeScan
	}
	return p
}

func toCreateOrganizationInput(in model.CreateOrganizationInput) domain.CreateOrganizationInput {
	out := domain.CreateOrganizationInput{
		Name: in.Name, Slug: in.Slug, Description: in.Description, AvatarURL: in.AvatarURL,
		CountryCode: in.CountryCode, LanguageCode: in.LanguageCode, IsPrivate: in.IsPrivate,
		IsDefault: in.IsDefault, Status: (*domain.OrganizationStatus)(in.Status), Locale: in.Locale,
		Timezone: in.Timezone, Phone: in.Phone, Headquarters: toAddress(in.Headquarters),
		ContactEmails: in.ContactEmails, BillingEmails: in.BillingEmails, PrimaryDomain: in.PrimaryDomain,
		PrivacyPolicyURL: in.PrivacyPolicyURL, TermsOfServiceURL: in.TermsOfServiceURL, Coupons: in.Coupons,
		RegionTemplate: in.RegionTemplate, Subscription: toSubscriptionInput(in.Subscription), TemplateID: in.TemplateID,
		EmailConfirmationLandingPage: in.EmailConfirmationLandingPage,
	}
	for _, a := range in.CustomAttributes {
		out.CustomAttributes = append(out.CustomAttributes, domain.AttributeInput{Key: a.Key, Value: a.Value})
	}
	if a := in.PrimaryAdministrator; a != nil {
		out.PrimaryAdministrator = &domain.AdministratorInput{
			FirstName: a.FirstName, LastName: a.LastName, Email: a.Email, Description: a.Description,
			Phone: a.Phone, Locale: a.Locale, Gender: strPtr(a.Gender), DateOfBirth: a.DateOfBirth,
			Address: toAddress(a.Address),
		}
		if a.Mfa != nil {
			out.PrimaryAdministrator.MFA = &domain.MFAInput{Enabled: a.Mfa.Enabled, ExpirationInMinutes: a.Mfa.ExpirationInMinutes}
		}
	}
	if in.DefaultProject != nil {
		p := toProjectInput(*in.DefaultProject)
		out.DefaultProject = &p
	}
	for _, p := range in.Projects {
		out.Projects = append(out.Projects, toProjectInput(p))
	}
	return out
}

func toTemplateInput(in model.CreateOrganizationTemplateInput) domain.TemplateInput {
	out := domain.TemplateInput{
		Name: in.Name, Description: in.Description, CountryCode: in.CountryCode, LanguageCode: in.LanguageCode,
		Locale: in.Locale, Timezone: in.Timezone, IsPrivate: in.IsPrivate, RegionTemplate: in.RegionTemplate,
	}
	if in.DefaultProject != nil {
		p := toProjectInput(*in.DefaultProject)
		out.DefaultProject = &p
	}
	for _, d := range in.CustomAttributeDefinitions {
		out.Definitions = append(out.Definitions, domain.AttributeDefinitionInput{
			Key: d.Key, Type: domain.AttributeType(d.Type), Required: d.Required, DefaultValue: d.DefaultValue,
		})
	}
	return out
}

// idempotencyKeyOf returns the create's idempotency key: the input's field, else the request's
// Idempotency-Key header, else nil.
func idempotencyKeyOf(ctx context.Context, field *string) *string {
	if field != nil {
		return field
	}
	if key := idempotencyKeyFrom(ctx); key != "" {
		return &key
	}
	return nil
}
