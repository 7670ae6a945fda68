package domain_test

import (
	"encoding/json"
	"strings"
	"testing"

	"orgs/domain"
)

func currentOrganization() *domain.Organization {
	return &domain.Organization{
		ID: "o", Name: "Acme", Slug: "acme", Description: ptr("Widgets"), CountryCode: ptr("US"),
		Phone: ptr("+14155552671"), ContactEmails: []string{"a@example.com"}, Coupons: nil,
		Headquarters:   &domain.Address{City: ptr("Paris")},
		Subscription:   &domain.Subscription{Plan: "pro", BillingCycle: "MONTHLY"},
		RegionTemplate: ptr("eu"), IsPrivate: true, IsDefault: true,
	}
}

func changesJSON(t *testing.T, c domain.Changes) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// violationsOf lists the violations of a *ValidationError as path=CODE.
func violationsOf(t *testing.T, err error) string {
	t.Helper()
	verr, ok := err.(*domain.ValidationError)
	if !ok {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	out := make([]string, len(verr.Violations))
	for i, v := range verr.Violations {
		out[i] = strings.Join(v.Field, ".") + "=" + string(v.Code)
	}
	return strings.Join(out, " ")
}

func TestUpdatedOrganization(t *testing.T) {
	rules := domain.Rules{Regions: []string{"us", "eu"}}
	t.Run("OKLeftOutUnchangedSetNormalisedNullCleared", func(t *testing.T) {
		cur := currentOrganization()
		next, changes, err := domain.UpdatedOrganization(cur, domain.UpdateOrganizationInput{
			Name:          domain.Set(ptr("  Acme Corp ")),
			Description:   domain.Set[*string](nil),
			Headquarters:  domain.Set[*domain.Address](nil),
			ContactEmails: domain.Set[[]string](nil),
			Coupons:       domain.Set([]string{"WELCOME"}),
			IsPrivate:     domain.Set[*bool](nil),
		}, rules)
		if err != nil {
			t.Fatal(err)
		}
		if next.Name != "Acme Corp" || next.Description != nil || next.Headquarters != nil || len(next.ContactEmails) != 0 ||
			next.IsPrivate || !next.IsDefault || *next.CountryCode != "US" || *next.Phone != "+14155552671" || next.Slug != "acme" ||
			next.Subscription.Plan != "pro" || *next.RegionTemplate != "eu" {
			t.Errorf("next = %+v", next)
		}
		want := `[{"field":"name","from":"Acme","to":"Acme Corp"},{"field":"description","from":"Widgets","to":null},` +
			`{"field":"headquarters","from":{"city":"Paris"},"to":null},{"field":"contactEmails","from":["a@example.com"],"to":[]},` +
			`{"field":"coupons","from":[],"to":["WELCOME"]},{"field":"isPrivate","from":true,"to":false}]`
		if got := changesJSON(t, changes); got != want {
			t.Errorf("changes = %s\nwant      %s", got, want)
		}
		if cur.Name != "Acme" || cur.Description == nil {
			t.Errorf("the current organization was changed: %+v", cur)
		}
	})
	t.Run("OKSameValuesChangeNothing", func(t *testing.T) {
		next, changes, err := domain.UpdatedOrganization(currentOrganization(), domain.UpdateOrganizationInput{
			Name: domain.Set(ptr("Acme ")), Slug: domain.Set[*string](nil), CountryCode: domain.Set(ptr("US")),
			Coupons: domain.Set[[]string](nil), Subscription: domain.Set(&domain.Subscription{Plan: "pro", BillingCycle: "MONTHLY"}),
			IsDefault: domain.Set(ptr(true)),
		}, rules)
		if err != nil || len(changes) != 0 || next.Slug != "acme" {
			t.Errorf("changes = %v, err = %v, next = %+v; want no change", changes, err, next)
		}
	})
	t.Run("ErrEveryViolationAtItsPathRelativeToTheInput", func(t *testing.T) {
		_, _, err := domain.UpdatedOrganization(currentOrganization(), domain.UpdateOrganizationInput{
			Name: domain.Set[*string](nil), Slug: domain.Set(ptr("-x")), AvatarURL: domain.Set(ptr("mailto:a@b.c")),
			LanguageCode: domain.Set(ptr("EN")), RegionTemplate: domain.Set(ptr("mars")),
			BillingEmails: domain.Set([]string{"nope"}), Subscription: domain.Set(&domain.Subscription{Plan: " ", BillingCycle: "DAILY"}),
		}, rules)
		want := "name=REQUIRED slug=INVALID_FORMAT avatarUrl=INVALID_FORMAT languageCode=INVALID_FORMAT regionTemplate=INVALID_VALUE " +
			"billingEmails.0=INVALID_FORMAT subscription.plan=BLANK subscription.billingCycle=INVALID_VALUE"
		if got := violationsOf(t, err); got != want {
			t.Errorf("violations = %v\nwant         %v", got, want)
		}
	})
	t.Run("OKFieldsLeftOutAreNotChecked", func(t *testing.T) {
		cur := currentOrganization()
		cur.RegionTemplate = ptr("apac") // no longer configured
		if _, _, err := domain.UpdatedOrganization(cur, domain.UpdateOrganizationInput{Name: domain.Set(ptr("New"))}, rules); err != nil {
			t.Errorf("err = %v, want none: regionTemplate was left out", err)
		}
	})
}
