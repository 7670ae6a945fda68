package service_test

import (
	"context"
	"regexp"
	"testing"

	"orgs/domain"
	"orgs/service"
)

// tokenInLink finds the token of a confirmation link in an email.
var tokenInLink = regexp.MustCompile(`[?&]token=([A-Za-z0-9_-]+)`)

func TestConfirmEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(service.Config{})
	a, other := newActor(t, "tenant"), newActor(t, "other tenant")
	o, err := s.CreateOrganization(ctx, a, withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "ada@example.com"), service.CreateOptions{})
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	var body string
	if err := store.DB().Get(&body, `SELECT text_body FROM email_outbox WHERE tenant_id = $1 AND to_address = 'ada@example.com'`, a.TenantID); err != nil {
		t.Fatalf("confirmation email: %v", err)
	}
	m := tokenInLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no token in the email:\n%s", body)
	}
	token := m[1]
	if n := count(t, a.TenantID, "email_confirmations", `token_hash = sha256(convert_to($2, 'UTF8'))`, token); n != 1 {
		t.Errorf("the token's SHA-256 is not what is stored")
	}
	if n := count(t, a.TenantID, "email_confirmations", `token_hash = convert_to($2, 'UTF8')`, token); n != 0 {
		t.Errorf("the token is stored in clear")
	}

	// In order: what must fail leaves the token to the confirmation that follows, which spends it.
	for _, step := range []struct {
		name  string
		actor *domain.Actor
		token string
		ok    bool
	}{
		{"ErrUnknownToken", a, "not-a-token", false},
		{"ErrEmptyToken", a, "", false},
		{"ErrOtherTenant", other, token, false},
		{"OK", a, token, true},
		{"ErrUsedToken", a, token, false},
	} {
		member, err := s.ConfirmEmail(ctx, step.actor, step.token)
		if step.ok {
			if err != nil || member.OrganizationID != o.ID || member.Status != domain.MemberStatus("ACTIVE") {
				t.Errorf("%s: ConfirmEmail = %+v, %v; want the ACTIVE administrator", step.name, member, err)
			}
			continue
		}
		vs := violationsOf(t, err)
		if len(vs) != 1 || vs[0].Code != domain.VInvalidValue || len(vs[0].Field) != 0 {
			t.Errorf("%s: violations = %+v, want INVALID_VALUE at []", step.name, vs)
		}
		if member != nil {
			t.Errorf("%s: member %+v returned with the error", step.name, member)
		}
	}
	if _, err := s.ConfirmEmail(ctx, nil, token); domain.ErrorCodeOf(err) != domain.EUNAUTHENTICATED {
		t.Errorf("ConfirmEmail without actor = %v, want UNAUTHENTICATED", err)
	}
}
