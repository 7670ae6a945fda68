package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"

	"orgs/domain"
)

// GraphQLRequest is a GraphQL request as the guard read it, for the layers behind it: its parameters,
// decoded once, and the media type of its answer, negotiated once.
type GraphQLRequest struct {
	// Params are the request's parameters as gqlgen's transports decode them (numbers as json.Number),
	// with the request's headers and the time spent reading them.
	Params *graphql.RawParams
	// Media is the response media type: MediaGraphQLResponse or MediaJSON.
	Media string
	// JSONByName says the client asked for application/json by name.
	JSONByName bool
}

// RequestErrorStatus is the status of a request error of a well-formed request (the request was refused
// before any field ran: the document does not parse or validate, the operation or a variable does not
// fit, a persisted query is unknown, the complexity is over the limit): 400, except that a client
// asking for application/json by name gets 200, the specification's application/json rule. Without
// Accept, the specification (since 2025) has the server answer as for application/graphql-response+json.
func (g *GraphQLRequest) RequestErrorStatus() int {
	if g.JSONByName {
		return http.StatusOK
	}
	return http.StatusBadRequest
}

type graphQLRequestKey struct{}

// GraphQLRequestFrom returns the GraphQL request the guard read, or nil.
func GraphQLRequestFrom(ctx context.Context) *GraphQLRequest {
	g, _ := ctx.Value(graphQLRequestKey{}).(*GraphQLRequest)
	return g
}

// queryOf returns the query of the request the guard read, "" when it has none.
func queryOf(ctx context.Context) string {
	if g := GraphQLRequestFrom(ctx); g != nil {
		return g.Params.Query
	}
	return ""
}

// refusal is why the guard refuses a request.
type refusal struct {
	status int
	code   domain.ErrorCode
	msg    string
}

func badRequest(msg string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: domain.EBADREQUEST, msg: msg}
}

// Guard rejects, before anything is parsed or executed, what the endpoint never serves:
//   - methods other than GET, POST and OPTIONS (405);
//   - requests whose Accept header rules out both application/graphql-response+json and
//     application/json (406); the type chosen, q-values included, is the answer's, and the answer
//     varies with Accept;
//   - POST bodies that are not application/json: the "simple" content types a cross-site form can send
//     without a CORS preflight (form-urlencoded, multipart, text/plain) are refused, which closes CSRF (415);
//   - bodies over maxBody bytes (413), requests that are not UTF-8 (400), and batches: a JSON array of
//     operations (400);
//   - requests that are not well-formed GraphQL-over-HTTP requests, 400 whatever Accept says: the body
//     is not a JSON object, a parameter has the wrong type, the query is missing (and no persisted query
//     is named), the persistedQuery extension is not what automatic persisted queries send, or its hash
//     is not that of the query sent with it;
//
// and gives each request a deadline. It decodes each request's parameters once, as gqlgen's transports
// would, and hands them to the next steps in the context with the negotiated media type
// (GraphQLRequestFrom).
func Guard(maxBody int64, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodPost:
			w.Header().Add("Vary", "Accept")
			media, byName, ok := negotiate(r.Header.Values("Accept"))
			if !ok {
				WriteError(w, http.StatusNotAcceptable, domain.ENOTACCEPTABLE,
					"none of the media types in Accept is served: accept "+MediaGraphQLResponse+" or "+MediaJSON, "")
				return
			}
			g := &GraphQLRequest{Media: media, JSONByName: byName}
			start := graphql.Now()
			var refused *refusal
			if r.Method == http.MethodGet {
				g.Params, refused = readGET(r)
			} else {
				g.Params, refused = readPOST(w, r, maxBody)
			}
			if refused == nil {
				refused = checkParams(g.Params)
			}
			if refused != nil {
				writeError(w, media, refused.status, refused.code, refused.msg, "")
				return
			}
			g.Params.Headers = r.Header
			g.Params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
			r = r.WithContext(context.WithValue(r.Context(), graphQLRequestKey{}, g))
		case http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			WriteError(w, http.StatusMethodNotAllowed, domain.EMETHODNOTALLOWED, "use POST, or GET for queries", "")
			return
		}
		if timeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// readGET reads the parameters of a GET request from its URL.
func readGET(r *http.Request) (*graphql.RawParams, *refusal) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string could not be read")
	}
	p := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	variables, extensions := q.Get("variables"), q.Get("extensions")
	for _, v := range []string{p.Query, p.OperationName, variables, extensions} {
		if !utf8.ValidString(v) {
			return nil, badRequest("the request is not valid UTF-8")
		}
	}
	if variables != "" && decodeJSON([]byte(variables), &p.Variables) != nil {
		return nil, badRequest("the variables parameter must be a JSON object")
	}
	if extensions != "" && decodeJSON([]byte(extensions), &p.Extensions) != nil {
		return nil, badRequest("the extensions parameter must be a JSON object")
	}
	return p, nil
}

// readPOST reads the body of a POST request, once, and decodes its parameters.
func readPOST(w http.ResponseWriter, r *http.Request, maxBody int64) (*graphql.RawParams, *refusal) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return nil, &refusal{http.StatusUnsupportedMediaType, domain.EUNSUPPORTEDMEDIATYPE,
			"POST requests must have Content-Type: application/json"}
	}
	if r.ContentLength > maxBody {
		return nil, &refusal{http.StatusRequestEntityTooLarge, domain.EPAYLOADTOOLARGE, tooLarge(maxBody)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &refusal{http.StatusRequestEntityTooLarge, domain.EPAYLOADTOOLARGE, tooLarge(maxBody)}
	case err != nil:
		return nil, badRequest("the request body could not be read")
	case !utf8.Valid(body):
		return nil, badRequest("the request body is not valid UTF-8")
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, badRequest("batched operations are not supported: send one operation per request")
	}
	p := &graphql.RawParams{}
	if err := decodeJSON(body, p); err != nil {
		return nil, badRequest(describeJSONError(err))
	}
	return p, nil
}

// decodeJSON decodes as gqlgen's transports do, numbers kept as json.Number, but refuses anything after
// the one value: a body such as {"query":"{ a }"}{"query":"{ b }"} is not a JSON object.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingData
	}
	return nil
}

var errTrailingData = errors.New("data after the JSON value")

// describeJSONError says what is wrong with a body that does not decode into the parameters.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return "the request body is not a JSON object"
	}
	switch field, _, _ := strings.Cut(typeErr.Field, "."); field {
	case "":
		return "the request body is not a JSON object"
	case "query", "operationName":
		return "the " + field + " parameter must be a string"
	default:
		return "the " + field + " parameter must be a JSON object"
	}
}

// checkParams refuses parameters that are not a GraphQL request: no query and no persisted query, or a
// persistedQuery extension that is not what automatic persisted queries send.
func checkParams(p *graphql.RawParams) *refusal {
	pq, named := p.Extensions["persistedQuery"]
	if !named || pq == nil {
		if strings.TrimSpace(p.Query) == "" {
			return badRequest("the query parameter is required")
		}
		return nil
	}
	ext, ok := pq.(map[string]any)
	if !ok {
		return badRequest("the persistedQuery extension must be an object")
	}
	hash, ok := ext["sha256Hash"].(string)
	if !ok {
		return badRequest("the persistedQuery extension must have a sha256Hash string")
	}
	if v, ok := ext["version"].(json.Number); !ok || v.String() != "1" {
		return badRequest("the persistedQuery extension must have version 1")
	}
	if p.Query != "" {
		sum := sha256.Sum256([]byte(p.Query))
		if hex.EncodeToString(sum[:]) != hash {
			return badRequest("the persistedQuery sha256Hash is not the hash of the query")
		}
	}
	return nil
}

func tooLarge(max int64) string {
	return "the request body is larger than " + humanBytes(max)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
