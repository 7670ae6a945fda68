package service_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"orgs/domain"
	"orgs/service"
)

func TestCreateOrganizationSlugs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(service.Config{})

	t.Run("SameNameTwice", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		var slugs []string
		for range 2 {
			o, err := s.CreateOrganization(ctx, a, domain.CreateOrganizationInput{Name: "Acme Corp"}, service.CreateOptions{})
			if err != nil {
				t.Fatalf("CreateOrganization: %v", err)
			}
			slugs = append(slugs, o.Slug)
		}
		if want := []string{"acme-corp", "acme-corp-2"}; !slices.Equal(slugs, want) {
			t.Errorf("slugs = %q, want %q", slugs, want)
		}
		if n := count(t, a.TenantID, "organization_domains", `domain IN ('acme-corp.orgs.test', 'acme-corp-2.orgs.test') AND is_primary`); n != 2 {
			t.Errorf("%d generated primary domains following the slugs, want 2", n)
		}
	})

	// Creates of one name at once race for the same generated slug: the losers retry with the next free
	// one, so that every create succeeds, and the slugs leave no gap.
	t.Run("ConcurrentSameName", func(t *testing.T) {
		t.Parallel()
		const creates = 10
		a := newActor(t, "tenant")
		var wg sync.WaitGroup
		slugs := make([]string, creates)
		for i := range creates {
			wg.Go(func() {
				o, err := s.CreateOrganization(ctx, a, domain.CreateOrganizationInput{Name: "Acme"}, service.CreateOptions{})
				if err != nil {
					t.Errorf("create %d: %v", i, err)
					return
				}
				slugs[i] = o.Slug
			})
		}
		wg.Wait()
		want := []string{"acme"}
		for i := 2; i <= creates; i++ {
			want = append(want, fmt.Sprintf("acme-%d", i))
		}
		slices.Sort(slugs)
		slices.Sort(want)
		if !slices.Equal(slugs, want) {
			t.Errorf("slugs = %q, want %q", slugs, want)
		}
		if n := count(t, a.TenantID, "organizations"); n != creates {
			t.Errorf("%d organizations, want %d", n, creates)
		}
	})

	t.Run("ErrSlugTaken", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		if _, err := s.CreateOrganization(ctx, a, domain.CreateOrganizationInput{Name: "Acme"}, service.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := rows(t, a.TenantID)
		for _, tc := range []struct {
			name string
			in   domain.CreateOrganizationInput
			// others are the violations expected beside the taken slug.
			others []string
		}{
			{"Alone", domain.CreateOrganizationInput{Name: "Other", Slug: ptr("acme")}, nil},
			{"WithAnAdministrator", withAdministrator(domain.CreateOrganizationInput{Name: "Other", Slug: ptr("acme")}, "ada@example.com"), nil},
			{"WithOtherViolations", domain.CreateOrganizationInput{Name: "", Slug: ptr("acme")}, []string{"name BLANK"}},
		} {
			_, err := s.CreateOrganization(ctx, a, tc.in, service.CreateOptions{})
			var got []string
			taken := 0
			for _, v := range violationsOf(t, err) {
				if slices.Equal(v.Field, []string{"slug"}) {
					taken++
					if v.Code != domain.VTaken || !slices.Equal(v.Suggestions, []string{"acme-2", "acme-3", "acme-4"}) {
						t.Errorf("%s: slug violation = %+v, want TAKEN suggesting acme-2, acme-3, acme-4", tc.name, v)
					}
					continue
				}
				got = append(got, strings.Join(v.Field, ".")+" "+string(v.Code))
			}
			if taken != 1 {
				t.Errorf("%s: %d violations at [slug], want 1", tc.name, taken)
			}
			if !slices.Equal(got, tc.others) {
				t.Errorf("%s: other violations %q, want %q", tc.name, got, tc.others)
			}
			assertUnchanged(t, a.TenantID, before)
		}
	})
}

// Violations are at paths from the argument (the input), never starting with "input": the GraphQL
// layer adds the argument's name.
func TestCreateOrganizationViolationPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(service.Config{})
	for _, tc := range []struct {
		name string
		in   domain.CreateOrganizationInput
		opt  service.CreateOptions
		want []string // path code
	}{
		{"Name", domain.CreateOrganizationInput{Name: " "}, service.CreateOptions{}, []string{"name BLANK"}},
		{"AdministratorEmail", withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "not an address"), service.CreateOptions{},
			[]string{"primaryAdministrator.email INVALID_FORMAT"}},
		{"AdministratorIsTheCaller", withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "Owner@Example.com"), service.CreateOptions{},
			[]string{"primaryAdministrator.email INVALID_VALUE"}},
		{"IdempotencyKey", domain.CreateOrganizationInput{Name: "Acme"}, service.CreateOptions{IdempotencyKey: ptr("")},
			[]string{"idempotencyKey BLANK"}},
		{"IdempotencyKeyValidateOnly", domain.CreateOrganizationInput{Name: "Acme"}, service.CreateOptions{IdempotencyKey: ptr("\x01"), ValidateOnly: true},
			[]string{"idempotencyKey INVALID_FORMAT"}},
		{"TemplateID", domain.CreateOrganizationInput{Name: "Acme", TemplateID: ptr("3b241101-e2bb-4255-8caf-4136c566a962")}, service.CreateOptions{},
			[]string{"templateId NOT_FOUND"}},
		{"Project", domain.CreateOrganizationInput{Name: "Acme", Projects: []domain.ProjectInput{{Name: ptr("")}}}, service.CreateOptions{},
			[]string{"projects.0.name BLANK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newActor(t, "tenant")
			before := rows(t, a.TenantID)
			_, err := s.CreateOrganization(ctx, a, tc.in, tc.opt)
			var got []string
			for _, v := range violationsOf(t, err) {
				got = append(got, strings.Join(v.Field, ".")+" "+string(v.Code))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("violations = %q, want %q", got, tc.want)
			}
			assertUnchanged(t, a.TenantID, before)
		})
	}
}

func TestCreateOrganizationWithoutActor(t *testing.T) {
	t.Parallel()
	_, err := newService(service.Config{}).CreateOrganization(context.Background(), nil, domain.CreateOrganizationInput{Name: "Acme"}, service.CreateOptions{})
	if domain.ErrorCodeOf(err) != domain.EUNAUTHENTICATED {
		t.Errorf("CreateOrganization without actor = %v, want UNAUTHENTICATED", err)
	}
}

// EmailQueued wakes the mail worker: it is called once a create that queued an email has committed,
// and never otherwise.
func TestEmailQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := func(name string) domain.CreateOrganizationInput {
		return withAdministrator(domain.CreateOrganizationInput{Name: name}, "ada@example.com")
	}
	type create struct {
		in  domain.CreateOrganizationInput
		opt service.CreateOptions
	}
	for _, tc := range []struct {
		name    string
		creates []create
		want    int
	}{
		{"OK", []create{{admin("Acme"), service.CreateOptions{}}}, 1},
		{"WithoutAdministrator", []create{{domain.CreateOrganizationInput{Name: "Acme"}, service.CreateOptions{}}}, 0},
		{"ValidateOnly", []create{{admin("Acme"), service.CreateOptions{ValidateOnly: true}}}, 0},
		{"RefusedSlugTaken", []create{{admin("Taken"), service.CreateOptions{}}, {withSlug(admin("Other"), "taken"), service.CreateOptions{}}}, 1},
		{"RefusedInvalid", []create{{withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "owner@example.com"), service.CreateOptions{}}}, 0},
		{"Replayed", []create{{admin("Acme"), service.CreateOptions{IdempotencyKey: ptr("k")}}, {admin("Acme"), service.CreateOptions{IdempotencyKey: ptr("k")}}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newActor(t, "tenant")
			var calls, uncommitted atomic.Int32
			s := newService(service.Config{EmailQueued: func() {
				// Called after the commit: the email is there for another connection to see.
				if count(t, a.TenantID, "email_outbox") != int(calls.Load())+1 {
					uncommitted.Add(1)
				}
				calls.Add(1)
			}})
			for _, c := range tc.creates {
				s.CreateOrganization(ctx, a, c.in, c.opt) // some are refused: the calls and the outbox tell
			}
			if n := calls.Load(); n != int32(tc.want) {
				t.Errorf("EmailQueued called %d times, want %d", n, tc.want)
			}
			if n := uncommitted.Load(); n != 0 {
				t.Errorf("EmailQueued called %d times before its email was committed", n)
			}
			if n := count(t, a.TenantID, "email_outbox"); n != tc.want {
				t.Errorf("%d emails queued, want %d", n, tc.want)
			}
		})
	}
}

func withSlug(in domain.CreateOrganizationInput, slug string) domain.CreateOrganizationInput {
	in.Slug = &slug
	return in
}
