package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"orgs/domain"
	"orgs/httpapi"
)

func TestErrorPresenter(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(httpapi.ContextLogHandler{Handler: slog.NewJSONHandler(&logs, nil)})
	present := errorPresenter(logger)
	ctx := httpapi.WithRequestID(context.Background(), "req-1")

	t.Run("InternalIsScrubbedAndLoggedOnce", func(t *testing.T) {
		logs.Reset()
		cause := fmt.Errorf("create organization: %w", errors.New(`pq: duplicate key value violates unique constraint "x"`))
		for _, err := range []error{cause, gqlerror.WrapPath(nil, cause)} {
			got := present(ctx, err)
			if got.Message != "internal server error" || got.Extensions["code"] != "INTERNAL_SERVER_ERROR" || got.Extensions["requestId"] != "req-1" {
				t.Errorf("presented %v as %+v", err, got)
			}
		}
		if n := strings.Count(logs.String(), `duplicate key value`); n != 2 || !strings.Contains(logs.String(), `"request_id":"req-1"`) {
			t.Errorf("log = %s, want each error once with the request id", logs.String())
		}
	})
	t.Run("DomainErrorKeepsMessageAndCode", func(t *testing.T) {
		err := gqlerror.WrapPath(nil, fmt.Errorf("wrapped: %w", (&domain.Actor{}).Require(domain.PermTemplateManage)))
		got := present(ctx, err)
		if got.Extensions["code"] != "FORBIDDEN" || got.Extensions["permission"] != "TEMPLATE_MANAGE" || !strings.Contains(got.Message, "TEMPLATE_MANAGE") {
			t.Errorf("presented as %+v", got)
		}
	})
	t.Run("GraphQLErrorPassesUnchanged", func(t *testing.T) {
		got := present(ctx, gqlerror.Errorf(`Cannot query field "nope" on type "Query".`))
		if got.Message != `Cannot query field "nope" on type "Query".` {
			t.Errorf("presented as %+v", got)
		}
	})
	t.Run("PanicIsLoggedWithStackOnce", func(t *testing.T) {
		logs.Reset()
		err := recoverFunc(logger)(ctx, "boom")
		got := present(ctx, gqlerror.WrapPath(nil, err))
		if got.Message != "internal server error" || got.Extensions["code"] != "INTERNAL_SERVER_ERROR" {
			t.Errorf("presented as %+v", got)
		}
		if strings.Count(logs.String(), "\n") != 1 || !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "goroutine") {
			t.Errorf("log = %s, want one line with the panic and its stack", logs.String())
		}
	})
}
