package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// postJSON is gqlgen's POST transport (transport.POST: application/json bodies, the same content type,
// statuses and errors) but for how it writes an answer. transport.POST writes every answer through
// json.Marshal, which scans and compacts again the data that gqlgen (or the direct path) has just
// written as compact JSON: 15 % of the server's CPU for a page of 50 organizations. postJSON writes an
// answer that holds only data as it is, and any other answer (errors, extensions) through json.Marshal.
// Unlike json.Marshal, it leaves <, >, & and U+2028/U+2029 in the strings of data as they are: the same
// JSON values. transport.POST's options (extra response headers, graphql-response+json by default) are
// not offered: the server uses neither.
type postJSON struct{}

var _ graphql.Transport = postJSON{}

// Supports takes the requests transport.POST takes: POST with an application/json body.
func (postJSON) Supports(r *http.Request) bool { return transport.POST{}.Supports(r) }

func (postJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()
	params := &graphql.RawParams{}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{
			gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, string(body))}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		status := http.StatusOK
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
			if contentType == mediaGraphQLResponse {
				status = http.StatusBadRequest
			}
		}
		w.WriteHeader(status)
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if dataOnly(resp) { // a known length: sent as is rather than in chunks
		w.Header().Set("Content-Length", strconv.Itoa(len(`{"data":}`)+len(resp.Data)))
	}
	writeResponse(w, resp)
}

// responseContentType is the content type of the answer: the one GraphQLOverHTTP negotiated from Accept
// and left alone in the request (it answers 406 itself when none is acceptable).
func responseContentType(r *http.Request) string {
	if media, _, ok := negotiate(r.Header.Values("Accept")); ok {
		return media
	}
	return mediaJSON
}

// dataOnly tells whether resp holds data and nothing else.
func dataOnly(resp *graphql.Response) bool {
	return resp != nil && len(resp.Data) > 0 && len(resp.Errors) == 0 && len(resp.Extensions) == 0 &&
		resp.Label == "" && resp.Path == nil && resp.HasNext == nil
}

// writeResponse writes resp as JSON: {"data":…} as it is when it holds only data.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if dataOnly(resp) {
		io.WriteString(w, `{"data":`)
		w.Write(resp.Data)
		io.WriteString(w, `}`)
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		panic(fmt.Errorf("encode the answer: %w", err)) // gqlgen's transports do the same
	}
	w.Write(b)
}
