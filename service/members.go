package service

import (
	"context"
	"fmt"

	"orgs/db"
	"orgs/domain"
)

// Members: updateMemberRole and removeMember, under the last-owner rule: an organization always keeps
// at least one ACTIVE OWNER.
//
// The rule is enforced inside the organization's change transaction, which locks the organization's
// row before anything else (db.ChangeOrganization): every demotion and removal of one organization
// holds that lock from before it counts the active owners until it commits. The count is therefore
// never stale: of two changes that each take one of the last two owners away, the second waits for the
// first, then counts one owner and is refused with LAST_OWNER. (Changes that add owners, such as an
// accepted invitation, run under the same lock; were one not to, a count could only be too low, which
// refuses a change but never breaks the rule.)

// MemberRoleInput changes a member's role.
type MemberRoleInput struct {
	MemberID string
	Role     domain.MemberRole
	// ExpectedSequence, when set, must be the organization's sequence (STALE_OBJECT otherwise).
	ExpectedSequence *int
}

// UpdateMemberRole gives a member another role; the same role changes nothing. A member of another
// tenant or of a deleted organization is NOT_FOUND at ["memberId"]; demoting the last ACTIVE OWNER is
// LAST_OWNER there.
func (s *Service) UpdateMemberRole(ctx context.Context, a *domain.Actor, in MemberRoleInput) (*domain.Member, error) {
	switch in.Role {
	case domain.RoleOwner, domain.RoleAdmin, domain.RoleMember:
	default:
		return nil, violation(domain.Path{"role"}, domain.VInvalidValue, "role must be OWNER, ADMIN or MEMBER")
	}
	var out *domain.Member
	err := s.changeMember(ctx, a, in.MemberID, sequence(in.ExpectedSequence), func(ctx context.Context, t *db.OrganizationTx, m *domain.Member) error {
		if m.Role == in.Role {
			out = m
			return nil // nothing recorded: nothing written
		}
		if in.Role != domain.RoleOwner {
			if err := keepAnOwner(ctx, t, m); err != nil {
				return err
			}
		}
		if err := t.SetMemberRole(ctx, m.ID, in.Role); err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("members."+m.ID+".role", m.Role, in.Role)
		t.Record(domain.Change{Type: domain.EventMemberRoleChanged, Changes: changes,
			Data: map[string]any{"memberId": m.ID, "userId": m.UserID, "email": m.Email}})
		m.Role = in.Role
		out = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveMember removes a member from its organization and returns the removed member's id. A member of
// another tenant or of a deleted organization is NOT_FOUND at ["memberId"]; removing the last ACTIVE
// OWNER is LAST_OWNER there. Removing the primary administrator (allowed when another owner remains)
// leaves the organization without one: primaryAdministrator becomes null, and the member.removed event
// records it as the change of "primaryAdministratorId" to null.
func (s *Service) RemoveMember(ctx context.Context, a *domain.Actor, memberID string) (string, error) {
	err := s.changeMember(ctx, a, memberID, nil, func(ctx context.Context, t *db.OrganizationTx, m *domain.Member) error {
		if err := keepAnOwner(ctx, t, m); err != nil {
			return err
		}
		cleared, err := t.RemoveMember(ctx, m)
		if err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("members."+m.ID+".role", m.Role, nil)
		if cleared {
			changes.Add("primaryAdministratorId", m.UserID, nil)
		}
		t.Record(domain.Change{Type: domain.EventMemberRemoved, Changes: changes,
			Data: map[string]any{"memberId": m.ID, "userId": m.UserID, "email": m.Email, "role": m.Role, "status": m.Status}})
		return nil
	})
	if err != nil {
		return "", err
	}
	return memberID, nil
}

// changeMember runs fn on the tenant's member memberID, locked, in its organization's change
// transaction (NOT_FOUND at ["memberId"] for an unknown member, another tenant's, or one of a deleted
// organization).
func (s *Service) changeMember(ctx context.Context, a *domain.Actor, memberID string, expected *int64, fn func(context.Context, *db.OrganizationTx, *domain.Member) error) error {
	if err := requireActor(a); err != nil {
		return err
	}
	const notFound = "member not found"
	orgID, err := s.store.MemberOrganization(ctx, a.TenantID, memberID)
	if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
		return violation(domain.Path{"memberId"}, domain.VNotFound, notFound)
	}
	if err != nil {
		return err
	}
	_, err = s.changeOrganization(ctx, a, orgID, "memberId", db.ChangeOptions{ExpectedSequence: expected}, func(ctx context.Context, t *db.OrganizationTx) error {
		m, err := t.LockMember(ctx, memberID)
		if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
			return violation(domain.Path{"memberId"}, domain.VNotFound, notFound) // removed meanwhile
		}
		if err != nil {
			return err
		}
		return fn(ctx, t, m)
	})
	return notFoundAs(err, notFound)
}

// keepAnOwner refuses to take m away from the active owners (a demotion or a removal) when m is the
// organization's last ACTIVE OWNER. t holds the organization's row lock: see the comment at the top.
func keepAnOwner(ctx context.Context, t *db.OrganizationTx, m *domain.Member) error {
	if m.Role != domain.RoleOwner || m.Status != domain.MemberActive {
		return nil
	}
	n, err := t.ActiveOwners(ctx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return violation(domain.Path{"memberId"}, domain.VLastOwner, fmt.Sprintf(
			"%s is the last active owner of the organization: make another member an OWNER first", m.Email))
	}
	return nil
}
