package domain_test

import (
	"testing"
	"time"

	"orgs/domain"
)

// BenchmarkNewOrganizationFrom measures the validation of a createOrganization input: the minimal one
// (a name) and one with every field (go test -run '^$' -bench NewOrganizationFrom -benchmem ./domain).
func BenchmarkNewOrganizationFrom(b *testing.B) {
	rules := domain.Rules{Regions: []string{"us", "eu"}, Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	path := domain.Path{"input"}
	for _, bc := range []struct {
		name string
		in   domain.CreateOrganizationInput
	}{
		{"Minimal", domain.CreateOrganizationInput{Name: "Acme Corporation"}},
		{"Full", fullInput()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := domain.NewOrganizationFrom(bc.in, rules, path); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				domain.NewOrganizationFrom(bc.in, rules, path)
			}
		})
	}
}

// fullInput sets every field of the input, each valid.
func fullInput() domain.CreateOrganizationInput {
	return domain.CreateOrganizationInput{
		Name: "Crème Brûlée Société Anonyme", Slug: ptr("creme-brulee"), Description: ptr("Desserts since 1902, HQ in Lyon"),
		AvatarURL: ptr("https://creme.example/avatar.png"), CountryCode: ptr("FR"), LanguageCode: ptr("fr"),
		Locale: ptr("fr-FR"), Timezone: ptr("Europe/Paris"), Phone: ptr("+33472000000"),
		Headquarters: &domain.Address{CountryCode: ptr("FR"), State: ptr("ARA"), City: ptr("Lyon"), ZipCode: ptr("69002"),
			Address1: ptr("1 Place Bellecour"), Address2: ptr("3e étage")},
		ContactEmails:    []string{"hello@creme.example", "privacy@creme.example", "HELLO@creme.example"},
		BillingEmails:    []string{"billing@creme.example"},
		PrimaryDomain:    ptr("bücher.example"),
		PrivacyPolicyURL: ptr("https://creme.example/privacy"), TermsOfServiceURL: ptr("https://creme.example/terms"),
		Coupons: []string{"WELCOME", "SPRING_2026"}, RegionTemplate: ptr("eu"),
		Subscription: &domain.Subscription{Plan: "business", BillingCycle: "YEARLY"},
		IsPrivate:    ptr(true), IsDefault: ptr(true), Status: ptr(domain.StatusActive),
		CustomAttributes: []domain.AttributeInput{
			{Key: "vatId", Value: "FR12345678901"}, {Key: "seats", Value: 50}, {Key: "vip", Value: true},
			{Key: "renewal", Value: "2027-03-01"},
		},
		PrimaryAdministrator: &domain.AdministratorInput{
			FirstName: "Marie", LastName: "Curie", Email: "marie@creme.example", Description: ptr("Founder"),
			Phone: ptr("+33600000000"), Locale: ptr("fr-FR"), Gender: ptr("FEMALE"), DateOfBirth: ptr("1967-11-07"),
			Address: &domain.Address{CountryCode: ptr("FR"), City: ptr("Lyon")},
			MFA:     &domain.MFAInput{Enabled: true, ExpirationInMinutes: ptr(30)},
		},
		EmailConfirmationLandingPage: ptr("https://app.creme.example/confirm"),
		DefaultProject: &domain.ProjectInput{Name: ptr("Website"), Type: ptr("WEBSITE"), Mode: ptr("LIVE"),
			ContactEmails: []string{"web@creme.example"},
			SendFromEmail: &domain.SenderEmail{Email: "noreply@creme.example", Name: ptr("Crème")},
			DeepScan:      ptr(true), RealTimeScan: ptr(false)},
		Projects: []domain.ProjectInput{
			{Name: ptr("Mobile"), Type: ptr("MOBILE_APP"), Mode: ptr("TEST")},
			{Name: ptr("Backend"), Type: ptr("BACKEND")},
		},
	}
}
