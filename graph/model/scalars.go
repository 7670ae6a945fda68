package model

import (
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"orgs/domain"
)

// MarshalJSONValue writes a value of the JSON scalar as encoding/json marshals it: compact, with <, >
// and & escaped, and nothing after it. (gqlgen's graphql.MarshalAny, which the scalar used before,
// ends every value with a newline.) A value that cannot be marshalled panics, as with MarshalAny; the
// values come from JSON, stored as jsonb.
func MarshalJSONValue(v any) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		w.Write(b)
	})
}

// UnmarshalJSONValue takes a value of the JSON scalar as the request's JSON decoded it.
func UnmarshalJSONValue(v any) (any, error) {
	return v, nil
}

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
