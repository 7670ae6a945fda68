package domain_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"orgs/domain"
)

// Fuzz targets of the input rules: each mutation's input, slugs, domains, cursors and custom attribute
// values. Beyond "no panic" they check that every violation has a path and a known code, that what
// passes is normalised (validating it again gives it back unchanged) and storable, and that the rules
// are deterministic. Their seeds run with the ordinary tests; make fuzz runs each for a few seconds.

var knownViolationCodes = map[domain.ViolationCode]bool{
	domain.VRequired: true, domain.VBlank: true, domain.VTooShort: true, domain.VTooLong: true,
	domain.VInvalidFmt: true, domain.VInvalidValue: true, domain.VTaken: true, domain.VNotFound: true,
	domain.VTooMany: true, domain.VStale: true, domain.VInvalidState: true, domain.VLastOwner: true,
}

// checkViolations fails unless err is nil or a *ValidationError whose every violation is below base,
// with no empty path element, a known code and a message.
func checkViolations(t *testing.T, err error, base domain.Path) []domain.Violation {
	t.Helper()
	if err == nil {
		return nil
	}
	verr, ok := err.(*domain.ValidationError)
	if !ok || len(verr.Violations) == 0 {
		t.Fatalf("err = %#v, want a *ValidationError with violations", err)
	}
	for _, v := range verr.Violations {
		if len(v.Field) == 0 || len(v.Field) < len(base) {
			t.Fatalf("violation %+v: path not below %v", v, base)
		}
		for i := range base {
			if v.Field[i] != base[i] {
				t.Fatalf("violation %+v: path not below %v", v, base)
			}
		}
		for _, f := range v.Field {
			if f == "" {
				t.Fatalf("violation %+v: empty path element", v)
			}
		}
		if !knownViolationCodes[v.Code] || v.Message == "" {
			t.Fatalf("violation %+v: unknown code or no message", v)
		}
	}
	return verr.Violations
}

// storable fails when a string in v (struct fields, pointers, slices, maps, keys included) holds U+0000,
// which PostgreSQL stores in neither text nor jsonb, or is not valid UTF-8.
func storable(t *testing.T, v any) {
	t.Helper()
	var walk func(r reflect.Value, at string)
	walk = func(r reflect.Value, at string) {
		switch r.Kind() {
		case reflect.String:
			if s := r.String(); strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
				t.Fatalf("%s = %q: not storable", at, s)
			}
		case reflect.Pointer, reflect.Interface:
			if !r.IsNil() {
				walk(r.Elem(), at)
			}
		case reflect.Struct:
			for i := 0; i < r.NumField(); i++ {
				if r.Type().Field(i).IsExported() {
					walk(r.Field(i), at+"."+r.Type().Field(i).Name)
				}
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < r.Len(); i++ {
				walk(r.Index(i), at+"[]")
			}
		case reflect.Map:
			for _, k := range r.MapKeys() {
				walk(k, at+"{key}")
				walk(r.MapIndex(k), at+"{}")
			}
		}
	}
	walk(reflect.ValueOf(v), "")
}

// decodeInput decodes a fuzzed input as the API does (numbers as json.Number); false when it is not one
// JSON value of the input's shape.
func decodeInput(data []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(v) != nil {
		return false
	}
	_, err := dec.Token()
	return err != nil
}

func trimmedOrNil(t *testing.T, what string, s *string) {
	t.Helper()
	if s != nil && (*s == "" || strings.TrimSpace(*s) != *s) {
		t.Fatalf("%s = %q: not trimmed, or blank", what, *s)
	}
}

var slugRule = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func slugOK(t *testing.T, what, s string) {
	t.Helper()
	var v domain.Violations
	domain.ValidateSlug(&v, domain.Path{"slug"}, s)
	if len(v) != 0 {
		t.Fatalf("%s %q breaks the slug rule: %+v", what, s, v)
	}
}

// FuzzSlug: Slugify gives "" or a string of the slug pattern, and is idempotent; SlugBase and
// SlugWithSuffix give valid slugs; ValidateSlug reports at its path with known codes.
func FuzzSlug(f *testing.F) {
	for _, s := range []string{"Acme", "Crème Brûlée", "  Hello,   World!  ", "Straße", "ÅngströmÆ", "---", "a", "2024 Co.",
		strings.Repeat("ab", 40), strings.Repeat("word-", 20), "-x", "İstanbul", "ǅemal", "Ⅻ", "ﬁ", "\x00", "\xff", "a--b",
		strings.Repeat("a", 31) + " " + strings.Repeat("b", 40)} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, name string, n int) {
		s := domain.Slugify(name)
		if s != "" && (!slugRule.MatchString(s) || len(s) > domain.SlugMaxLen) {
			t.Fatalf("Slugify(%q) = %q: not a slug", name, s)
		}
		if again := domain.Slugify(s); again != s {
			t.Fatalf("Slugify(%q) = %q, Slugify of that = %q", name, s, again)
		}
		if domain.Slugify(name) != s {
			t.Fatalf("Slugify(%q) is not deterministic", name)
		}
		base := domain.SlugBase(name)
		slugOK(t, "SlugBase", base)
		slugOK(t, "SlugWithSuffix", domain.SlugWithSuffix(base, 2+int(uint(n)%100000)))
		var v domain.Violations
		domain.ValidateSlug(&v, domain.Path{"input", "slug"}, name)
		checkViolations(t, v.Err(), domain.Path{"input", "slug"})
		if (len(v) == 0) != (slugRule.MatchString(name) && len(name) >= domain.SlugMinLen && len(name) <= domain.SlugMaxLen) {
			t.Fatalf("ValidateSlug(%q): %+v", name, v)
		}
		checkViolations(t, domain.ValidateRestoreSlug(domain.Path{"slug"}, &name), domain.Path{"slug"})
		checkViolations(t, domain.ValidateReason(domain.Path{"input", "reason"}, &name), domain.Path{"input", "reason"})
		idem := domain.ValidateIdempotencyKey(domain.Path{"idempotencyKey"}, name)
		checkViolations(t, idem.Err(), domain.Path{"idempotencyKey"})
	})
}

// FuzzNormalizeDomain: a normalised domain normalises to itself; NormalizeNewDomain agrees with
// NormalizeDomain and refuses IP addresses and the generated domains' suffix.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM.", " bücher.example ", "xn--bcher-kva.example", "1.2.3.4", "[::1]", "::ffff:1.2.3.4",
		"acme.orgs.test", "orgs.test", "", ".", "..", "a..b", "-a.example", "a_b.example", "1.2.3", "0x7f.1",
		strings.Repeat("a", 64) + ".example", "ａｂｃ．example", "xn--a.example", "a\x00b.example", "é.", "fe80::1%eth0"} {
		f.Add(s, "orgs.test")
	}
	f.Fuzz(func(t *testing.T, raw, suffix string) {
		var v domain.Violations
		d, ok := domain.NormalizeDomain(&v, domain.Path{"input", "domain"}, raw)
		checkViolations(t, v.Err(), domain.Path{"input", "domain"})
		if ok != (len(v) == 0) {
			t.Fatalf("NormalizeDomain(%q): ok %v with %+v", raw, ok, v)
		}
		nd, err := domain.NormalizeNewDomain(raw, suffix, domain.Path{"domain"})
		checkViolations(t, err, domain.Path{"domain"})
		if !ok {
			if err == nil {
				t.Fatalf("NormalizeNewDomain(%q) passed what NormalizeDomain refused", raw)
			}
			return
		}
		if nd != d {
			t.Fatalf("NormalizeNewDomain(%q) = %q, NormalizeDomain = %q", raw, nd, d)
		}
		storable(t, d)
		if d != strings.ToLower(d) || strings.TrimSpace(d) != d || strings.HasSuffix(d, ".") {
			t.Fatalf("NormalizeDomain(%q) = %q: not normalised", raw, d)
		}
		var v2 domain.Violations
		if again, ok := domain.NormalizeDomain(&v2, domain.Path{"domain"}, d); !ok || again != d {
			t.Fatalf("NormalizeDomain(%q) = %q, which normalises to %q (%+v)", raw, d, again, v2)
		}
		if err == nil && domain.IsIPLiteral(d) {
			t.Fatalf("NormalizeNewDomain(%q) passed an IP address", raw)
		}
	})
}

// The rules the fuzz targets validate with, and the template of FuzzNewOrganizationFrom.
var fuzzRules = domain.Rules{Regions: []string{"us", "eu"}, DomainSuffix: "orgs.test", Now: time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)}

func fuzzTemplate(t *testing.T) *domain.Template {
	t.Helper()
	tpl, err := domain.NewTemplateFrom(domain.TemplateInput{
		Name: "Standard", CountryCode: ptr("FR"), LanguageCode: ptr("fr"), Timezone: ptr("Europe/Paris"), IsPrivate: ptr(true),
		DefaultProject: &domain.ProjectInput{Name: ptr("Main"), Type: ptr("BACKEND")},
		Definitions: []domain.AttributeDefinitionInput{
			{Key: "tier", Type: domain.AttrString, Required: ptr(true)}, {Key: "seats", Type: domain.AttrNumber, DefaultValue: json.Number("5")},
			{Key: "since", Type: domain.AttrDate}, {Key: "beta", Type: domain.AttrBoolean, DefaultValue: true},
			{Key: "meta", Type: domain.AttrJSON, DefaultValue: map[string]any{"a": []any{json.Number("1")}}},
		},
	}, fuzzRules.Regions, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// createInputOf is the input that describes o, the output of NewOrganizationFrom.
func createInputOf(o *domain.NewOrganization) domain.CreateOrganizationInput {
	in := domain.CreateOrganizationInput{
		Name: o.Name, Description: o.Description, AvatarURL: o.AvatarURL, CountryCode: o.CountryCode,
		LanguageCode: o.LanguageCode, Locale: o.Locale, Timezone: o.Timezone, Phone: o.Phone, Headquarters: o.Headquarters,
		ContactEmails: o.ContactEmails, BillingEmails: o.BillingEmails, PrimaryDomain: o.PrimaryDomain,
		PrivacyPolicyURL: o.PrivacyPolicyURL, TermsOfServiceURL: o.TermsOfServiceURL, Coupons: o.Coupons,
		RegionTemplate: o.RegionTemplate, Subscription: o.Subscription, IsPrivate: &o.IsPrivate, IsDefault: &o.IsDefault,
		Status: &o.Status, TemplateID: o.TemplateID, EmailConfirmationLandingPage: o.LandingPage,
	}
	if o.Slug != "" {
		in.Slug = &o.Slug
	}
	for _, a := range o.CustomAttributes {
		in.CustomAttributes = append(in.CustomAttributes, domain.AttributeInput{Key: a.Key, Value: a.Value})
	}
	if a := o.Administrator; a != nil {
		in.PrimaryAdministrator = &domain.AdministratorInput{FirstName: a.FirstName, LastName: a.LastName, Email: a.Email,
			Description: a.Description, Phone: a.Phone, Locale: a.Locale, Gender: a.Gender, Address: a.Address,
			MFA: &domain.MFAInput{Enabled: a.MFAEnabled, ExpirationInMinutes: a.MFAExpirationMinutes}}
		if a.DateOfBirth != nil {
			in.PrimaryAdministrator.DateOfBirth = ptr(a.DateOfBirth.Format(time.DateOnly))
		}
	}
	for i, p := range o.Projects {
		pi := projectInputOf(p)
		if i == 0 {
			in.DefaultProject = &pi
		} else {
			in.Projects = append(in.Projects, pi)
		}
	}
	return in
}

func projectInputOf(p domain.NewProject) domain.ProjectInput {
	return domain.ProjectInput{Name: &p.Name, Type: &p.Type, Mode: &p.Mode, ContactEmails: p.ContactEmails,
		SendFromEmail: p.SendFromEmail, DeepScan: &p.DeepScan, RealTimeScan: &p.RealTimeScan}
}

// FuzzNewOrganizationFrom: createOrganization's input, as JSON, with or without a template.
func FuzzNewOrganizationFrom(f *testing.F) {
	for _, s := range []string{
		`{"name":"  Acme  ","slug":"acme","description":"  ","countryCode":"US","languageCode":"en","isDefault":true}`,
		`{"name":"","slug":"-x","avatarUrl":"mailto:a@b.c","countryCode":"ZZ","status":"GONE"}`,
		`{"name":"Acme","locale":"en-US","timezone":"Europe/Paris","phone":"+14155552671","regionTemplate":"eu",
		  "headquarters":{"countryCode":"FR","city":" Paris ","address1":""},"contactEmails":["a@example.com"," A@example.com ","b@example.com"],
		  "billingEmails":["Ada <ada@example.com>"],"primaryDomain":"Bücher.Example.","privacyPolicyUrl":"https://acme.example/privacy",
		  "termsOfServiceUrl":"http://acme.example/tos","coupons":["WELCOME","x"],"subscription":{"plan":" pro ","billingCycle":"MONTHLY"},
		  "isPrivate":true,"status":"INACTIVE","customAttributes":[{"key":"tier","value":"gold"},{"key":"seats","value":12},
		  {"key":"since","value":"2024-02-29"},{"key":"meta","value":{"a":[1,2.5e3,null]}},{"key":"beta","value":false}]}`,
		`{"name":"Acme","primaryAdministrator":{"firstName":" Ada ","lastName":"Lovelace","email":"ada@example.com","phone":"+33612345678",
		  "locale":"fr-FR","gender":"FEMALE","dateOfBirth":"1990-04-25","address":{"city":"London"},"mfa":{"enabled":true,"expirationInMinutes":60}},
		  "emailConfirmationLandingPage":"https://app.example/confirm"}`,
		`{"name":"Acme","primaryAdministrator":{"firstName":"","lastName":"x","email":"nope","dateOfBirth":"2999-01-01","mfa":{"expirationInMinutes":0}}}`,
		`{"name":"Acme","defaultProject":{"name":" Site ","type":"WEBSITE","mode":"TEST","contactEmails":[],"sendFromEmail":{"email":"n@acme.example","name":" N "}},
		  "projects":[{"name":"site"},{"name":"Site 2","type":"ROCKET"},{"name":"Default project"},{}]}`,
		`{"name":"Acme","primaryDomain":"acme.orgs.test","slug":"a"}`, `{"name":"Acme","primaryDomain":"[::1]"}`,
		`{"name":"Acme","customAttributes":[{"key":"1x","value":1},{"key":"k","value":null},{"key":"k2","value":"` + strings.Repeat("é", 2001) + `"}]}`,
		`{"name":"x\u2028y"}`, `{"name":"Acme","contactEmails":["\"a\\u0000\"@example.com"]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, withTemplate bool) {
		var in domain.CreateOrganizationInput
		if !decodeInput(data, &in) {
			return
		}
		rules := fuzzRules
		if withTemplate {
			rules.Template = fuzzTemplate(t)
		}
		base := domain.Path{"input"}
		o, err := domain.NewOrganizationFrom(in, rules, base)
		o2, err2 := domain.NewOrganizationFrom(in, rules, base)
		if !reflect.DeepEqual(o, o2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("not deterministic: %+v %v, then %+v %v", o, err, o2, err2)
		}
		checkViolations(t, err, base)
		if err != nil {
			return
		}
		storable(t, o)
		if strings.TrimSpace(o.Name) != o.Name || o.Name == "" {
			t.Fatalf("name %q", o.Name)
		}
		for what, s := range map[string]*string{"description": o.Description, "avatarUrl": o.AvatarURL, "countryCode": o.CountryCode,
			"languageCode": o.LanguageCode, "locale": o.Locale, "timezone": o.Timezone, "phone": o.Phone, "regionTemplate": o.RegionTemplate,
			"privacyPolicyUrl": o.PrivacyPolicyURL, "termsOfServiceUrl": o.TermsOfServiceURL, "landingPage": o.LandingPage} {
			trimmedOrNil(t, what, s)
		}
		if o.Slug != "" {
			slugOK(t, "slug", o.Slug)
		}
		if o.PrimaryDomain != nil {
			var v domain.Violations
			if d, ok := domain.NormalizeDomain(&v, nil, *o.PrimaryDomain); !ok || d != *o.PrimaryDomain {
				t.Fatalf("primaryDomain %q normalises to %q", *o.PrimaryDomain, d)
			}
		}
		checkAttributes(t, o.CustomAttributes)
		slugs := map[string]bool{}
		for i, p := range o.Projects {
			slugOK(t, "project slug", p.Slug)
			if slugs[p.Slug] || p.IsDefault != (i == 0) {
				t.Fatalf("projects %+v: slugs not unique, or not one default first", o.Projects)
			}
			slugs[p.Slug] = true
		}
		// What passed is normalised: described again, it validates to itself.
		again, err := domain.NewOrganizationFrom(createInputOf(o), rules, base)
		if err != nil || !reflect.DeepEqual(again, o) {
			t.Fatalf("validated again: %v\n%+v\nwas %+v", err, again, o)
		}
	})
}

// checkAttributes checks stored attributes: a known type, a value of that type, at most 8 KiB as JSON.
func checkAttributes(t *testing.T, as []domain.Attribute) {
	t.Helper()
	for _, a := range as {
		var ok bool
		switch x := a.Value.(type) {
		case string:
			_, err := time.Parse(time.DateOnly, x)
			ok = a.Type == domain.AttrString && utf8.RuneCountInString(x) <= domain.AttributeStringMax || a.Type == domain.AttrDate && err == nil
		case json.Number:
			ok = a.Type == domain.AttrNumber
		case bool:
			ok = a.Type == domain.AttrBoolean
		case map[string]any, []any:
			ok = a.Type == domain.AttrJSON
		}
		if !ok {
			t.Fatalf("attribute %q typed %s holds %#v", a.Key, a.Type, a.Value)
		}
		if n := storedJSONSize(t, a.Value); n > domain.AttributeValueMaxBytes {
			t.Fatalf("attribute %q: %d bytes as stored JSON, over %d", a.Key, n, domain.AttributeValueMaxBytes)
		}
		storable(t, a)
	}
}

// storedJSONSize is the length of v as compact JSON as PostgreSQL's jsonb gives it back: numbers in plain
// decimal notation (1e3 as 1000).
func storedJSONSize(t *testing.T, v any) int {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("a stored value does not encode: %v", err)
	}
	n := b.Len() - 1
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case json.Number:
			n += plainDecimalLen(t, string(x)) - len(x)
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return n
}

// plainDecimalLen is the length of the JSON number s written without an exponent.
func plainDecimalLen(t *testing.T, s string) int {
	t.Helper()
	m := regexp.MustCompile(`^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%q is not a JSON number", s)
	}
	intDigits, fracDigits := len(m[2]), len(m[3])
	exp := 0
	for _, c := range strings.TrimLeft(m[4], "+-") {
		if exp = exp*10 + int(c-'0'); exp > 1<<24 {
			break
		}
	}
	if strings.HasPrefix(m[4], "-") {
		exp = -exp
	}
	n := len(m[1]) + max(1, intDigits+exp)
	if frac := fracDigits - exp; frac > 0 {
		n += 1 + frac
	}
	return n
}
