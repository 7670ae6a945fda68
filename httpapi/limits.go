package httpapi

import (
	"crypto/sha256"
	"fmt"
	"net/http"

	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"orgs/domain"
)

// QueryLimits bound what one document may ask for. They are checked on the parsed document before
// gqlgen validates it: validation is quadratic in the number of fields of a selection set (overlapping
// fields), so a small body could otherwise cost seconds of CPU.
type QueryLimits struct {
	MaxTokens  int // lexical tokens of the document
	MaxDepth   int // nesting of selection sets, fragments followed
	MaxAliases int // aliased fields in the document
	MaxFields  int // field selections in the document, fragments counted where they are spread
}

// DefaultQueryLimits fit every query a client of this API needs, with room to spare.
// (GraphiQL's introspection query nests 14 levels deep.)
var DefaultQueryLimits = QueryLimits{MaxTokens: 5000, MaxDepth: 15, MaxAliases: 30, MaxFields: 500}

// LimitQueries rejects documents over the limits with HTTP 400 and extensions.code QUERY_TOO_COMPLEX.
// Documents that passed are remembered (by hash), so a repeated query is checked once.
func LimitQueries(l QueryLimits, next http.Handler) http.Handler {
	passed := lru.New[struct{}](1000)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := queryOf(r.Context())
		if q == "" {
			next.ServeHTTP(w, r)
			return
		}
		sum := sha256.Sum256([]byte(q))
		key := string(sum[:])
		if _, ok := passed.Get(r.Context(), key); ok {
			next.ServeHTTP(w, r)
			return
		}
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, l.MaxTokens)
		if err != nil {
			next.ServeHTTP(w, r) // gqlgen reports syntax errors, and the token limit, the usual way
			return
		}
		if msg := l.check(doc); msg != "" {
			WriteError(w, http.StatusBadRequest, domain.EQUERYTOOCOMPLEX, msg, "")
			return
		}
		passed.Add(r.Context(), key, struct{}{})
		next.ServeHTTP(w, r)
	})
}

// Check measures the document query, as LimitQueries does, for the operations that do not come over
// HTTP (those of a WebSocket): a QUERY_TOO_COMPLEX error when it is over a limit, nil otherwise (and for
// a document that does not parse, which gqlgen then reports).
func (l QueryLimits) Check(query string) *domain.Error {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.MaxTokens)
	if err != nil {
		return nil
	}
	if msg := l.check(doc); msg != "" {
		return domain.Errorf(domain.EQUERYTOOCOMPLEX, "%s", msg)
	}
	return nil
}

// check measures doc and returns why it is over a limit, or "".
func (l QueryLimits) check(doc *ast.QueryDocument) string {
	fragments := map[string]*ast.FragmentDefinition{}
	for _, f := range doc.Fragments {
		fragments[f.Name] = f
	}
	var fields, aliases, depth int
	var walk func(set ast.SelectionSet, level int, seen map[string]bool) bool
	walk = func(set ast.SelectionSet, level int, seen map[string]bool) bool {
		if level > depth {
			depth = level
		}
		if depth > l.MaxDepth || fields > l.MaxFields || aliases > l.MaxAliases {
			return false
		}
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				fields++
				if s.Alias != "" && s.Alias != s.Name {
					aliases++
				}
				if len(s.SelectionSet) > 0 && !walk(s.SelectionSet, level+1, seen) {
					return false
				}
			case *ast.InlineFragment:
				if !walk(s.SelectionSet, level, seen) {
					return false
				}
			case *ast.FragmentSpread:
				f := fragments[s.Name]
				if f == nil || seen[s.Name] {
					// Unknown or cyclic: validation reports it. It counts as a field, so that spreads
					// that lead to no field cannot make the walk exponential in the document's size.
					fields++
					continue
				}
				seen[s.Name] = true
				ok := walk(f.SelectionSet, level, seen)
				delete(seen, s.Name)
				if !ok {
					return false
				}
			}
		}
		return fields <= l.MaxFields && aliases <= l.MaxAliases
	}
	for _, op := range doc.Operations {
		if !walk(op.SelectionSet, 1, map[string]bool{}) {
			break
		}
	}
	switch {
	case depth > l.MaxDepth:
		return fmt.Sprintf("the query is nested too deeply (more than %d levels)", l.MaxDepth)
	case aliases > l.MaxAliases:
		return fmt.Sprintf("the query has too many aliases (more than %d)", l.MaxAliases)
	case fields > l.MaxFields:
		return fmt.Sprintf("the query selects too many fields (more than %d)", l.MaxFields)
	}
	return ""
}
