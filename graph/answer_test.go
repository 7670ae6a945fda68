package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// writeCounter counts the writes an answer takes, as http.ResponseWriter has them: Write alone.
type writeCounter struct {
	buf    bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

// An answer that holds only data goes to the ResponseWriter in one Write, however large: written in
// three, its closing brace would reach the client in a TCP segment of its own.
func TestDataAnswerIsOneWrite(t *testing.T) {
	for _, size := range []int{10, 5000, 100_000, 2 << 20} { // the last one is not kept in the pool
		data := `{"s":"` + strings.Repeat("a", size) + `"}`
		for range 2 { // the second time from a pooled buffer
			w := &writeCounter{}
			writeResponse(w, &graphql.Response{Data: json.RawMessage(data)})
			if w.writes != 1 {
				t.Errorf("%d bytes of data: %d writes, want 1", size, w.writes)
			}
			if got, want := w.buf.String(), `{"data":`+data+`}`; got != want {
				t.Fatalf("%d bytes of data: wrote %.80q…, want %.80q…", size, got, want)
			}
		}
	}
}

// countingSchema counts the executions gqlgen starts.
type countingSchema struct {
	graphql.ExecutableSchema
	execs, responses int
}

func (s *countingSchema) Exec(context.Context) graphql.ResponseHandler {
	s.execs++
	return func(context.Context) *graphql.Response {
		s.responses++
		return &graphql.Response{Data: json.RawMessage(`{}`)}
	}
}

// gqlgen's execution of a query or mutation starts only when its first response is asked for, once;
// a subscription's at once.
func TestExecutionStartsWithItsFirstResponse(t *testing.T) {
	for _, op := range []ast.Operation{ast.Query, ast.Mutation, ast.Subscription} {
		s := &countingSchema{}
		ctx := graphql.WithOperationContext(context.Background(),
			&graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: op}})
		responses := lazyExec{ExecutableSchema: s}.Exec(ctx)
		wantAtOnce := 0
		if op == ast.Subscription {
			wantAtOnce = 1
		}
		if s.execs != wantAtOnce {
			t.Errorf("%s: %d executions before any response, want %d", op, s.execs, wantAtOnce)
		}
		for i := 1; i <= 2; i++ {
			if r := responses(ctx); r == nil || string(r.Data) != `{}` {
				t.Fatalf("%s: response %d is %+v", op, i, r)
			}
			if s.execs != 1 || s.responses != i {
				t.Errorf("%s: after %d responses, %d executions and %d responses, want 1 and %d", op, i, s.execs, s.responses, i)
			}
		}
	}
}
