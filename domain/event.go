package domain

import (
	"bytes"
	"encoding/json"
	"time"
)

// Event is an entry of an organization's audit log: one per change, numbered from 1 per organization.
type Event struct {
	TenantID       string
	ID             string
	OrganizationID string
	// Sequence is the event's number; the organization's Sequence is that of its last event.
	Sequence   int64
	Type       string
	OccurredAt time.Time
	// ActorUserID and ActorKeyID say who made the change (nil for the system, e.g. a purge).
	ActorUserID *string
	ActorKeyID  *string
	Changes     []FieldChange
	// Data is what else the event records, a JSON object (nil when nothing).
	Data map[string]any
}

// FieldChange is one field a change changed, by its API name, with its JSON values before and after
// (nil when absent).
type FieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// Change is what a mutation records of itself: an event of a type, with the fields it changed and
// what else is worth keeping.
type Change struct {
	Type    string
	Changes []FieldChange
	Data    map[string]any
}

// Changes collects the fields a change changes.
type Changes []FieldChange

// Add records field going from before to after, unless they are equal as JSON (so that a pointer and
// its value, or two equal lists, count as no change). It reports whether it recorded a change.
func (c *Changes) Add(field string, before, after any) bool {
	b, errB := json.Marshal(before)
	a, errA := json.Marshal(after)
	if errB == nil && errA == nil && string(a) == string(b) {
		return false
	}
	*c = append(*c, FieldChange{Field: field, From: jsonValue(b, before), To: jsonValue(a, after)})
	return true
}

// jsonValue is v as the JSON value it encodes to (so that a *string is its string, or nil).
func jsonValue(encoded []byte, v any) any {
	var out any
	dec := json.NewDecoder(bytes.NewReader(encoded))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return v
	}
	return out
}
