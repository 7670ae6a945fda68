package graph

import (
	"context"
	"errors"
	"time"

	"orgs/domain"
	"orgs/graph/model"
)

func dateTime(t time.Time) model.DateTime { return model.DateTime(t.UTC()) }

func optDateTime(t *time.Time) *model.DateTime {
	if t == nil {
		return nil
	}
	d := dateTime(*t)
	return &d
}

func toOrganization(o *domain.Organization) *model.Organization {
	return &model.Organization{
		ID: o.ID, Name: o.Name, Slug: o.Slug, Description: o.Description, AvatarURL: o.AvatarURL,
		CountryCode: o.CountryCode, LanguageCode: o.LanguageCode, PrimaryDomain: o.PrimaryDomain,
		IsPrivate: o.IsPrivate, IsDefault: o.IsDefault, IsSystem: o.IsSystem,
		Status: model.OrganizationStatus(o.Status), StatusChangedAt: dateTime(o.StatusChangedAt),
		IsActive: o.IsActive(), RemovedAt: optDateTime(o.RemovedAt), TotalMembers: o.TotalMembers, CreatedBy: o.CreatedBy,
		Locale: o.Locale, Timezone: o.Timezone, Phone: o.Phone, Headquarters: toAddressOut(o.Headquarters),
		ContactEmails: nonNil(o.ContactEmails), BillingEmails: nonNil(o.BillingEmails),
		PrivacyPolicyURL: o.PrivacyPolicyURL, TermsOfServiceURL: o.TermsOfServiceURL, Coupons: nonNil(o.Coupons),
		RegionTemplate: o.RegionTemplate, Subscription: toSubscription(o.Subscription),
		TemplateID: o.TemplateID, PrimaryAdministratorID: o.PrimaryAdministratorUserID,
		CreatedAt: dateTime(o.CreatedAt), UpdatedAt: dateTime(o.UpdatedAt),
		Details: &model.ObjectDetails{
			Sequence: int(o.Sequence), CreationDate: dateTime(o.CreatedAt), ChangeDate: dateTime(o.UpdatedAt),
			ResourceOwner: o.ResourceOwner,
		},
	}
}

func toProject(p domain.Project) model.Project {
	emails := p.ContactEmails
	if emails == nil {
		emails = []string{}
	}
	return model.Project{
		ID: p.ID, OrganizationID: p.OrganizationID, Name: p.Name, Slug: p.Slug,
		Type: model.ProjectType(p.Type), Mode: model.ProjectMode(p.Mode), Status: model.ProjectStatus(p.Status),
		IsDefault: p.IsDefault, IsActive: p.IsActive(), IsTest: p.IsTest(),
		ContactEmails: emails,
		SendFromEmail: toSender(p.SendFromEmail),
		Settings: &model.ProjectSettings{Trackers: &model.TrackerSettings{
			DeepScan: p.DeepScan, RealTimeScan: p.RealTimeScan, LastRealTimeScan: optDateTime(p.LastRealTimeScan),
		}},
		CreatedAt: dateTime(p.CreatedAt), UpdatedAt: dateTime(p.UpdatedAt),
	}
}

func toMember(m domain.Member) model.Member {
	p := m.Profile
	u := &model.User{
		ID: m.UserID, Email: m.Email, Name: m.Name, FirstName: p.FirstName, LastName: p.LastName,
		Description: p.Description, Phone: p.Phone, Locale: p.Locale, Gender: (*model.Gender)(p.Gender),
		Address: toAddressOut(p.Address), EmailVerified: m.EmailVerified,
	}
	if p.DateOfBirth != nil {
		d := p.DateOfBirth.Format(time.DateOnly)
		u.DateOfBirth = &d
	}
	if p.MFAEnabled || p.MFAExpirationMinutes != nil {
		u.Mfa = &model.MfaSettings{Enabled: p.MFAEnabled, ExpirationInMinutes: p.MFAExpirationMinutes}
	}
	return model.Member{
		ID: m.ID, UserID: m.UserID, Email: m.Email, Name: m.Name, Role: model.MemberRole(m.Role),
		Status: model.MemberStatus(m.Status), JoinedAt: optDateTime(m.JoinedAt), EmailVerified: m.EmailVerified, User: u,
	}
}

func toMembers(ms []domain.Member) []model.Member {
	out := make([]model.Member, len(ms))
	for i, m := range ms {
		out[i] = toMember(m)
	}
	return out
}

// userErrorsOf splits a mutation's error: violations become the payload's userErrors (empty when there
// is no error), each at its path below the mutation's argument arg ("input"); any other error is
// returned for the presenter. A payload with userErrors is counted as such by the metrics of ctx's
// operation.
func userErrorsOf(ctx context.Context, err error, arg string) ([]model.UserError, error) {
	var verr *domain.ValidationError
	switch {
	case err == nil:
		return []model.UserError{}, nil
	case errors.As(err, &verr):
		if len(verr.Violations) > 0 {
			markUserErrors(ctx)
		}
		return toUserErrors(verr.Violations, arg), nil
	}
	return nil, err
}

func toUserErrors(vs domain.Violations, arg string) []model.UserError {
	out := make([]model.UserError, len(vs))
	for i, v := range vs {
		out[i] = model.UserError{Field: append([]string{arg}, v.Field...), Message: v.Message,
			Code: model.UserErrorCode(v.Code), Suggestions: v.Suggestions}
	}
	return out
}

func toViewer(a *domain.Actor) *model.Viewer {
	perms := make([]model.Permission, len(a.Permissions))
	for i, p := range a.Permissions {
		perms[i] = model.Permission(p)
	}
	name := a.Name
	return &model.Viewer{
		ID: a.KeyID, Name: a.KeyName, Permissions: perms,
		Tenant: &model.Tenant{ID: a.TenantID, Name: a.TenantName},
		User:   &model.User{ID: a.UserID, Email: a.Email, Name: &name},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toAddressOut(a *domain.Address) *model.Address {
	if a == nil {
		return nil
	}
	return &model.Address{CountryCode: a.CountryCode, State: a.State, City: a.City, ZipCode: a.ZipCode,
		Address1: a.Address1, Address2: a.Address2}
}

func toSubscription(s *domain.Subscription) *model.OrganizationSubscription {
	if s == nil {
		return nil
	}
	return &model.OrganizationSubscription{Plan: s.Plan, BillingCycle: model.BillingCycle(s.BillingCycle)}
}

// toSender gives the sender a stable id: its address.
func toSender(s *domain.SenderEmail) *model.SenderEmail {
	if s == nil {
		return nil
	}
	return &model.SenderEmail{ID: s.Email, Email: s.Email, Name: s.Name}
}

func toTemplate(t *domain.Template) *model.OrganizationTemplate {
	out := &model.OrganizationTemplate{
		ID: t.ID, Name: t.Name, Description: t.Description, CountryCode: t.CountryCode, LanguageCode: t.LanguageCode,
		Locale: t.Locale, Timezone: t.Timezone, IsPrivate: t.IsPrivate, RegionTemplate: t.RegionTemplate,
		CreatedAt: dateTime(t.CreatedAt), CustomAttributeDefinitions: []model.CustomAttributeDefinition{},
	}
	if p := t.DefaultProject; p != nil {
		out.DefaultProject = &model.ProjectTemplate{Name: p.Name, ContactEmails: p.ContactEmails}
		if p.Type != nil {
			typ := model.ProjectType(*p.Type)
			out.DefaultProject.Type = &typ
		}
		if p.Mode != nil {
			mode := model.ProjectMode(*p.Mode)
			out.DefaultProject.Mode = &mode
		}
	}
	for _, d := range t.Definitions {
		out.CustomAttributeDefinitions = append(out.CustomAttributeDefinitions, model.CustomAttributeDefinition{
			Key: d.Key, Type: model.CustomAttributeType(d.Type), Required: d.Required, DefaultValue: d.DefaultValue,
		})
	}
	return out
}

func toEvent(e domain.Event) model.OrganizationEvent {
	changes := make([]model.FieldChange, len(e.Changes))
	for i, c := range e.Changes {
		changes[i] = model.FieldChange{Field: c.Field, From: c.From, To: c.To}
	}
	var data any
	if e.Data != nil {
		data = e.Data
	}
	return model.OrganizationEvent{
		ID: e.ID, OrganizationID: e.OrganizationID, Sequence: int(e.Sequence), Type: e.Type,
		OccurredAt: dateTime(e.OccurredAt), Changes: changes, Data: data,
		Actor: &model.EventActor{APIKeyID: e.ActorKeyID, UserID: e.ActorUserID, TenantID: e.TenantID},
	}
}
