package graph

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
)

// Metrics are the Prometheus metrics of GraphQL operations (those of HTTP are httpapi's).
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	direct   *prometheus.CounterVec
	creates  *prometheus.CounterVec
	gqlgen   prometheus.Counter
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgs_graphql_operations_total",
			Help: "GraphQL operations by operation (its root fields) and outcome (ok, user_error, error).",
		}, []string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orgs_graphql_operation_duration_seconds",
			Help:    "Latency of GraphQL operations by operation and outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation", "outcome"}),
		direct: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgs_graphql_direct_reads_total",
			Help: "Organization lists answered by the direct path (answered), handed back to gqlgen by it (fallback), whose read failed (failed), or left to gqlgen after a panic of the direct path (panic).",
		}, []string{"outcome"}),
		creates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgs_graphql_direct_creates_total",
			Help: "createOrganization answers written by the direct path (answered), or by gqlgen from the create the direct path ran (fallback).",
		}, []string{"outcome"}),
		gqlgen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orgs_graphql_gqlgen_executions_total",
			Help: "Queries and mutations gqlgen executed field by field, rather than the direct path answering them.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.direct, m.creates, m.gqlgen)
	return m
}

// operationLabel names an operation by its type and root fields ("mutation createOrganization"):
// bounded by the schema, unlike client-chosen operation names.
func operationLabel(op *graphql.OperationContext) string {
	if op == nil || op.Operation == nil {
		return "invalid"
	}
	var fields []string
	for _, f := range graphql.CollectFields(op, op.Operation.SelectionSet, nil) {
		fields = append(fields, f.Name)
	}
	sort.Strings(fields)
	fields = slices.Compact(fields) // aliases of one field count once
	return string(op.Operation.Operation) + " " + strings.Join(fields, ",")
}

// countDirect counts an operation the direct path answered, handed back, failed or panicked on
// (graph/direct.go).
func (m *Metrics) countDirect(outcome string) {
	if m != nil {
		m.direct.WithLabelValues(outcome).Inc()
	}
}

// countDirectCreate counts a createOrganization the direct path ran and answered, or ran and left to
// gqlgen to answer (graph/created.go).
func (m *Metrics) countDirectCreate(outcome string) {
	if m != nil {
		m.creates.WithLabelValues(outcome).Inc()
	}
}

// countGqlgenExecution counts a query or mutation gqlgen executed field by field (lazyExec).
func (m *Metrics) countGqlgenExecution() {
	if m != nil {
		m.gqlgen.Inc()
	}
}

// userErrorsMark is set by markUserErrors when a mutation's payload carries userErrors.
type userErrorsMark struct{ set atomic.Bool }

type userErrorsKey struct{}

// markUserErrors records, for the metrics of ctx's operation, that a payload carries userErrors (see
// userErrorsOf). Without metrics it does nothing.
func markUserErrors(ctx context.Context) {
	if m, ok := ctx.Value(userErrorsKey{}).(*userErrorsMark); ok {
		m.set.Store(true)
	}
}

// metricsExtension records every executed operation; it implements gqlgen's ResponseInterceptor.
type metricsExtension struct{ m *Metrics }

func (metricsExtension) ExtensionName() string { return "Metrics" }

func (metricsExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (e metricsExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	mark := &userErrorsMark{}
	resp := next(context.WithValue(ctx, userErrorsKey{}, mark))
	if !graphql.HasOperationContext(ctx) {
		return resp
	}
	op := graphql.GetOperationContext(ctx)
	if op.Operation != nil && op.Operation.Operation == ast.Subscription {
		return resp // each event of a subscription is a response: realtime's metrics count them
	}
	outcome := "ok"
	switch {
	case resp == nil:
		return resp
	case len(resp.Errors) > 0:
		outcome = "error"
	case mark.set.Load():
		outcome = "user_error"
	}
	label := operationLabel(op)
	e.m.requests.WithLabelValues(label, outcome).Inc()
	e.m.duration.WithLabelValues(label, outcome).Observe(time.Since(start).Seconds())
	return resp
}
