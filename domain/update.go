package domain

// Patch is one field of an update: left out (Set false, unchanged), or set to Value, where a nil Value
// clears the field.
type Patch[T any] struct {
	Set   bool
	Value T
}

// Set returns the Patch that sets a field to value.
func Set[T any](value T) Patch[T] { return Patch[T]{Set: true, Value: value} }

// UpdateOrganizationInput is the input of updateOrganization: the descriptive fields of the create,
// each one left out, set, or (nil) cleared.
type UpdateOrganizationInput struct {
	// Name cannot be cleared: nil is REQUIRED.
	Name Patch[*string]
	// Slug nil is unchanged, as left out.
	Slug              Patch[*string]
	Description       Patch[*string]
	AvatarURL         Patch[*string]
	CountryCode       Patch[*string]
	LanguageCode      Patch[*string]
	Locale            Patch[*string]
	Timezone          Patch[*string]
	Phone             Patch[*string]
	Headquarters      Patch[*Address]
	ContactEmails     Patch[[]string]
	BillingEmails     Patch[[]string]
	PrivacyPolicyURL  Patch[*string]
	TermsOfServiceURL Patch[*string]
	Coupons           Patch[[]string]
	RegionTemplate    Patch[*string]
	Subscription      Patch[*Subscription]
	// IsPrivate and IsDefault nil are false.
	IsPrivate Patch[*bool]
	IsDefault Patch[*bool]
}

// UpdatedOrganization applies in to cur under the rules of the create and returns the organization as
// the update leaves it, with the fields that change (OrganizationChanges). The fields in sets are
// checked, the others are kept as they are; every violation is returned at once as a *ValidationError,
// at its path relative to the input (["name"]).
func UpdatedOrganization(cur *Organization, in UpdateOrganizationInput, rules Rules) (*Organization, Changes, error) {
	var v Violations
	next := *cur
	if in.Name.Set {
		if in.Name.Value == nil {
			v.Add(Path{"name"}, VRequired, "name can be changed but not cleared")
		} else {
			next.Name = normalizeName(&v, Path{"name"}, *in.Name.Value)
		}
	}
	if in.Slug.Set && in.Slug.Value != nil {
		next.Slug = *in.Slug.Value
		ValidateSlug(&v, Path{"slug"}, next.Slug)
	}
	patch(&v, &next.Description, in.Description, "description", normalizeDescription)
	patch(&v, &next.AvatarURL, in.AvatarURL, "avatarUrl", normalizeURL)
	patch(&v, &next.PrivacyPolicyURL, in.PrivacyPolicyURL, "privacyPolicyUrl", normalizeURL)
	patch(&v, &next.TermsOfServiceURL, in.TermsOfServiceURL, "termsOfServiceUrl", normalizeURL)
	location := func(dst **string, p Patch[*string]) *string { // the value to check: only what is set
		if !p.Set {
			return nil
		}
		*dst = trimmed(p.Value)
		return *dst
	}
	validateLocation(&v, nil, location(&next.CountryCode, in.CountryCode), location(&next.LanguageCode, in.LanguageCode),
		location(&next.Locale, in.Locale), location(&next.Timezone, in.Timezone),
		location(&next.RegionTemplate, in.RegionTemplate), rules.Regions)
	patch(&v, &next.Phone, in.Phone, "phone", normalizePhone)
	patch(&v, &next.Headquarters, in.Headquarters, "headquarters", normalizeAddress)
	patch(&v, &next.ContactEmails, in.ContactEmails, "contactEmails", emailList)
	patch(&v, &next.BillingEmails, in.BillingEmails, "billingEmails", emailList)
	patch(&v, &next.Coupons, in.Coupons, "coupons", validateCoupons)
	patch(&v, &next.Subscription, in.Subscription, "subscription", normalizeSubscription)
	for _, f := range []struct {
		dst *bool
		in  Patch[*bool]
	}{{&next.IsPrivate, in.IsPrivate}, {&next.IsDefault, in.IsDefault}} {
		if f.in.Set {
			*f.dst = f.in.Value != nil && *f.in.Value
		}
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	return &next, OrganizationChanges(cur, &next), nil
}

// patch sets *dst to the normalised value of p when p is set, checking it with the field's rule.
func patch[T any](v *Violations, dst *T, p Patch[T], field string, rule func(*Violations, Path, T) T) {
	if p.Set {
		*dst = rule(v, Path{field}, p.Value)
	}
}

// OrganizationChanges lists the descriptive fields that differ from before to after, by their API
// names, with their JSON values (an address and a subscription as objects, a list empty rather than
// null).
func OrganizationChanges(before, after *Organization) Changes {
	var c Changes
	for _, f := range []struct {
		name          string
		before, after any
	}{
		{"name", before.Name, after.Name},
		{"slug", before.Slug, after.Slug},
		{"description", before.Description, after.Description},
		{"avatarUrl", before.AvatarURL, after.AvatarURL},
		{"countryCode", before.CountryCode, after.CountryCode},
		{"languageCode", before.LanguageCode, after.LanguageCode},
		{"locale", before.Locale, after.Locale},
		{"timezone", before.Timezone, after.Timezone},
		{"phone", before.Phone, after.Phone},
		{"headquarters", before.Headquarters, after.Headquarters},
		{"contactEmails", list(before.ContactEmails), list(after.ContactEmails)},
		{"billingEmails", list(before.BillingEmails), list(after.BillingEmails)},
		{"privacyPolicyUrl", before.PrivacyPolicyURL, after.PrivacyPolicyURL},
		{"termsOfServiceUrl", before.TermsOfServiceURL, after.TermsOfServiceURL},
		{"coupons", list(before.Coupons), list(after.Coupons)},
		{"regionTemplate", before.RegionTemplate, after.RegionTemplate},
		{"subscription", before.Subscription, after.Subscription},
		{"isPrivate", before.IsPrivate, after.IsPrivate},
		{"isDefault", before.IsDefault, after.IsDefault},
	} {
		c.Add(f.name, f.before, f.after)
	}
	return c
}

// list is s, empty rather than nil.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
