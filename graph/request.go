package graph

import (
	"context"

	"orgs/httpapi"
)

// idempotencyKeyFrom returns the request's Idempotency-Key header, or "".
func idempotencyKeyFrom(ctx context.Context) string { return httpapi.IdempotencyKeyFrom(ctx) }
