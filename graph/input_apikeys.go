package graph

import (
	"time"

	"orgs/db"
	"orgs/domain"
	"orgs/graph/model"
)

// Conversions of API keys between the API's types and the domain's.

func toNewAPIKeyInput(in model.CreateAPIKeyInput) domain.NewAPIKeyInput {
	out := domain.NewAPIKeyInput{Name: in.Name, Permissions: make([]domain.Permission, len(in.Permissions))}
	for i, p := range in.Permissions {
		out.Permissions[i] = domain.Permission(p)
	}
	if in.ExpiresAt != nil {
		t := time.Time(*in.ExpiresAt).UTC().Truncate(time.Microsecond)
		out.ExpiresAt = &t
	}
	return out
}

func toAPIKey(k *domain.APIKey) *model.APIKey {
	perms := make([]model.Permission, len(k.Permissions))
	for i, p := range k.Permissions {
		perms[i] = model.Permission(p)
	}
	return &model.APIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Permissions: perms, CreatedAt: dateTime(k.CreatedAt),
		ExpiresAt: optDateTime(k.ExpiresAt), LastUsedAt: optDateTime(k.LastUsedAt), RevokedAt: optDateTime(k.RevokedAt)}
}

func toAPIKeyConnection(page *db.APIKeyPage, count func() (int, error)) *model.APIKeyConnection {
	cursors := make([]string, len(page.Cursors))
	for i, c := range page.Cursors {
		cursors[i] = c.Encode()
	}
	return &model.APIKeyConnection{
		Edges: edgesOf(page.Keys, cursors, func(k *domain.APIKey) model.APIKey { return *toAPIKey(k) },
			func(c string, n *model.APIKey) model.APIKeyEdge { return model.APIKeyEdge{Cursor: c, Node: n} }),
		PageInfo: pageInfo(cursors, page.HasNextPage, page.HasPreviousPage),
		Count:    count,
	}
}
