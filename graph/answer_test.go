package graph

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
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
