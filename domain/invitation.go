package domain

import (
	"strings"
	"time"
	"unicode/utf8"
)

// InvitationStatus is where an invitation stands. EXPIRED is read from the clock: a PENDING invitation
// past its ExpiresAt is EXPIRED.
type InvitationStatus string

const (
	InvitationPending  InvitationStatus = "PENDING"
	InvitationAccepted InvitationStatus = "ACCEPTED"
	InvitationRevoked  InvitationStatus = "REVOKED"
	InvitationExpired  InvitationStatus = "EXPIRED"
)

// Invitation limits.
const (
	InvitationDefaultDays = 7
	InvitationMaxDays     = 30
)

// Events of members and invitations. Their changes name the member or invitation by id:
// "members.<id>.role" (from the old role to the new one, from null when the member joins, to null when
// removed) and "invitations.<id>.status" / "invitations.<id>.expiresAt".
const (
	EventMemberInvited     = "member.invited"
	EventMemberRoleChanged = "member.role_changed"
	EventMemberRemoved     = "member.removed"
	EventInvitationRevoked = "invitation.revoked"
	EventInvitationResent  = "invitation.resent"
)

// EmailKindInvitation is the email that invites someone to join an organization.
const EmailKindInvitation = "member_invitation"

const (
	invitationLinkValidity  = "The link works once and expires on "
	invitationExpiresLayout = "January 2, 2006 at 15:04 MST"
)

// Invitation is an invitation to join an organization.
type Invitation struct {
	TenantID       string
	ID             string
	OrganizationID string
	Email          string
	Role           MemberRole
	// Status is as of the read: EXPIRED for a PENDING invitation past ExpiresAt.
	Status      InvitationStatus
	FirstName   *string
	LastName    *string
	LandingPage string
	// ExpiresInDays is how long the invitation (and each resend of it) stays valid.
	ExpiresInDays int
	ExpiresAt     time.Time
	// InvitedBy is the id of the user who invited.
	InvitedBy string
	CreatedAt time.Time
}

// InvitationInput is an invitation as the caller describes it.
type InvitationInput struct {
	OrganizationID string
	Email          string
	Role           *MemberRole
	FirstName      *string
	LastName       *string
	LandingPage    string
	ExpiresInDays  *int
}

// NewInvitation checks an invitation and returns it normalized (trimmed, with its defaults), or a
// *ValidationError with every violation, at paths relative to the input.
func NewInvitation(in InvitationInput) (*Invitation, error) {
	var v Violations
	inv := &Invitation{OrganizationID: in.OrganizationID, Email: strings.TrimSpace(in.Email), Role: RoleMember,
		LandingPage: strings.TrimSpace(in.LandingPage), ExpiresInDays: InvitationDefaultDays, Status: InvitationPending}
	validateEmail(&v, Path{"email"}, inv.Email)
	if in.Role != nil {
		switch *in.Role {
		case RoleOwner, RoleAdmin, RoleMember:
			inv.Role = *in.Role
		default:
			v.Add(Path{"role"}, VInvalidValue, "role must be OWNER, ADMIN or MEMBER")
		}
	}
	for _, f := range []struct {
		name string
		in   *string
		out  **string
	}{{"firstName", in.FirstName, &inv.FirstName}, {"lastName", in.LastName, &inv.LastName}} {
		if f.in == nil {
			continue
		}
		s := strings.TrimSpace(*f.in)
		switch n := utf8.RuneCountInString(s); {
		case n == 0:
			v.Add(Path{f.name}, VBlank, "%s can't be blank (leave it out instead)", f.name)
		default:
			maxLen(&v, Path{f.name}, f.name, s, PersonNameMax)
		}
		*f.out = &s
	}
	if inv.LandingPage == "" {
		v.Add(Path{"landingPage"}, VBlank, "landingPage can't be blank: the invitation email links to it")
	} else {
		validateHTTPURL(&v, Path{"landingPage"}, inv.LandingPage)
	}
	if d := in.ExpiresInDays; d != nil {
		if *d < 1 || *d > InvitationMaxDays {
			v.Add(Path{"expiresInDays"}, VInvalidValue, "expiresInDays must be between 1 and %d, not %d", InvitationMaxDays, *d)
		}
		inv.ExpiresInDays = *d
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return inv, nil
}

// Validity is how long the invitation's link works from when it is sent.
func (i *Invitation) Validity() time.Duration { return time.Duration(i.ExpiresInDays) * 24 * time.Hour }

// FullName is the invited person's name as given ("" when none was).
func (i *Invitation) FullName() string {
	var parts []string
	for _, p := range []*string{i.FirstName, i.LastName} {
		if p != nil && *p != "" {
			parts = append(parts, *p)
		}
	}
	return strings.Join(parts, " ")
}

// StatusAt is the invitation's status at now: a PENDING invitation past its expiry is EXPIRED.
func (i *Invitation) StatusAt(now time.Time) InvitationStatus {
	if i.Status == InvitationPending && !now.Before(i.ExpiresAt) {
		return InvitationExpired
	}
	return i.Status
}

// InvitationEmail writes the email that invites someone to join orgName with role, on behalf of
// inviter, by following link before expiresAt.
func InvitationEmail(orgName, inviter string, role MemberRole, firstName *string, link string, expiresAt time.Time) (subject, text, html string) {
	subject = inviter + " invited you to join " + orgName
	greeting := "Hello"
	if firstName != nil && *firstName != "" {
		greeting += " " + *firstName
	}
	expires := expiresAt.UTC().Format(invitationExpiresLayout)
	roleName := strings.ToLower(string(role))
	text = greeting + ",\r\n\r\n" +
		inviter + " invited you to join " + orgName + " as " + article(roleName) + " " + roleName + ". To accept, open this link:\r\n\r\n" +
		link + "\r\n\r\n" +
		invitationLinkValidity + expires + ". If you did not expect this email, ignore it.\r\n"
	html = "<p>" + htmlEscape(greeting) + ",</p>" +
		"<p>" + htmlEscape(inviter) + " invited you to join <strong>" + htmlEscape(orgName) + "</strong> as " +
		article(roleName) + " " + roleName + ".</p>" +
		`<p><a href="` + htmlEscape(link) + `">Accept the invitation</a></p>` +
		"<p>" + invitationLinkValidity + htmlEscape(expires) + ". If you did not expect this email, ignore it.</p>"
	return subject, text, html
}

// article is "a" or "an" before word.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
