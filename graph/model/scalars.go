package model

import (
	"io"
	"strconv"
	"time"

	"orgs/domain"
)

// DateTime is the DateTime scalar: RFC 3339 in UTC.
type DateTime time.Time

// MarshalGQL writes the time in UTC, RFC 3339 with the fractional seconds PostgreSQL keeps.
func (t DateTime) MarshalGQL(w io.Writer) {
	io.WriteString(w, strconv.Quote(time.Time(t).UTC().Format(time.RFC3339Nano)))
}

// UnmarshalGQL accepts an RFC 3339 string.
func (t *DateTime) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return domain.Errorf(domain.EINVALID, "DateTime must be an RFC 3339 string")
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return domain.Errorf(domain.EINVALID, "DateTime must be an RFC 3339 string, such as 2026-11-22T08:00:00Z")
	}
	*t = DateTime(parsed.UTC())
	return nil
}
