package domain

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strconv"
	"time"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// OrganizationFilter narrows a list of organizations; every condition given must hold.
type OrganizationFilter struct {
	Status         *OrganizationStatus
	IsPrivate      *bool
	IsDefault      *bool
	CountryCode    *string
	RegionTemplate *string
	CreatedAfter   *time.Time
	CreatedBefore  *time.Time
	// Search is part of the name, slug or a domain, matched case- and accent-insensitively.
	Search     *string
	Attributes []AttributeFilter
}

// AttributeFilter matches organizations having the attribute Key with a value equal to Eq, less than
// Lt and greater than Gt (those given).
type AttributeFilter struct {
	Key        string
	Eq, Lt, Gt any
}

// AttributeCondition is one typed comparison of an attribute filter.
type AttributeCondition struct {
	Op    string // "=", "<" or ">"
	Type  AttributeType
	Value any // in its stored form
}

// Conditions checks the filter and returns its typed comparisons. Lt and Gt compare numbers and dates.
func (f AttributeFilter) Conditions() ([]AttributeCondition, error) {
	if !attributeKey.MatchString(f.Key) {
		return nil, Errorf(EINVALID, "attribute filter key %q is not a valid key", f.Key)
	}
	var out []AttributeCondition
	for _, c := range []struct {
		op string
		v  any
	}{{"=", f.Eq}, {"<", f.Lt}, {">", f.Gt}} {
		if c.v == nil {
			continue
		}
		typ, val, ok := inferType(c.v)
		if !ok {
			return nil, Errorf(EINVALID, "attribute filter %q: values are strings, numbers, booleans or dates", f.Key)
		}
		if c.op != "=" && typ != AttrNumber && typ != AttrDate {
			return nil, Errorf(EINVALID, "attribute filter %q: lt and gt compare numbers or dates (YYYY-MM-DD)", f.Key)
		}
		out = append(out, AttributeCondition{Op: c.op, Type: typ, Value: val})
	}
	if len(out) == 0 {
		return nil, Errorf(EINVALID, "attribute filter %q needs eq, lt or gt", f.Key)
	}
	return out, nil
}

// OrderField is what a list of organizations is ordered by.
type OrderField string

const (
	OrderByName         OrderField = "NAME"
	OrderByCreatedAt    OrderField = "CREATED_AT"
	OrderByTotalMembers OrderField = "TOTAL_MEMBERS"
	// OrderBySequence orders an organization's events; it is no order of organizations.
	OrderBySequence OrderField = "SEQUENCE"
)

// Order is a field and a direction; ties are broken by id.
type Order struct {
	Field OrderField
	Desc  bool
}

// Page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Cursor marks a position in an ordered list: the order field's value and the id of the row there.
type Cursor struct {
	Field OrderField `json:"f,omitempty"`
	Value string     `json:"v,omitempty"`
	ID    string     `json:"i"`
}

// Encode makes the cursor opaque: its JSON in base64. A cursor of plain strings (ids, times, counts, most
// names) is written directly, byte for byte as encoding/json writes it, which would take a tenth of the
// server's CPU in a list whose relations are connections; any other goes through encoding/json.
func (c Cursor) Encode() string {
	if !plainJSON(string(c.Field)) || !plainJSON(c.Value) || !plainJSON(c.ID) {
		b, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	b := make([]byte, 0, 20+len(c.Field)+len(c.Value)+len(c.ID))
	b = append(b, '{')
	if c.Field != "" {
		b = append(b, `"f":"`...)
		b = append(b, c.Field...)
		b = append(b, `",`...)
	}
	if c.Value != "" {
		b = append(b, `"v":"`...)
		b = append(b, c.Value...)
		b = append(b, `",`...)
	}
	b = append(b, `"i":"`...)
	b = append(b, c.ID...)
	b = append(b, `"}`...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// plainJSON tells whether encoding/json writes s as it is between quotes: printable ASCII, without the
// quote, the backslash and the characters it escapes for HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// DecodeCursor reads a cursor made by Encode for the given order field ("" for lists with a fixed order).
func DecodeCursor(s string, field OrderField) (*Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c Cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return nil, Errorf(EINVALID, "invalid cursor %q", s)
	}
	if c.Field != field {
		return nil, Errorf(EINVALID, "the cursor belongs to a list in another order")
	}
	valid := uuidPattern.MatchString(c.ID)
	switch field {
	case OrderByCreatedAt:
		_, err = time.Parse(time.RFC3339Nano, c.Value)
		valid = valid && err == nil
	case OrderByTotalMembers, OrderBySequence:
		_, err = strconv.Atoi(c.Value)
		valid = valid && err == nil
	}
	if !valid {
		return nil, Errorf(EINVALID, "invalid cursor %q", s)
	}
	return &c, nil
}

// PageRequest asks for First rows after After, or Last rows before Before.
type PageRequest struct {
	Size     int
	Backward bool
	After    *Cursor // forward: rows after it
	Before   *Cursor // backward: rows before it
}

// NewPageRequest checks Relay's paging arguments: first or last (not both), each 0..MaxPageSize.
func NewPageRequest(first *int, after *string, last *int, before *string, field OrderField) (PageRequest, error) {
	p := PageRequest{Size: DefaultPageSize}
	if first != nil && last != nil {
		return p, Errorf(EINVALID, "give first or last, not both")
	}
	for name, n := range map[string]*int{"first": first, "last": last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			return p, Errorf(EINVALID, "%s must be between 0 and %d, not %d", name, MaxPageSize, *n)
		}
	}
	if first != nil {
		p.Size = *first
	}
	if last != nil {
		p.Size, p.Backward = *last, true
	}
	var err error
	if after != nil {
		if p.After, err = DecodeCursor(*after, field); err != nil {
			return p, err
		}
	}
	if before != nil {
		if p.Before, err = DecodeCursor(*before, field); err != nil {
			return p, err
		}
	}
	if first != nil && before != nil || last != nil && after != nil {
		return p, Errorf(EINVALID, "page forward with first and after, or backward with last and before")
	}
	if before != nil && first == nil {
		p.Backward = true
	}
	return p, nil
}
