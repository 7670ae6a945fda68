package graph

import (
	"context"
	"time"

	"orgs/db"
	"orgs/domain"
	"orgs/graph/model"
)

// Conversions of invitations and members, and the invitations connection.

func toInvitationInput(in model.InviteMemberInput) domain.InvitationInput {
	out := domain.InvitationInput{OrganizationID: in.OrganizationID, Email: in.Email, FirstName: in.FirstName,
		LastName: in.LastName, LandingPage: in.LandingPage, ExpiresInDays: in.ExpiresInDays}
	if in.Role != nil {
		r := domain.MemberRole(*in.Role)
		out.Role = &r
	}
	return out
}

func toInvitation(inv *domain.Invitation) *model.Invitation {
	if inv == nil {
		return nil
	}
	return &model.Invitation{
		ID: inv.ID, OrganizationID: inv.OrganizationID, Email: inv.Email, Role: model.MemberRole(inv.Role),
		Status: model.InvitationStatus(inv.StatusAt(time.Now())), ExpiresAt: dateTime(inv.ExpiresAt),
		InvitedBy: inv.InvitedBy, CreatedAt: dateTime(inv.CreatedAt),
	}
}

// invitationsOf reads a page of the organization's invitations, newest first.
func invitationsOf(ctx context.Context, store *db.Store, orgID string, status *model.InvitationStatus, first *int, after *string) (*model.InvitationConnection, error) {
	p, err := domain.NewPageRequest(first, after, nil, nil, domain.OrderByCreatedAt)
	if err != nil {
		return nil, err
	}
	var st *domain.InvitationStatus
	if status != nil {
		v := domain.InvitationStatus(*status)
		st = &v
	}
	tenantID := domain.ActorFrom(ctx).TenantID
	invs, more, err := store.Invitations(ctx, tenantID, orgID, db.InvitationPage{Status: st, After: p.After, Limit: p.Size})
	if err != nil {
		return nil, err
	}
	c := &model.InvitationConnection{Edges: make([]model.InvitationEdge, len(invs)),
		Count: func() (int, error) { return store.CountInvitations(ctx, tenantID, orgID, st) }}
	cursors := make([]string, len(invs))
	for i := range invs {
		inv := &invs[i]
		cursors[i] = domain.Cursor{Field: domain.OrderByCreatedAt, Value: inv.CreatedAt.Format(time.RFC3339Nano), ID: inv.ID}.Encode()
		c.Edges[i] = model.InvitationEdge{Cursor: cursors[i], Node: toInvitation(inv)}
	}
	c.PageInfo = pageInfo(cursors, more, p.After != nil)
	return c, nil
}
