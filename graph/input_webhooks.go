package graph

import (
	"orgs/db"
	"orgs/domain"
	"orgs/graph/model"
)

// Conversions of webhook endpoints and deliveries between the API's types and the domain's.

func toWebhookEndpointInput(in model.CreateWebhookEndpointInput) domain.WebhookEndpointInput {
	return domain.WebhookEndpointInput{URL: in.URL, EventTypes: in.EventTypes, Description: in.Description}
}

func toWebhookEndpointPatch(in model.UpdateWebhookEndpointInput) domain.WebhookEndpointPatchInput {
	return domain.WebhookEndpointPatchInput{URL: patchOf(in.URL, same), EventTypes: patchOf(in.EventTypes, same),
		Description: patchOf(in.Description, same), Enabled: patchOf(in.Enabled, same)}
}

func toWebhookEndpoint(e *domain.WebhookEndpoint) *model.WebhookEndpoint {
	return &model.WebhookEndpoint{ID: e.ID, URL: e.URL, Description: e.Description, EventTypes: e.EventTypes,
		Enabled: e.Enabled, DisabledAt: optDateTime(e.DisabledAt), CreatedAt: dateTime(e.CreatedAt),
		UpdatedAt: dateTime(e.UpdatedAt)}
}

func toWebhookEndpointConnection(page *db.WebhookEndpointPage, count func() (int, error)) *model.WebhookEndpointConnection {
	cursors := encodeCursors(page.Cursors)
	return &model.WebhookEndpointConnection{
		Edges: edgesOf(page.Endpoints, cursors, func(e *domain.WebhookEndpoint) model.WebhookEndpoint { return *toWebhookEndpoint(e) },
			func(c string, n *model.WebhookEndpoint) model.WebhookEndpointEdge {
				return model.WebhookEndpointEdge{Cursor: c, Node: n}
			}),
		PageInfo: pageInfo(cursors, page.HasNextPage, page.HasPreviousPage),
		Count:    count,
	}
}

func toWebhookDelivery(d *domain.WebhookDelivery) model.WebhookDelivery {
	return model.WebhookDelivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType,
		Status: model.WebhookDeliveryStatus(d.Status), Attempts: d.Attempts, LastAttemptAt: optDateTime(d.LastAttemptAt),
		ResponseStatus: d.ResponseStatus, NextAttemptAt: optDateTime(d.NextAttemptAt)}
}

func toWebhookDeliveryConnection(page *db.WebhookDeliveryPage, count func() (int, error)) *model.WebhookDeliveryConnection {
	cursors := encodeCursors(page.Cursors)
	return &model.WebhookDeliveryConnection{
		Edges: edgesOf(page.Deliveries, cursors, toWebhookDelivery,
			func(c string, n *model.WebhookDelivery) model.WebhookDeliveryEdge {
				return model.WebhookDeliveryEdge{Cursor: c, Node: n}
			}),
		PageInfo: pageInfo(cursors, page.HasNextPage, page.HasPreviousPage),
		Count:    count,
	}
}

func encodeCursors(cs []domain.Cursor) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Encode()
	}
	return out
}
