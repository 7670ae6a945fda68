package httpapi

import (
	"mime"
	"strconv"
	"strings"
)

// The response media types of GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/).
const (
	MediaGraphQLResponse = "application/graphql-response+json"
	MediaJSON            = "application/json"
)

// negotiate picks the response media type from the Accept header fields: the supported type with the
// highest q-value, the earlier listed on a tie, application/json when only a wildcard matches either
// or when there is no Accept header (as legacy clients and the graphql-http audits expect). byName
// says application/json was chosen because it was asked for by name; ok is false when Accept rules out
// both types.
func negotiate(fields []string) (media string, byName bool, ok bool) {
	type match struct {
		q           float64
		specificity int // 0 none, 1 */*, 2 application/*, 3 exact
		pos         int
	}
	var gr, js match
	pos := 0
	for _, field := range fields {
		for _, part := range strings.Split(field, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil && err != mime.ErrInvalidMediaParameter || !strings.Contains(mt, "/") {
				continue // unreadable: as if it were not there
			}
			pos++
			q := 1.0
			if v, found := params["q"]; found {
				if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			spec := 0
			switch mt {
			case "*/*":
				spec = 1
			case "application/*":
				spec = 2
			case MediaGraphQLResponse, MediaJSON:
				spec = 3
			default:
				continue
			}
			for _, m := range []*match{&gr, &js} {
				if spec == 3 && ((m == &gr) != (mt == MediaGraphQLResponse)) {
					continue
				}
				// The most specific range that matches a type decides its q-value.
				if spec > m.specificity {
					*m = match{q: q, specificity: spec, pos: pos}
				}
			}
		}
	}
	if pos == 0 {
		return MediaJSON, false, true
	}
	switch {
	case gr.q <= 0 && js.q <= 0:
		return "", false, false
	case gr.specificity == 3 && (gr.q > js.q || gr.q == js.q && (js.specificity < 3 || gr.pos < js.pos)):
		return MediaGraphQLResponse, false, true
	case js.q > 0 && js.specificity == 3:
		return MediaJSON, true, true
	case js.q > 0:
		return MediaJSON, false, true
	}
	// Only application/graphql-response+json is acceptable, through a wildcard.
	return MediaGraphQLResponse, false, true
}
