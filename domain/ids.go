package domain

import "github.com/google/uuid"

// NewID returns the id of a new row: a UUID of version 7 (RFC 9562), whose first 48 bits are the Unix
// time in milliseconds and the other 74 random. Rows created one after the other get ids that sort
// together, so their index entries land on the same few pages at the right edge of each index keyed by
// id, and by (tenant_id, organization_id, ...) for the rows of a new organization, instead of on a random
// page of an index too large to stay in memory. After each checkpoint, the first change of a page
// writes the whole page to the WAL: with random ids almost every insert did, with these few do
// (BENCHMARKS.md, "Time-ordered ids"). The time in an id is its row's creation time, which the API shows
// anyway (createdAt).
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}
