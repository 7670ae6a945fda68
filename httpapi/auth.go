package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"orgs/domain"
)

// Authenticator resolves an API key to its actor; an unknown, revoked or expired key is an EUNAUTHENTICATED
// domain error. The database's store is one.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*domain.Actor, error)
}

// Authenticate resolves the API key of each request (Authorization: Bearer or X-API-Key) to its actor,
// with the organization of X-Organization-ID it acts in, and keeps the Idempotency-Key header in the
// context. A missing or unknown key is HTTP 401 with WWW-Authenticate and one UNAUTHENTICATED error,
// except that a request made only of introspection (the playground loading the schema) needs no valid
// key. When the key cannot be looked up because the database is away (auth is a Classifier that says
// so), the answer is 503 UNAVAILABLE with Retry-After.
func Authenticate(auth Authenticator, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := apiKeyOf(r)
		if key == "" {
			if r.Method == http.MethodOptions || introspectionOnly(r) {
				next.ServeHTTP(w, r)
				return
			}
			unauthenticated(w, "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>")
			return
		}
		actor, err := auth.Authenticate(r.Context(), key)
		if err != nil {
			if domain.ErrorCodeOf(err) == domain.EUNAUTHENTICATED {
				if introspectionOnly(r) {
					// The schema is public: a placeholder key in the playground must not hide it.
					next.ServeHTTP(w, r)
					return
				}
				unauthenticated(w, "unknown, revoked or expired API key")
				return
			}
			if c, ok := auth.(Classifier); ok && c.Unavailable(err) {
				WriteUnavailable(w, MediaJSON, RequestIDFrom(r.Context()))
				return
			}
			logger.ErrorContext(r.Context(), "authenticate", "error", err.Error())
			WriteError(w, http.StatusInternalServerError, domain.EINTERNAL, "internal server error", RequestIDFrom(r.Context()))
			return
		}
		actor.ActingOrganizationID = strings.TrimSpace(r.Header.Get("X-Organization-ID"))
		ctx := domain.WithActor(r.Context(), actor)
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			ctx = context.WithValue(ctx, idempotencyKey{}, key)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type idempotencyKey struct{}

// IdempotencyKeyFrom returns the request's Idempotency-Key header, or "".
func IdempotencyKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}

func apiKeyOf(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

func unauthenticated(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="orgs"`)
	WriteError(w, http.StatusUnauthorized, domain.EUNAUTHENTICATED, msg, "")
}

// introspectionOnly reports whether the request's operations select nothing but __schema, __type and
// __typename at their root.
func introspectionOnly(r *http.Request) bool {
	query := queryOf(r.Context())
	if query == "" {
		return false
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil || len(doc.Operations) == 0 {
		return false
	}
	for _, op := range doc.Operations {
		if op.Operation != ast.Query {
			return false
		}
		for _, sel := range op.SelectionSet {
			f, ok := sel.(*ast.Field)
			if !ok || (f.Name != "__schema" && f.Name != "__type" && f.Name != "__typename") {
				return false
			}
		}
	}
	return true
}
