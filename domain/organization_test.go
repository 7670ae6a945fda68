package domain_test

import (
	"strings"
	"testing"

	"orgs/domain"
)

func ptr[T any](v T) *T { return &v }

func TestNewOrganizationFrom(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		o, err := domain.NewOrganizationFrom(domain.CreateOrganizationInput{
			Name: "  Acme  ", Slug: ptr("acme"), Description: ptr("  "), CountryCode: ptr("US"),
			LanguageCode: ptr("en"), IsDefault: ptr(true),
		}, domain.Rules{}, domain.Path{"input"})
		if err != nil {
			t.Fatal(err)
		}
		if o.Name != "Acme" || o.Slug != "acme" || o.Description != nil || o.Status != domain.StatusActive || !o.IsDefault || o.IsPrivate {
			t.Errorf("normalised = %+v", o)
		}
	})
	t.Run("ErrEveryViolationWithItsPath", func(t *testing.T) {
		_, err := domain.NewOrganizationFrom(domain.CreateOrganizationInput{
			Name: "", Slug: ptr("-x"), AvatarURL: ptr("mailto:a@b.c"), CountryCode: ptr("ZZ"),
			Status: ptr(domain.OrganizationStatus("GONE")),
		}, domain.Rules{}, domain.Path{"input"})
		verr, ok := err.(*domain.ValidationError)
		if !ok {
			t.Fatalf("err = %v, want *ValidationError", err)
		}
		var got []string
		for _, v := range verr.Violations {
			got = append(got, strings.Join(v.Field, ".")+"="+string(v.Code))
		}
		want := "input.name=BLANK input.slug=INVALID_FORMAT input.avatarUrl=INVALID_FORMAT input.countryCode=INVALID_VALUE input.status=INVALID_VALUE"
		if strings.Join(got, " ") != want {
			t.Errorf("violations = %v\nwant        %v", got, want)
		}
	})
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"Acme":                   "acme",
		"Crème Brûlée":           "creme-brulee",
		"  Hello,   World!  ":    "hello-world",
		"Straße":                 "strasse",
		"ÅngströmÆ":              "angstrom",
		"---":                    "",
		"a":                      "a",
		"2024 Co.":               "2024-co",
		strings.Repeat("ab", 40): strings.Repeat("ab", 40)[:63],
	} {
		if got := domain.Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSlugBaseAndSuffix(t *testing.T) {
	if got := domain.SlugBase("!!!"); got != "org" {
		t.Errorf("SlugBase(!!!) = %q", got)
	}
	if got := domain.SlugBase("Q"); got != "org-q" {
		t.Errorf("SlugBase(Q) = %q", got)
	}
	long := strings.Repeat("x", 63)
	if got := domain.SlugWithSuffix(long, 12); len(got) != 63 || !strings.HasSuffix(got, "-12") {
		t.Errorf("SlugWithSuffix = %q (%d), want 63 characters ending -12", got, len(got))
	}
	var v domain.Violations
	domain.ValidateSlug(&v, domain.Path{"slug"}, domain.SlugWithSuffix(long, 12))
	if len(v) != 0 {
		t.Errorf("suffixed slug invalid: %+v", v)
	}
}

func TestAPIKeys(t *testing.T) {
	k1, h1 := domain.NewAPIKey()
	k2, _ := domain.NewAPIKey()
	if k1 == k2 || !strings.HasPrefix(k1, domain.APIKeyPrefix) || len(k1) < 40 {
		t.Errorf("keys %q %q", k1, k2)
	}
	if string(domain.HashAPIKey(k1)) != string(h1) || strings.Contains(string(h1), k1) {
		t.Errorf("hash does not match or contains the key")
	}
	a := &domain.Actor{Permissions: []domain.Permission{domain.PermOrganizationRead}}
	if a.Require(domain.PermOrganizationRead) != nil || domain.ErrorCodeOf(a.Require(domain.PermOrganizationCreate)) != domain.EFORBIDDEN {
		t.Errorf("Require is wrong")
	}
	if p, ok := domain.ParsePermission("organization_create"); !ok || p != domain.PermOrganizationCreate {
		t.Errorf("ParsePermission = %v %v", p, ok)
	}
}
