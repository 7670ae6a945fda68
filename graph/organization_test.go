package graph_test

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	payload := a.create(a.key, map[string]any{
		"clientMutationId": "m-1",
		"name":             "  Crème Brûlée & Co.  ",
		"description":      "Desserts",
		"avatarUrl":        "https://cdn.example.com/a.png",
		"countryCode":      "FR",
		"languageCode":     "fr",
		"isPrivate":        true,
		"status":           "INACTIVE",
	})
	if errs := userErrors(payload); len(errs) != 0 {
		t.Fatalf("userErrors: %+v", errs)
	}
	if payload["clientMutationId"] != "m-1" {
		t.Errorf("clientMutationId = %v, want m-1", payload["clientMutationId"])
	}
	o := payload["organization"].(map[string]any)
	want := map[string]any{
		"name": "Crème Brûlée & Co.", "slug": "creme-brulee-co", "description": "Desserts",
		"avatarUrl": "https://cdn.example.com/a.png", "countryCode": "FR", "languageCode": "fr",
		"primaryDomain": "creme-brulee-co.orgs.test", "isPrivate": true, "isDefault": false, "isSystem": false,
		"status": "INACTIVE", "isActive": false, "totalMembers": float64(1), "createdBy": a.actor.UserID,
	}
	for k, v := range want {
		if o[k] != v {
			t.Errorf("%s = %#v, want %#v", k, o[k], v)
		}
	}
	for _, k := range []string{"createdAt", "updatedAt", "statusChangedAt"} {
		if s, _ := o[k].(string); !rfc3339UTC.MatchString(s) {
			t.Errorf("%s = %q, want RFC 3339 in UTC", k, o[k])
		}
	}
	created, _ := time.Parse(time.RFC3339Nano, o["createdAt"].(string))
	if d := time.Since(created); d < 0 || d > time.Minute {
		t.Errorf("createdAt %v is not now", created)
	}
	details := o["details"].(map[string]any)
	if details["sequence"] != float64(1) || details["resourceOwner"] != a.actor.TenantID ||
		details["creationDate"] != o["createdAt"] || details["changeDate"] != o["updatedAt"] {
		t.Errorf("details = %v", details)
	}
	domains := o["domains"].([]any)
	if len(domains) != 1 || fmt.Sprint(domains[0]) != fmt.Sprint(map[string]any{
		"domain": "creme-brulee-co.orgs.test", "isPrimary": true, "isVerified": true, "isGenerated": true}) {
		t.Errorf("domains = %v", domains)
	}
	dp := o["defaultProject"].(map[string]any)
	if dp["organizationId"] != o["id"] || dp["isDefault"] != true || dp["name"] != "Default project" ||
		dp["type"] != "WEBSITE" || dp["mode"] != "LIVE" || dp["status"] != "ACTIVE" || dp["isActive"] != true ||
		dp["isTest"] != false || len(dp["contactEmails"].([]any)) != 0 || dp["sendFromEmail"] != nil {
		t.Errorf("defaultProject = %v", dp)
	}
	if projects := o["projects"].([]any); len(projects) != 1 || projects[0].(map[string]any)["id"] != dp["id"] {
		t.Errorf("projects = %v, want the default project alone", projects)
	}
	for _, list := range []string{"owners", "members"} {
		ms := o[list].([]any)
		if len(ms) != 1 {
			t.Fatalf("%s = %v, want the caller alone", list, ms)
		}
		m := ms[0].(map[string]any)
		if m["userId"] != a.actor.UserID || m["email"] != a.actor.Email || m["name"] != a.actor.Name ||
			m["role"] != "OWNER" || m["status"] != "ACTIVE" || m["joinedAt"] != o["createdAt"] {
			t.Errorf("%s[0] = %v", list, m)
		}
	}
	for table, n := range map[string]int{"organizations": 1, "projects": 1, "memberships": 1, "organization_domains": 1, "audit_events": 1} {
		if got := a.count(table); got != n {
			t.Errorf("%s: %d rows, want %d", table, got, n)
		}
	}
	var event struct {
		Type     string `db:"type"`
		Sequence int    `db:"sequence"`
		Actor    string `db:"actor_user_id"`
	}
	if err := a.store.DB().Get(&event, `SELECT type, sequence, actor_user_id FROM audit_events WHERE tenant_id = $1`, a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	if event.Type != "organization.created" || event.Sequence != 1 || event.Actor != a.actor.UserID {
		t.Errorf("audit event = %+v", event)
	}

	// Read it back, nested, by slug and by id.
	for _, args := range []string{`slug: "creme-brulee-co"`, fmt.Sprintf("id: %q", o["id"])} {
		r := a.post(a.key, `{ organization(`+args+`) {`+organizationFields+`} }`, nil)
		if len(r.Errors) != 0 {
			t.Fatalf("organization(%s): %v", args, r.Errors)
		}
		if got := r.Data["organization"]; fmt.Sprint(got) != fmt.Sprint(o) {
			t.Errorf("organization(%s) =\n%v\nwant what the create returned:\n%v", args, got, o)
		}
	}
}

func TestCreateOrganizationDefaults(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.create(a.key, map[string]any{"name": "Acme"})["organization"].(map[string]any)
	for k, v := range map[string]any{"slug": "acme", "status": "ACTIVE", "isActive": true, "isPrivate": false,
		"isDefault": false, "description": nil, "avatarUrl": nil, "countryCode": nil, "languageCode": nil} {
		if o[k] != v {
			t.Errorf("%s = %#v, want %#v", k, o[k], v)
		}
	}
}

// createValidationCases are the checks of the organization's first fields, one violation each; the
// update shares them.
func createValidationCases() []validationCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	return []validationCase{
		{"ErrNameBlank", map[string]any{"name": "   "}, "input.name", "BLANK"},
		{"ErrNameEmpty", map[string]any{"name": ""}, "input.name", "BLANK"},
		{"ErrNameTooLong", map[string]any{"name": long(201)}, "input.name", "TOO_LONG"},
		{"ErrNameControlCharacter", map[string]any{"name": "Acme\u0007Corp"}, "input.name", "INVALID_FORMAT"},
		{"ErrNameNewline", map[string]any{"name": "Acme\nCorp"}, "input.name", "INVALID_FORMAT"},
		{"ErrSlugBlank", map[string]any{"name": "Acme", "slug": ""}, "input.slug", "BLANK"},
		{"ErrSlugTooShort", map[string]any{"name": "Acme", "slug": "a"}, "input.slug", "TOO_SHORT"},
		{"ErrSlugTooLong", map[string]any{"name": "Acme", "slug": long(64)}, "input.slug", "TOO_LONG"},
		{"ErrSlugUpperCase", map[string]any{"name": "Acme", "slug": "Acme"}, "input.slug", "INVALID_FORMAT"},
		{"ErrSlugLeadingDash", map[string]any{"name": "Acme", "slug": "-acme"}, "input.slug", "INVALID_FORMAT"},
		{"ErrSlugTrailingDash", map[string]any{"name": "Acme", "slug": "acme-"}, "input.slug", "INVALID_FORMAT"},
		{"ErrSlugUnderscore", map[string]any{"name": "Acme", "slug": "acme_corp"}, "input.slug", "INVALID_FORMAT"},
		{"ErrDescriptionTooLong", map[string]any{"name": "Acme", "description": long(2001)}, "input.description", "TOO_LONG"},
		{"ErrAvatarNotHTTP", map[string]any{"name": "Acme", "avatarUrl": "ftp://example.com/a.png"}, "input.avatarUrl", "INVALID_FORMAT"},
		{"ErrAvatarRelative", map[string]any{"name": "Acme", "avatarUrl": "/a.png"}, "input.avatarUrl", "INVALID_FORMAT"},
		{"ErrAvatarTooLong", map[string]any{"name": "Acme", "avatarUrl": "https://example.com/" + long(2030)}, "input.avatarUrl", "TOO_LONG"},
		{"ErrCountryLowerCase", map[string]any{"name": "Acme", "countryCode": "us"}, "input.countryCode", "INVALID_FORMAT"},
		{"ErrCountryAlpha3", map[string]any{"name": "Acme", "countryCode": "USA"}, "input.countryCode", "INVALID_FORMAT"},
		{"ErrCountryUnknown", map[string]any{"name": "Acme", "countryCode": "XX"}, "input.countryCode", "INVALID_VALUE"},
		{"ErrLanguageUpperCase", map[string]any{"name": "Acme", "languageCode": "EN"}, "input.languageCode", "INVALID_FORMAT"},
		{"ErrLanguageAlpha3", map[string]any{"name": "Acme", "languageCode": "eng"}, "input.languageCode", "INVALID_FORMAT"},
		{"ErrLanguageUnknown", map[string]any{"name": "Acme", "languageCode": "xx"}, "input.languageCode", "INVALID_VALUE"},
	}
}

func TestCreateOrganizationValidation(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range createValidationCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			payload := a.create(a.key, tc.input)
			errs := userErrors(payload)
			if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Code != tc.code || errs[0].Message == "" {
				t.Fatalf("userErrors = %+v, want one %s at %s", errs, tc.code, tc.field)
			}
			if payload["organization"] != nil {
				t.Errorf("organization = %v, want null", payload["organization"])
			}
			a.assertNothingWritten()
		})
	}
	t.Run("OKLimits", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		payload := a.create(a.key, map[string]any{"name": strings.Repeat("é", 200), "slug": long(63),
			"description": long(2000), "avatarUrl": "http://example.com/" + long(2048-19)})
		if errs := userErrors(payload); len(errs) != 0 {
			t.Fatalf("userErrors at the limits: %+v", errs)
		}
	})
	t.Run("ErrStatusNotAnEnumValue", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		r := a.post(a.key, createMutation, map[string]any{"input": map[string]any{"name": "Acme", "status": "DELETED"}})
		if len(r.Errors) != 1 || r.Data["createOrganization"] != nil {
			t.Fatalf("errors = %+v, data = %v; want one coercion error", r.Errors, r.Data)
		}
		a.assertNothingWritten()
	})
}

func TestCreateOrganizationReportsEveryViolation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.create(a.key, map[string]any{"name": "Taken", "slug": "taken"})
	payload := a.create(a.key, map[string]any{
		"name": "", "slug": "taken", "description": strings.Repeat("x", 2001), "avatarUrl": "nope",
		"countryCode": "usa", "languageCode": "xx",
	})
	got := map[string]string{}
	for _, e := range userErrors(payload) {
		got[e.Field] = e.Code
	}
	want := map[string]string{
		"input.name": "BLANK", "input.slug": "TAKEN", "input.description": "TOO_LONG",
		"input.avatarUrl": "INVALID_FORMAT", "input.countryCode": "INVALID_FORMAT", "input.languageCode": "INVALID_VALUE",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("userErrors = %v, want %v", got, want)
	}
	if payload["organization"] != nil {
		t.Errorf("organization = %v, want null", payload["organization"])
	}
	if n := a.count("organizations"); n != 1 {
		t.Errorf("%d organizations, want only the first", n)
	}
}

func TestSlugs(t *testing.T) {
	t.Parallel()
	t.Run("GeneratedFromName", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		for name, want := range map[string]string{
			"Straße Ærø Ünïcödé": "strasse-r-unicode", "  ACME   Corp!!  ": "acme-corp", "北京": "org", "X": "org-x",
			strings.Repeat("long ", 30): strings.TrimSuffix(strings.Repeat("long-", 12), "-"),
		} {
			o := a.create(a.key, map[string]any{"name": name})["organization"].(map[string]any)
			if o["slug"] != want {
				t.Errorf("slug of %q = %v, want %s", name, o["slug"], want)
			}
		}
	})
	t.Run("CollisionGetsSuffix", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		var slugs []string
		for range 3 {
			slugs = append(slugs, a.create(a.key, map[string]any{"name": "Acme"})["organization"].(map[string]any)["slug"].(string))
		}
		if want := []string{"acme", "acme-2", "acme-3"}; !slices.Equal(slugs, want) {
			t.Errorf("slugs = %v, want %v", slugs, want)
		}
	})
	t.Run("ErrTakenWithSuggestions", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		a.create(a.key, map[string]any{"name": "Acme", "slug": "acme"})
		a.create(a.key, map[string]any{"name": "Acme 2", "slug": "acme-2"})
		payload := a.create(a.key, map[string]any{"name": "Another Acme", "slug": "acme"})
		errs := userErrors(payload)
		if len(errs) != 1 || errs[0].Field != "input.slug" || errs[0].Code != "TAKEN" {
			t.Fatalf("userErrors = %+v, want TAKEN at input.slug", errs)
		}
		if want := []string{"acme-3", "acme-4", "acme-5"}; !slices.Equal(errs[0].Suggestions, want) {
			t.Errorf("suggestions = %v, want %v", errs[0].Suggestions, want)
		}
		// A suggestion is free: taking it works.
		if errs := userErrors(a.create(a.key, map[string]any{"name": "Another Acme", "slug": errs[0].Suggestions[0]})); len(errs) != 0 {
			t.Errorf("suggested slug refused: %+v", errs)
		}
	})
	t.Run("ConcurrentCreatesWithOneSlugHaveOneWinner", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		const n = 20
		results := make([]map[string]any, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				if results[i], err = a.tryCreate(a.key, map[string]any{"name": fmt.Sprintf("Racer %d", i), "slug": "race"}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		won, taken := 0, 0
		for _, p := range results {
			if p == nil {
				continue
			}
			if p["organization"] != nil {
				won++
			} else if errs := userErrors(p); len(errs) == 1 && errs[0].Code == "TAKEN" {
				taken++
			}
		}
		if won != 1 || taken != n-1 {
			t.Errorf("%d won and %d got TAKEN, want 1 and %d", won, taken, n-1)
		}
		if c := a.count("organizations"); c != 1 {
			t.Errorf("%d organizations, want 1", c)
		}
	})
	t.Run("ConcurrentCreatesWithOneNameGetDistinctSlugs", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		const n = 20
		slugs := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				p, err := a.tryCreate(a.key, map[string]any{"name": "Same Name"})
				if err != nil {
					t.Error(err)
					return
				}
				slugs[i] = p["organization"].(map[string]any)["slug"].(string)
			})
		}
		wg.Wait()
		sort.Strings(slugs)
		if slugs = slices.Compact(slugs); len(slugs) != n {
			t.Errorf("%d distinct slugs, want %d: %v", len(slugs), n, slugs)
		}
	})
	t.Run("PerTenant", func(t *testing.T) {
		t.Parallel()
		a, b := newAPI(t), newAPIInOtherTenant(t)
		a.create(a.key, map[string]any{"name": "Acme", "slug": "shared"})
		if errs := userErrors(b.create(b.key, map[string]any{"name": "Acme", "slug": "shared"})); len(errs) != 0 {
			t.Errorf("another tenant's slug refused: %+v", errs)
		}
	})
}

func TestDefaultOrganization(t *testing.T) {
	t.Parallel()
	t.Run("NewDefaultDemotesTheOld", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		first := a.create(a.key, map[string]any{"name": "First", "isDefault": true})["organization"].(map[string]any)
		a.create(a.key, map[string]any{"name": "Second", "isDefault": true})
		r := a.post(a.key, `{ organization(slug: "first") { isDefault details { sequence changeDate } } }`, nil)
		o := r.Data["organization"].(map[string]any)
		if o["isDefault"] != false {
			t.Errorf("first organization is still default")
		}
		if d := o["details"].(map[string]any); d["sequence"] != float64(2) || d["changeDate"] == first["updatedAt"] {
			t.Errorf("demotion not recorded: details = %v", d)
		}
		if n := a.count("audit_events"); n != 3 {
			t.Errorf("%d audit events, want 3 (two creates, one demotion)", n)
		}
	})
	t.Run("ConcurrentDefaultsLeaveOne", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		const n = 10
		var wg sync.WaitGroup
		failures := make(chan string, n)
		for i := range n {
			wg.Go(func() {
				p, err := a.tryCreate(a.key, map[string]any{"name": fmt.Sprintf("Default %d", i), "isDefault": true})
				if err != nil {
					failures <- err.Error()
				} else if p["organization"] == nil {
					failures <- fmt.Sprint(userErrors(p))
				}
			})
		}
		wg.Wait()
		close(failures)
		for f := range failures {
			t.Errorf("create failed: %s", f)
		}
		var defaults, organizations, events int
		a.store.DB().Get(&defaults, `SELECT count(*) FROM organizations WHERE tenant_id = $1 AND is_default`, a.actor.TenantID)
		a.store.DB().Get(&organizations, `SELECT count(*) FROM organizations WHERE tenant_id = $1`, a.actor.TenantID)
		a.store.DB().Get(&events, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND type = 'organization.default_revoked'`, a.actor.TenantID)
		if defaults != 1 || organizations != n || events != n-1 {
			t.Errorf("%d defaults among %d organizations with %d demotions, want 1 among %d with %d", defaults, organizations, events, n, n-1)
		}
	})
}

func TestValidateOnly(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	payload := a.create(a.key, map[string]any{"name": "Dry Run", "isDefault": true, "validateOnly": true})
	if errs := userErrors(payload); len(errs) != 0 || payload["organization"] != nil {
		t.Fatalf("validateOnly: userErrors %+v, organization %v; want neither", errs, payload["organization"])
	}
	a.assertNothingWritten()

	payload = a.create(a.key, map[string]any{"name": "", "validateOnly": true})
	if errs := userErrors(payload); len(errs) != 1 || errs[0].Code != "BLANK" {
		t.Errorf("validateOnly with a blank name: %+v", errs)
	}

	a.create(a.key, map[string]any{"name": "Real", "slug": "real", "isDefault": true})
	payload = a.create(a.key, map[string]any{"name": "Real again", "slug": "real", "validateOnly": true})
	if errs := userErrors(payload); len(errs) != 1 || errs[0].Code != "TAKEN" {
		t.Errorf("validateOnly with a taken slug: %+v, want TAKEN", errs)
	}
	a.create(a.key, map[string]any{"name": "Would be default", "isDefault": true, "validateOnly": true})
	var isDefault bool
	a.store.DB().Get(&isDefault, `SELECT is_default FROM organizations WHERE tenant_id = $1 AND slug = 'real'`, a.actor.TenantID)
	if n := a.count("organizations"); n != 1 || !isDefault {
		t.Errorf("validateOnly changed data: %d organizations, default kept: %v", n, isDefault)
	}
}

func TestOrganizationQuery(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.create(a.key, map[string]any{"name": "Readable"})["organization"].(map[string]any)["id"].(string)
	for _, args := range []string{`slug: "missing"`, `id: "00000000-0000-0000-0000-000000000000"`, `id: "not-a-uuid"`} {
		r := a.post(a.key, `{ organization(`+args+`) { id } }`, nil)
		if len(r.Errors) != 0 || r.Data["organization"] != nil {
			t.Errorf("organization(%s) = %v, %v; want null without error", args, r.Data, r.Errors)
		}
	}
	for _, args := range []string{``, fmt.Sprintf(`id: %q, slug: "readable"`, id)} {
		r := a.post(a.key, `{ organization`+map[bool]string{true: "", false: "(" + args + ")"}[args == ""]+` { id } }`, nil)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Errorf("organization(%s): errors %+v, want one BAD_USER_INPUT", args, r.Errors)
		}
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	a, b := newAPI(t), newAPIInOtherTenant(t)
	id := a.create(a.key, map[string]any{"name": "Private Corp", "slug": "private-corp"})["organization"].(map[string]any)["id"].(string)
	for _, args := range []string{`slug: "private-corp"`, fmt.Sprintf("id: %q", id)} {
		r := b.post(b.key, `{ organization(`+args+`) { id name } }`, nil)
		if len(r.Errors) != 0 || r.Data["organization"] != nil {
			t.Errorf("another tenant read organization(%s): %v %v", args, r.Data, r.Errors)
		}
	}
	r := b.post(b.key, `{ viewer { tenant { id } } }`, nil)
	if got := r.Data["viewer"].(map[string]any)["tenant"].(map[string]any)["id"]; got == a.actor.TenantID {
		t.Fatalf("both keys are in one tenant")
	}
}
