package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"orgs/domain"
	"orgs/httpapi"
)

// The transports of /query, modelled on gqlgen's transport.POST and transport.GET, answer the requests
// httpapi's guard read: they take the request's parameters and response media type from the context
// (httpapi.GraphQLRequestFrom) instead of reading the body or the URL and the Accept header again, and
// set the GraphQL-over-HTTP statuses (https://graphql.github.io/graphql-over-http/draft/) where the kind
// of error is known:
//
//   - the answer is in the negotiated media type, with charset=utf-8;
//   - a request error (CreateOperationContext failed: the document does not parse or validate, the
//     operation or a variable does not fit, a persisted query is unknown, the complexity is over the
//     limit) has no "data" entry and is 400, or 200 for a client asking for application/json by name
//     (httpapi.GraphQLRequest.RequestErrorStatus); malformed requests never get here, the guard
//     answers them 400;
//   - a mutation sent with GET is 405 with Allow: POST, and does not run;
//   - execution results, partial or not, are 200, except that a request any error of which says the
//     database cannot be reached (UNAVAILABLE) is 503 with Retry-After and that one error alone.
//
// Unlike gqlgen's transports, which write every answer through json.Marshal (which scans and compacts
// again the data that gqlgen, or the direct path, has just written as compact JSON: 15 % of the
// server's CPU for a page of 50 organizations), an answer that holds only data is written as it is, with
// its Content-Length, in one Write; any other answer (errors, extensions) goes through json.Marshal. Unlike
// json.Marshal, this leaves <, >, & and U+2028/U+2029 in the strings of data as they are: the same JSON
// values. gqlgen's transport options (extra response headers, graphql-response+json by default) are not
// offered: the server uses neither.

// postJSON answers POST requests with an application/json body.
type postJSON struct{}

// getJSON answers GET requests, for queries only.
type getJSON struct{}

var (
	_ graphql.Transport = postJSON{}
	_ graphql.Transport = getJSON{}
)

// Supports takes the requests gqlgen's transport.POST takes: POST with an application/json body (the
// guard refuses any other).
func (postJSON) Supports(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Upgrade") == ""
}

func (postJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	execute(w, r, exec, false)
}

// Supports takes GET requests, as gqlgen's transport.GET does.
func (getJSON) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

func (getJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	execute(w, r, exec, true)
}

// execute runs the operation of the request the guard read; queryOnly refuses mutations (GET).
func execute(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, queryOnly bool) {
	ctx := r.Context()
	req := httpapi.GraphQLRequestFrom(ctx)
	if req == nil { // the handler is always served behind httpapi.Endpoint
		panic("graph: a request that httpapi's guard did not read")
	}
	w.Header().Set("Content-Type", req.Media+"; charset=utf-8")
	rc, opErr := exec.CreateOperationContext(ctx, req.Params)
	if opErr != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr)
		if unavailable(resp) {
			httpapi.WriteUnavailable(w, req.Media, httpapi.RequestIDFrom(ctx))
			return
		}
		w.WriteHeader(req.RequestErrorStatus())
		writeErrors(w, resp)
		return
	}
	if queryOnly && rc.Operation.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		err := gqlerror.Errorf("GET requests only allow query operations: send a %s with POST", rc.Operation.Operation)
		err.Extensions = map[string]any{"code": string(domain.EMETHODNOTALLOWED)}
		writeErrors(w, &graphql.Response{Errors: gqlerror.List{err}})
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if unavailable(resp) {
		httpapi.WriteUnavailable(w, req.Media, httpapi.RequestIDFrom(ctx))
		return
	}
	if dataOnly(resp) { // a known length: sent as is rather than in chunks
		w.Header().Set("Content-Length", strconv.Itoa(len(`{"data":}`)+len(resp.Data)))
	}
	writeResponse(w, resp)
}

// unavailable tells whether an error of resp says that the database cannot be reached (the error
// presenter made it UNAVAILABLE): the whole request is then answered 503 with Retry-After and that one
// error, without data, so that load balancers and clients retry it later.
func unavailable(resp *graphql.Response) bool {
	if resp == nil {
		return false
	}
	for _, e := range resp.Errors {
		if e.Extensions["code"] == string(domain.EUNAVAILABLE) {
			return true
		}
	}
	return false
}

// dataOnly tells whether resp holds data and nothing else.
func dataOnly(resp *graphql.Response) bool {
	return resp != nil && len(resp.Data) > 0 && len(resp.Errors) == 0 && len(resp.Extensions) == 0 &&
		resp.Label == "" && resp.Path == nil && resp.HasNext == nil
}

// writeResponse writes resp as JSON: {"data":…} as it is when it holds only data.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if dataOnly(resp) {
		// In one Write: net/http sends a large one on at once, where the closing brace written apart
		// would follow in a TCP segment of its own (one more system call, one more wake-up of the client).
		bp := answerBuffers.Get().(*[]byte)
		b := append(append(append((*bp)[:0], `{"data":`...), resp.Data...), '}')
		w.Write(b)
		if cap(b) <= maxPooledAnswer {
			*bp = b
			answerBuffers.Put(bp)
		}
		return
	}
	writeJSON(w, resp)
}

// answerBuffers hold the answers being written (writeResponse); one larger than maxPooledAnswer is left
// to the collector rather than kept.
var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledAnswer = 1 << 20

// writeErrors writes the errors and extensions of resp without a "data" entry: the answer to a request
// no field of which ran.
func writeErrors(w io.Writer, resp *graphql.Response) {
	writeJSON(w, struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
}

func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("encode the answer: %w", err)) // gqlgen's transports do the same
	}
	w.Write(b)
}
