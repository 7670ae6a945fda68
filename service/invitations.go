package service

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"orgs/db"
	"orgs/domain"
)

// Invitations: inviteMember, resendInvitation, revokeInvitation and acceptInvitation. Each runs in the
// change transaction of the invitation's organization (its row locked, its event appended), and the
// emails they send are queued in that same transaction through the outbox: an email goes out if and
// only if its change committed. Tokens are 32 random bytes, kept only as their SHA-256 (newToken).

// InviteMember invites someone to join an organization: the invitation is stored and its email, with a
// one-time link to the landing page, queued. An address that is a member already (in any status) or has
// a pending invitation is TAKEN at ["email"]; an inactive organization takes no invitation
// (INVALID_STATE at ["organizationId"]).
func (s *Service) InviteMember(ctx context.Context, a *domain.Actor, in domain.InvitationInput) (*domain.Invitation, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	inv, err := domain.NewInvitation(in)
	if err != nil {
		return nil, err
	}
	token, hash := newToken()
	link, err := linkWithToken(inv.LandingPage, token)
	if err != nil {
		return nil, err
	}
	_, err = s.changeOrganization(ctx, a, in.OrganizationID, "organizationId", db.ChangeOptions{}, func(ctx context.Context, t *db.OrganizationTx) error {
		var v domain.Violations
		if t.Organization.Status != domain.StatusActive {
			v.Add(domain.Path{"organizationId"}, domain.VInvalidState, "the organization is %s: it takes no invitation until it is reactivated",
				t.Organization.Status)
		}
		member, err := t.HasMember(ctx, inv.Email)
		if err != nil {
			return err
		}
		pending, err := t.HasPendingInvitation(ctx, inv.Email)
		if err != nil {
			return err
		}
		switch {
		case member:
			v.Add(domain.Path{"email"}, domain.VTaken, "%s is a member of this organization already", inv.Email)
		case pending:
			v.Add(domain.Path{"email"}, domain.VTaken, "%s has a pending invitation to this organization: resend or revoke it", inv.Email)
		}
		if err := v.Err(); err != nil {
			return err
		}
		inv.TenantID, inv.OrganizationID, inv.ID, inv.InvitedBy = a.TenantID, t.Organization.ID, domain.NewID(), a.UserID
		inv.CreatedAt, inv.ExpiresAt = t.Now, t.Now.Add(inv.Validity())
		if err := t.InsertInvitation(ctx, inv, hash, s.invitationEmail(a, t.Organization, inv, link)); err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("invitations."+inv.ID+".status", nil, domain.InvitationPending)
		t.Record(domain.Change{Type: domain.EventMemberInvited, Changes: changes,
			Data: map[string]any{"invitationId": inv.ID, "email": inv.Email, "role": inv.Role}})
		return nil
	})
	if err != nil {
		return nil, notFoundAs(err, "organization not found")
	}
	s.emailQueued()
	return inv, nil
}

// ResendInvitation sends a pending invitation again: a new token (the old one stops working at once),
// a new expiry as many days away as the invitation was first given, and a new email. An invitation that
// is not pending, or of an organization that is not active, is INVALID_STATE at ["id"].
func (s *Service) ResendInvitation(ctx context.Context, a *domain.Actor, id string) (*domain.Invitation, error) {
	token, hash := newToken()
	var out *domain.Invitation
	err := s.changeInvitation(ctx, a, id, func(ctx context.Context, t *db.OrganizationTx, inv *domain.Invitation) error {
		if t.Organization.Status != domain.StatusActive {
			return violation(domain.Path{"id"}, domain.VInvalidState, fmt.Sprintf(
				"the organization is %s: it takes no invitation until it is reactivated", t.Organization.Status))
		}
		link, err := linkWithToken(inv.LandingPage, token)
		if err != nil {
			return err
		}
		before := inv.ExpiresAt
		inv.ExpiresAt = t.Now.Add(inv.Validity())
		if err := t.RenewInvitation(ctx, inv.ID, hash, inv.ExpiresAt, s.invitationEmail(a, t.Organization, inv, link)); err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("invitations."+inv.ID+".expiresAt", before, inv.ExpiresAt)
		t.Record(domain.Change{Type: domain.EventInvitationResent, Changes: changes,
			Data: map[string]any{"invitationId": inv.ID, "email": inv.Email}})
		out = inv
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.emailQueued()
	return out, nil
}

// RevokeInvitation revokes a pending invitation: its token stops working. An invitation that is not
// pending is INVALID_STATE at ["id"].
func (s *Service) RevokeInvitation(ctx context.Context, a *domain.Actor, id string) (*domain.Invitation, error) {
	var out *domain.Invitation
	err := s.changeInvitation(ctx, a, id, func(ctx context.Context, t *db.OrganizationTx, inv *domain.Invitation) error {
		if err := t.RevokeInvitation(ctx, inv.ID); err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("invitations."+inv.ID+".status", inv.Status, domain.InvitationRevoked)
		t.Record(domain.Change{Type: domain.EventInvitationRevoked, Changes: changes,
			Data: map[string]any{"invitationId": inv.ID, "email": inv.Email}})
		inv.Status = domain.InvitationRevoked
		out = inv
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// changeInvitation runs fn on the tenant's pending invitation id, locked, in its organization's change
// transaction. An unknown id (another tenant's, one of a deleted organization) is NOT_FOUND at ["id"];
// an invitation that is not pending (accepted, revoked, expired) is INVALID_STATE there.
func (s *Service) changeInvitation(ctx context.Context, a *domain.Actor, id string, fn func(context.Context, *db.OrganizationTx, *domain.Invitation) error) error {
	if err := requireActor(a); err != nil {
		return err
	}
	const notFound = "invitation not found"
	orgID, err := s.store.InvitationOrganization(ctx, a.TenantID, id)
	if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
		return violation(domain.Path{"id"}, domain.VNotFound, notFound)
	}
	if err != nil {
		return err
	}
	_, err = s.changeOrganization(ctx, a, orgID, "id", db.ChangeOptions{}, func(ctx context.Context, t *db.OrganizationTx) error {
		inv, err := t.LockInvitation(ctx, id)
		if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
			return violation(domain.Path{"id"}, domain.VNotFound, notFound)
		}
		if err != nil {
			return err
		}
		if inv.Status != domain.InvitationPending {
			return violation(domain.Path{"id"}, domain.VInvalidState, fmt.Sprintf("the invitation is %s: only a PENDING invitation can be changed", inv.Status))
		}
		return fn(ctx, t, inv)
	})
	return notFoundAs(err, notFound)
}

// AcceptInvitation spends an invitation's token, of the actor's tenant: its address becomes an ACTIVE
// member of the organization with the invited role (a new user when the address is unknown in the
// tenant; an existing user keeps their profile), and the organization records member.joined. The token
// is the proof: no permission is needed. Violations are at the argument itself (path []):
// INVALID_VALUE for an unknown, used, revoked or expired token, another tenant's token, and an
// organization that is no longer active (inactive: the invitation stays pending and works again once
// the organization is reactivated, unless it expires; deleted: its invitations were revoked);
// INVALID_STATE when the person is a member of the organization already (nothing is written: no second
// membership, and the invitation stays pending).
func (s *Service) AcceptInvitation(ctx context.Context, a *domain.Actor, token string) (*domain.Member, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	invalid := violation(nil, domain.VInvalidValue, "this invitation link is invalid, revoked or already used")
	hash := hashToken(token)
	orgID, err := s.store.InvitationOrganizationByToken(ctx, a.TenantID, hash)
	if errors.Is(err, db.ErrInvalidToken) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	var m *domain.Member
	_, err = s.store.ChangeOrganization(ctx, a, orgID, db.ChangeOptions{}, func(ctx context.Context, t *db.OrganizationTx) error {
		inv, err := t.LockInvitationByToken(ctx, hash)
		if errors.Is(err, db.ErrInvalidToken) {
			return invalid // resent meanwhile: the token is dead
		}
		if err != nil {
			return err
		}
		switch {
		case inv.Status == domain.InvitationExpired:
			return violation(nil, domain.VInvalidValue, "this invitation has expired: ask for a new one")
		case inv.Status != domain.InvitationPending:
			return invalid
		case t.Organization.Status != domain.StatusActive:
			return violation(nil, domain.VInvalidValue, fmt.Sprintf("the organization is %s: the invitation cannot be accepted until it is reactivated",
				t.Organization.Status))
		}
		m, err = t.AcceptInvitation(ctx, inv)
		if errors.Is(err, db.ErrAlreadyMember) {
			return violation(nil, domain.VInvalidState, inv.Email+" is a member of this organization already")
		}
		if err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("members."+m.ID+".role", nil, m.Role)
		changes.Add("invitations."+inv.ID+".status", inv.Status, domain.InvitationAccepted)
		t.Record(domain.Change{Type: domain.EventMemberJoined, Changes: changes, Data: map[string]any{
			"memberId": m.ID, "userId": m.UserID, "email": m.Email, "role": m.Role, "invitationId": inv.ID}})
		return nil
	})
	if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
		return nil, violation(nil, domain.VInvalidValue, "the organization of this invitation no longer exists")
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// invitationEmail writes inv's email, with link, on behalf of the actor.
func (s *Service) invitationEmail(a *domain.Actor, o *domain.Organization, inv *domain.Invitation, link string) domain.Email {
	inviter := a.Name
	if inviter == "" {
		inviter = a.Email
	}
	subject, text, html := domain.InvitationEmail(o.Name, inviter, inv.Role, inv.FirstName, link, inv.ExpiresAt)
	return domain.Email{TenantID: a.TenantID, Kind: domain.EmailKindInvitation, To: inv.Email,
		Subject: subject, TextBody: text, HTMLBody: html}
}

// linkWithToken is the landing page with the token as its token query parameter (its other parameters
// kept).
func linkWithToken(landingPage, token string) (string, error) {
	link, err := url.Parse(landingPage)
	if err != nil {
		return "", fmt.Errorf("landing page: %w", err)
	}
	query := link.Query()
	query.Set("token", token)
	link.RawQuery = query.Encode()
	return link.String(), nil
}

// notFoundAs gives the NOT_FOUND violation of err, if any, the message msg: changeOrganization reports
// the organization, while the input names an invitation or a member.
func notFoundAs(err error, msg string) error {
	var verr *domain.ValidationError
	if errors.As(err, &verr) {
		for i := range verr.Violations {
			if verr.Violations[i].Code == domain.VNotFound {
				verr.Violations[i].Message = msg
			}
		}
	}
	return err
}
