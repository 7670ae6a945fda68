package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"orgs/domain"
)

func TestNewInvitation(t *testing.T) {
	inv, err := domain.NewInvitation(domain.InvitationInput{OrganizationID: "o", Email: " ada@example.com ",
		FirstName: ptr(" Ada "), LandingPage: "https://app.example.com/join"})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Email != "ada@example.com" || inv.Role != domain.RoleMember || inv.ExpiresInDays != 7 || *inv.FirstName != "Ada" ||
		inv.LastName != nil || inv.Validity() != 7*24*time.Hour || inv.FullName() != "Ada" {
		t.Errorf("invitation = %+v", inv)
	}

	for _, days := range []int{1, 30} {
		if _, err := domain.NewInvitation(domain.InvitationInput{Email: "a@example.com", LandingPage: "http://x.example", ExpiresInDays: &days}); err != nil {
			t.Errorf("expiresInDays %d: %v", days, err)
		}
	}

	role := domain.MemberRole("KING")
	_, err = domain.NewInvitation(domain.InvitationInput{Email: "Ada <ada@example.com>", Role: &role, FirstName: ptr(""),
		LastName: ptr(strings.Repeat("x", 101)), LandingPage: "mailto:ada@example.com", ExpiresInDays: ptr(31)})
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, v := range verr.Violations {
		got = append(got, fmt.Sprintf("%s:%s", strings.Join(v.Field, "."), v.Code))
	}
	if want := "[email:INVALID_FORMAT role:INVALID_VALUE firstName:BLANK lastName:TOO_LONG landingPage:INVALID_FORMAT expiresInDays:INVALID_VALUE]"; fmt.Sprint(got) != want {
		t.Errorf("violations %v, want %s", got, want)
	}
	if _, err := domain.NewInvitation(domain.InvitationInput{Email: "a@example.com", ExpiresInDays: ptr(0)}); err == nil ||
		!strings.Contains(err.Error(), "2 violations") {
		t.Errorf("a blank landing page and 0 days: %v", err)
	}
}

func TestInvitationStatusAt(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	inv := domain.Invitation{Status: domain.InvitationPending, ExpiresAt: now}
	if inv.StatusAt(now.Add(-time.Second)) != domain.InvitationPending || inv.StatusAt(now) != domain.InvitationExpired {
		t.Error("a pending invitation expires at its ExpiresAt")
	}
	inv.Status = domain.InvitationAccepted
	if inv.StatusAt(now.Add(time.Hour)) != domain.InvitationAccepted {
		t.Error("an accepted invitation does not expire")
	}
}

func TestInvitationEmail(t *testing.T) {
	expires := time.Date(2030, 5, 17, 9, 30, 0, 0, time.UTC)
	subject, text, html := domain.InvitationEmail("Crème & Co", "Grace <Hopper>", domain.RoleOwner, ptr("Ada"),
		"https://app.example.com/join?token=abc&ref=x", expires)
	if subject != "Grace <Hopper> invited you to join Crème & Co" {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{"Hello Ada,", "join Crème & Co as an owner", "https://app.example.com/join?token=abc&ref=x\r\n",
		"expires on May 17, 2030 at 09:30 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"Grace &lt;Hopper&gt;", "Crème &amp; Co", `href="https://app.example.com/join?token=abc&amp;ref=x"`, "as an owner"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, html)
		}
	}
	if _, text, _ := domain.InvitationEmail("Acme", "Grace", domain.RoleMember, nil, "https://x.example", expires); !strings.HasPrefix(text, "Hello,") ||
		!strings.Contains(text, "as a member") {
		t.Errorf("without a first name:\n%s", text)
	}
}
