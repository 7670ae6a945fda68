package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"orgs/db"
	"orgs/domain"
	"orgs/graph/model"
)

// The direct path of organization lists.
//
// gqlgen executes a query field by field: a goroutine for each element of a list of objects and for
// each field with a resolver, a field context for each value. For a page of 50 organizations with their
// projects and owners that is a few hundred goroutines and some 20,000 allocations, ten times the
// CPU PostgreSQL spends on the same read. Queries whose root fields are all `organizations` (or
// __typename) and that select only the fields below are answered directly instead: gqlgen has parsed,
// validated and costed the operation as always; the direct path plans the selection once, reads the
// selected columns in one statement per table (prepared, see db/selected.go) and writes the JSON with
// gqlgen's own marshalers, in one goroutine. The answer is byte for byte the one gqlgen would give
// (direct_test.go compares the two for every supported field).
//
// Anything else (another root field, an unsupported field or one with a directive, @defer, an argument
// gqlgen would reject, a missing permission, an organization without a default project) falls back to
// gqlgen's execution of the whole operation, which answers it with its usual data and errors. Reads
// have no side effects, so starting over is safe. A failure of the read itself (the database, the
// request's deadline) is answered as gqlgen answers it, an error at the field's path and no data,
// without reading again: doing the work twice would double the load on a database in trouble. A panic
// of the direct path (a defect of its own) is logged with its stack and the request's, counted, and
// leaves the operation to gqlgen, which answers it as if the direct path did not exist.

// errIndirect says that an operation is not for the direct path; it is not an error of the request.
var errIndirect = errors.New("not for the direct path")

// unwritable is data the direct path cannot write as gqlgen would (gqlgen reports it its own way).
type unwritable struct{ msg string }

func (e *unwritable) Error() string { return e.msg }

// readError is a failure of a root field's read.
type readError struct {
	field graphql.CollectedField
	err   error
}

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// directReads is the gqlgen extension of the direct path: it implements OperationInterceptor and
// ResponseInterceptor.
type directReads struct {
	es      *executableSchema
	store   *db.Store
	metrics *Metrics
	logger  *slog.Logger
}

func (directReads) ExtensionName() string { return "DirectReads" }

func (directReads) Validate(graphql.ExecutableSchema) error { return nil }

// directState marks an operation answered directly: a transport that asks for more responses (deferred
// ones) then gets none. It keeps the result of a create the direct path ran (created.go).
type directState struct {
	answered bool
	created  createdMemo
}

type directStateKey struct{}

func (directReads) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, directStateKey{}, &directState{}))
}

func (d directReads) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	st, _ := ctx.Value(directStateKey{}).(*directState)
	if st == nil || !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	if st.answered {
		return nil
	}
	op := graphql.GetOperationContext(ctx)
	if op.Operation != nil && op.Operation.Operation == ast.Mutation {
		if st.created.done {
			// The create ran at an earlier call: the WebSocket transport asks for responses until it gets
			// none, and gqlgen's handler, which answered from the memo, now says there are none.
			return next(ctx)
		}
		data, err := d.answerCreate(ctx, op, &st.created)
		switch {
		case err == nil:
			d.metrics.countDirectCreate("answered")
		case errors.Is(err, errIndirect):
			return next(ctx)
		default: // the create ran: gqlgen writes its answer from the memo
			d.metrics.countDirectCreate("fallback")
			return next(ctx)
		}
		st.answered = true
		return &graphql.Response{Data: data, Errors: graphql.GetErrors(ctx), Extensions: graphql.GetExtensions(ctx)}
	}
	if op.Operation == nil || op.Operation.Operation != ast.Query {
		return next(ctx)
	}
	data, err := d.answerOrRecover(ctx, op)
	var uw *unwritable
	var re *readError
	var pe *directPanic
	switch {
	case err == nil:
		d.metrics.countDirect("answered")
	case errors.Is(err, errIndirect):
		return next(ctx)
	case errors.As(err, &uw):
		d.logger.DebugContext(ctx, "direct read falls back to gqlgen", "error", err)
		d.metrics.countDirect("fallback")
		return next(ctx)
	case errors.As(err, &pe):
		d.logger.ErrorContext(ctx, "panic in the direct path of lists; gqlgen answers instead", "panic", pe.value,
			"stack", pe.stack, "operation", operationLabel(op), "operation_name", op.OperationName, "tenant", tenantOf(ctx))
		d.metrics.countDirect("panic")
		return next(ctx)
	case errors.As(err, &re):
		// As gqlgen: the error at the field's path, through the error presenter; the field is non-null,
		// so there is no data.
		d.metrics.countDirect("failed")
		graphql.AddError(graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Query", Field: re.field,
			IsMethod: true, IsResolver: true}), fmt.Errorf("list organizations: %w", re.err))
		data = []byte("null")
	default: // not expected: let gqlgen answer
		d.logger.WarnContext(ctx, "direct read falls back to gqlgen", "error", err)
		d.metrics.countDirect("fallback")
		return next(ctx)
	}
	st.answered = true
	return &graphql.Response{Data: data, Errors: graphql.GetErrors(ctx), Extensions: graphql.GetExtensions(ctx)}
}

// directPanic is a panic of the direct path, recovered.
type directPanic struct {
	value string
	stack string
}

func (e *directPanic) Error() string { return "panic: " + e.value }

// answerOrRecover is answer, with a panic recovered into a *directPanic.
func (d directReads) answerOrRecover(ctx context.Context, op *graphql.OperationContext) (data []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			data, err = nil, &directPanic{value: fmt.Sprint(v), stack: string(debug.Stack())}
		}
	}()
	return d.answer(ctx, op)
}

// directHook, when set, runs after each read of the direct path, before its data is written: tests
// make it panic.
var directHook atomic.Pointer[func(context.Context)]

func tenantOf(ctx context.Context) string {
	if a := domain.ActorFrom(ctx); a != nil {
		return a.TenantID
	}
	return ""
}

// answer plans the operation, reads what it selects and writes its data; errIndirect when the operation
// is not for the direct path.
func (d directReads) answer(ctx context.Context, op *graphql.OperationContext) ([]byte, error) {
	root := graphql.CollectFields(op, op.Operation.SelectionSet, queryImplementors)
	lists := make([]*listPlan, len(root))
	for i, f := range root {
		if f.IsDeferred() {
			return nil, errIndirect
		}
		switch f.Name {
		case "__typename":
		case "organizations":
			p, err := d.planList(ctx, op, f)
			if err != nil {
				return nil, err
			}
			lists[i] = p
		default:
			return nil, errIndirect
		}
	}
	if !slices.ContainsFunc(lists, func(l *listPlan) bool { return l != nil }) {
		return nil, errIndirect // __typename alone: no list to read
	}
	w := &bytes.Buffer{}
	for _, l := range lists {
		if l != nil {
			w.Grow(512 * l.page.Size) // about what an organization takes, to grow the buffer less often
		}
	}
	w.WriteByte('{')
	for i, f := range root {
		if i > 0 {
			w.WriteByte(',')
		}
		writeKey(w, f.Alias)
		if lists[i] == nil {
			graphql.MarshalString("Query").MarshalGQL(w)
			continue
		}
		data, err := lists[i].read(ctx, readStore(ctx, d.store))
		if err != nil {
			return nil, &readError{field: f, err: err}
		}
		if hook := directHook.Load(); hook != nil {
			(*hook)(ctx)
		}
		if err := lists[i].write(w, data); err != nil {
			return nil, err
		}
	}
	w.WriteByte('}')
	return w.Bytes(), nil
}

func writeKey(w *bytes.Buffer, alias string) {
	graphql.MarshalString(alias).MarshalGQL(w)
	w.WriteByte(':')
}

// listPlan is one organizations field: its arguments, what it reads and how it writes.
type listPlan struct {
	tenantID string
	filter   domain.OrganizationFilter
	order    domain.Order
	page     domain.PageRequest
	need     *needs
	write    func(*bytes.Buffer, *listData) error
}

// needs is what the selection reads: columns of organizations, relations, cursors, the total.
type needs struct {
	org       []string
	relations db.Relations
	cursors   bool
	total     bool
	templates bool
}

// listData is what a list read from the database.
type listData struct {
	page      *db.OrganizationPage
	cursors   []string
	related   *db.Related
	templates map[string]*domain.Template
	total     int
}

// planList checks the arguments and the permission as gqlgen would, and compiles the selection.
func (d directReads) planList(ctx context.Context, op *graphql.OperationContext, f graphql.CollectedField) (*listPlan, error) {
	actor := domain.ActorFrom(ctx)
	if !permitted(ctx, f) {
		return nil, errIndirect // gqlgen reports it
	}
	ec := newExecutionContext(op, d.es, nil)
	fctx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Query", Field: f, IsMethod: true, IsResolver: true})
	args, err := ec.field_Query_organizations_args(fctx, f.ArgumentMap(op.Variables))
	if err != nil {
		return nil, errIndirect
	}
	first, _ := args["first"].(*int)
	after, _ := args["after"].(*string)
	last, _ := args["last"].(*int)
	before, _ := args["before"].(*string)
	filter, _ := args["filter"].(*model.OrganizationFilter)
	orderBy, _ := args["orderBy"].(*model.OrganizationOrder)
	p := &listPlan{tenantID: actor.TenantID, filter: toFilter(filter), order: toOrder(orderBy), need: &needs{}}
	if p.page, err = domain.NewPageRequest(first, after, last, before, p.order.Field); err != nil {
		return nil, errIndirect
	}
	write, err := connectionTable.compile(&compiler{op: op, ec: ec, ctx: fctx, need: p.need}, f.Selections)
	if err != nil {
		return nil, err
	}
	p.write = func(w *bytes.Buffer, data *listData) error { return write(w, struct{}{}, data) }
	return p, nil
}

// permitted tells whether the caller may run root field f, as its @hasPermission says; false also when
// f carries another directive, which is gqlgen's to apply.
func permitted(ctx context.Context, f graphql.CollectedField) bool {
	actor := domain.ActorFrom(ctx)
	if actor == nil || f.Definition == nil {
		return false
	}
	for _, dir := range f.Definition.Directives { // @hasPermission, as the schema puts it on the field
		arg := dir.Arguments.ForName("permission")
		if dir.Name != "hasPermission" || arg == nil || arg.Value == nil {
			return false
		}
		if actor.Require(domain.Permission(arg.Value.Raw)) != nil {
			return false
		}
	}
	return true
}

// read runs the plan's statements, in a turn of the store's reads: the page, then the relations of its
// organizations.
func (p *listPlan) read(ctx context.Context, store *db.Store) (*listData, error) {
	release, err := store.ReadTurn(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	page, err := store.ListOrganizationsSelected(ctx, p.tenantID, p.filter, p.order, p.page, p.need.org, p.need.cursors)
	if err != nil {
		return nil, err
	}
	data := &listData{page: page}
	if p.need.cursors {
		data.cursors = make([]string, len(page.Cursors))
		for i, c := range page.Cursors {
			data.cursors[i] = c.Encode()
		}
	}
	ids := make([]string, len(page.Organizations))
	for i, o := range page.Organizations {
		ids[i] = o.ID
	}
	if data.related, err = store.RelationsSelected(ctx, p.tenantID, ids, p.need.relations); err != nil {
		return nil, err
	}
	if p.need.templates {
		var tids []string
		for _, o := range page.Organizations {
			if o.TemplateID != nil && !slices.Contains(tids, *o.TemplateID) {
				tids = append(tids, *o.TemplateID)
			}
		}
		if data.templates, err = store.TemplatesSelected(ctx, p.tenantID, tids); err != nil {
			return nil, err
		}
	}
	if p.need.total {
		if data.total, err = store.CountOrganizations(ctx, p.tenantID, p.filter); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// A compiled selection writes one object of its type.
type writer[T any] func(w *bytes.Buffer, v T, data *listData) error

// compiler compiles the selection of one list: the operation, and what the list's plan reads.
type compiler struct {
	op   *graphql.OperationContext
	ec   *executionContext // for the arguments of fields below the list
	ctx  context.Context
	need *needs
}

// table is the fields of one type that the direct path writes: its scalars, each with the columns it
// reads, and the fields that need more than columns (objects, lists, cursors, the total), each with how
// it compiles. The tables below are the only list of what the direct path serves: direct_test.go builds
// its queries from them, and fails while a field of the schema is neither here nor named as gqlgen's.
type table[T any] struct {
	implementors []string               // generated.go's: the type, then its interfaces
	columns      func(*needs) *[]string // where the columns of its scalars go; nil when they read none
	scalars      map[string]scalar[T]
	compiled     map[string]func(*compiler, graphql.CollectedField) (writer[T], error)
}

// compile compiles a selection set on the table's type: each collected field, in gqlgen's order, under
// its alias. It fails with errIndirect on a field the table does not have.
func (t *table[T]) compile(c *compiler, sel ast.SelectionSet) (writer[T], error) {
	fields := graphql.CollectFields(c.op, sel, t.implementors)
	keys := make([][]byte, len(fields))
	writers := make([]writer[T], len(fields))
	for i, f := range fields {
		if f.IsDeferred() {
			return nil, errIndirect
		}
		var key bytes.Buffer
		writeKey(&key, f.Alias)
		keys[i] = key.Bytes()
		if f.Name == "__typename" {
			writers[i] = constant[T](t.implementors[0])
			continue
		}
		if f.Definition == nil || hasDirectives(f.Definition) {
			return nil, errIndirect // a directive of the schema (say @hasPermission) is gqlgen's to apply
		}
		w, err := t.field(c, f)
		if err != nil {
			return nil, err
		}
		writers[i] = w
	}
	return func(w *bytes.Buffer, v T, data *listData) error {
		w.WriteByte('{')
		for i, write := range writers {
			if i > 0 {
				w.WriteByte(',')
			}
			w.Write(keys[i])
			if err := write(w, v, data); err != nil {
				return err
			}
		}
		w.WriteByte('}')
		return nil
	}, nil
}

// field compiles one field of the table's type.
func (t *table[T]) field(c *compiler, f graphql.CollectedField) (writer[T], error) {
	if s, ok := t.scalars[f.Name]; ok {
		if len(f.Arguments) > 0 {
			return nil, errIndirect
		}
		if t.columns != nil {
			cols := t.columns(c.need)
			*cols = append(*cols, s.columns...)
		}
		return s.writer(), nil
	}
	if compile, ok := t.compiled[f.Name]; ok {
		return compile(c, f)
	}
	return nil, errIndirect
}

// served is the table's type and the names of its fields, sorted.
func (t *table[T]) served() (string, []string) {
	names := make([]string, 0, len(t.scalars)+len(t.compiled))
	for n := range t.scalars {
		names = append(names, n)
	}
	for n := range t.compiled {
		names = append(names, n)
	}
	slices.Sort(names)
	return t.implementors[0], names
}

// directFields are the fields the direct path writes, by type.
func directFields() map[string][]string {
	out := map[string][]string{}
	for _, served := range []func() (string, []string){connectionTable.served, edgeTable.served,
		pageInfoTable.served, organizationTable.served, projectTable.served, memberTable.served,
		domainTable.served, verificationTable.served, attributeTable.served, memberConnectionTable.served,
		memberEdgeTable.served, projectConnectionTable.served, projectEdgeTable.served, templateTable.served,
		projectTemplateTable.served, definitionTable.served} {
		typ, names := served()
		out[typ] = names
	}
	return out
}

// hasDirectives tells whether the schema puts a directive other than @deprecated on a field.
func hasDirectives(f *ast.FieldDefinition) bool {
	for _, d := range f.Directives {
		if d.Name != "deprecated" {
			return true
		}
	}
	return false
}

func constant[T any](s string) writer[T] {
	var b bytes.Buffer
	graphql.MarshalString(s).MarshalGQL(&b)
	return func(w *bytes.Buffer, _ T, _ *listData) error {
		w.Write(b.Bytes())
		return nil
	}
}

// array writes the elements for i in [0, n) that keep accepts (all when keep is nil) as a JSON array.
func array(w *bytes.Buffer, n int, keep func(i int) bool, write func(i int) error) error {
	w.WriteByte('[')
	written := 0
	for i := range n {
		if keep != nil && !keep(i) {
			continue
		}
		if written > 0 {
			w.WriteByte(',')
		}
		written++
		if err := write(i); err != nil {
			return err
		}
	}
	w.WriteByte(']')
	return nil
}

// scalar is a leaf field: the columns it reads and how it writes its value.
type scalar[T any] struct {
	columns []string
	write   func(*bytes.Buffer, T)
}

func (s scalar[T]) writer() writer[T] {
	return func(w *bytes.Buffer, v T, _ *listData) error {
		s.write(w, v)
		return nil
	}
}

// The values of the fields, as gqlgen's marshalers for their types write them (String and ID:
// graphql.MarshalString; Boolean: MarshalBoolean; Int: MarshalInt; DateTime and the enums: their
// MarshalGQL), byte for byte.

// writeString writes s as graphql.MarshalString does: a string without a character to escape as it
// is, any other through MarshalString.
func writeString(w *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '\\' || c == '"' {
			graphql.MarshalString(s).MarshalGQL(w)
			return
		}
	}
	w.WriteByte('"')
	w.WriteString(s)
	w.WriteByte('"')
}

func writeOptString(w *bytes.Buffer, s *string) {
	if s == nil {
		w.WriteString("null")
		return
	}
	writeString(w, *s)
}

// writeBool writes b as graphql.MarshalBoolean does, without the closure it makes for each value.
func writeBool(w *bytes.Buffer, b bool) {
	if b {
		w.WriteString("true")
	} else {
		w.WriteString("false")
	}
}

func writeInt(w *bytes.Buffer, n int) { w.WriteString(strconv.Itoa(n)) }

func writeTime(w *bytes.Buffer, t time.Time) { dateTime(t).MarshalGQL(w) }

func writeOptBool(w *bytes.Buffer, b *bool) {
	if b == nil {
		w.WriteString("null")
		return
	}
	writeBool(w, *b)
}

// An enum is a generated enum type of the schema: its values are strings, its MarshalGQL writes one.
type enum interface {
	~string
	MarshalGQL(io.Writer)
}

// enumWriter writes the values of an enum as its MarshalGQL does, which formats and quotes the value
// anew each time (a tenth of the answer's writing in a list of members): the bytes of each of the
// schema's values are made once by MarshalGQL itself, and any other value goes through MarshalGQL.
func enumWriter[E enum](values []E) func(*bytes.Buffer, E) {
	written := make(map[E][]byte, len(values))
	for _, v := range values {
		var b bytes.Buffer
		v.MarshalGQL(&b)
		written[v] = b.Bytes()
	}
	return func(w *bytes.Buffer, e E) {
		if b, ok := written[e]; ok {
			w.Write(b)
			return
		}
		e.MarshalGQL(w)
	}
}

var (
	writeOrganizationStatus = enumWriter(model.AllOrganizationStatus)
	writeProjectType        = enumWriter(model.AllProjectType)
	writeProjectMode        = enumWriter(model.AllProjectMode)
	writeProjectStatus      = enumWriter(model.AllProjectStatus)
	writeMemberRole         = enumWriter(model.AllMemberRole)
	writeMemberStatus       = enumWriter(model.AllMemberStatus)
	writeAttributeType      = enumWriter(model.AllCustomAttributeType)
	writeDomainStatus       = enumWriter(model.AllDomainStatus)
)

// writeOptEnum writes an optional value of an enum with write.
func writeOptEnum[E enum](w *bytes.Buffer, e *E, write func(*bytes.Buffer, E)) {
	if e == nil {
		w.WriteString("null")
		return
	}
	write(w, *e)
}

// writeJSONScalar writes a value of the JSON scalar as the generated marshaler does: null, or
// model.MarshalJSONValue's encoding.
func writeJSONScalar(w *bytes.Buffer, v any) {
	if v == nil {
		w.WriteString("null")
		return
	}
	model.MarshalJSONValue(v).MarshalGQL(w)
}

func writeOptTime(w *bytes.Buffer, t *time.Time) {
	if t == nil {
		w.WriteString("null")
		return
	}
	writeTime(w, *t)
}

// The fields of an organization, a project and a member that the direct path writes, with the
// marshalers of gqlgen's generated code for their types.
var organizationTable = &table[*domain.Organization]{
	implementors: organizationImplementors,
	columns:      func(n *needs) *[]string { return &n.org },
	scalars: map[string]scalar[*domain.Organization]{
		"id":             {nil, func(w *bytes.Buffer, o *domain.Organization) { writeString(w, o.ID) }},
		"name":           {[]string{"name"}, func(w *bytes.Buffer, o *domain.Organization) { writeString(w, o.Name) }},
		"slug":           {[]string{"slug"}, func(w *bytes.Buffer, o *domain.Organization) { writeString(w, o.Slug) }},
		"description":    {[]string{"description"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.Description) }},
		"avatarUrl":      {[]string{"avatar_url"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.AvatarURL) }},
		"countryCode":    {[]string{"country_code"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.CountryCode) }},
		"languageCode":   {[]string{"language_code"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.LanguageCode) }},
		"locale":         {[]string{"locale"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.Locale) }},
		"timezone":       {[]string{"timezone"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.Timezone) }},
		"phone":          {[]string{"phone"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.Phone) }},
		"regionTemplate": {[]string{"region_template"}, func(w *bytes.Buffer, o *domain.Organization) { writeOptString(w, o.RegionTemplate) }},
		"primaryDomain":  {[]string{"primary_domain"}, func(w *bytes.Buffer, o *domain.Organization) { writeString(w, o.PrimaryDomain) }},
		"isPrivate":      {[]string{"is_private"}, func(w *bytes.Buffer, o *domain.Organization) { writeBool(w, o.IsPrivate) }},
		"isDefault":      {[]string{"is_default"}, func(w *bytes.Buffer, o *domain.Organization) { writeBool(w, o.IsDefault) }},
		"isSystem":       {[]string{"is_system"}, func(w *bytes.Buffer, o *domain.Organization) { writeBool(w, o.IsSystem) }},
		"status": {[]string{"status"}, func(w *bytes.Buffer, o *domain.Organization) {
			writeOrganizationStatus(w, model.OrganizationStatus(o.Status))
		}},
		"statusChangedAt": {[]string{"status_changed_at"}, func(w *bytes.Buffer, o *domain.Organization) { writeTime(w, o.StatusChangedAt) }},
		"isActive":        {[]string{"status"}, func(w *bytes.Buffer, o *domain.Organization) { writeBool(w, o.IsActive()) }},
		"totalMembers":    {[]string{"member_count"}, func(w *bytes.Buffer, o *domain.Organization) { writeInt(w, o.TotalMembers) }},
		"createdBy":       {[]string{"created_by"}, func(w *bytes.Buffer, o *domain.Organization) { writeString(w, o.CreatedBy) }},
		"createdAt":       {[]string{"created_at"}, func(w *bytes.Buffer, o *domain.Organization) { writeTime(w, o.CreatedAt) }},
		"updatedAt":       {[]string{"updated_at"}, func(w *bytes.Buffer, o *domain.Organization) { writeTime(w, o.UpdatedAt) }},
	},
	compiled: map[string]func(*compiler, graphql.CollectedField) (writer[*domain.Organization], error){
		"defaultProject": func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
			write, err := compileProjects(c, f)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
				if p := domain.DefaultProject(data.related.Projects[o.ID]); p != nil {
					return write(w, p, data)
				}
				return &unwritable{fmt.Sprintf("organization %s has no default project", o.ID)} // gqlgen reports it
			}, nil
		},
		"projects": func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
			write, err := compileProjects(c, f)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
				ps := data.related.Projects[o.ID]
				return array(w, len(ps), nil, func(i int) error { return write(w, &ps[i], data) })
			}, nil
		},
		"owners":  compileMembers(true),
		"members": compileMembers(false),
		"domains": func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
			c.need.relations.Domains = true
			write, err := domainTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
				ds := data.related.Domains[o.ID]
				return array(w, len(ds), nil, func(i int) error { return write(w, &ds[i], data) })
			}, nil
		},
		"membersConnection": func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
			args, err := c.ec.field_Organization_membersConnection_args(c.ctx, f.ArgumentMap(c.op.Variables))
			if err != nil {
				return nil, errIndirect
			}
			role, _ := args["role"].(*model.MemberRole)
			status, _ := args["status"].(*model.MemberStatus)
			first, _ := args["first"].(*int)
			after, _ := args["after"].(*string)
			if _, err := domain.NewPageRequest(first, after, nil, nil, ""); err != nil {
				return nil, errIndirect // gqlgen reports it
			}
			rel := &c.need.relations
			rel.Members, rel.AllMembers = true, true
			rel.MemberColumns = append(rel.MemberColumns, "id") // the page and its cursors go by id
			if status != nil {
				rel.MemberColumns = append(rel.MemberColumns, "status")
			}
			write, err := memberConnectionTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
				return writeRelPage(w, membersMatching(data.related.Members[o.ID], role, status),
					func(m domain.Member) string { return m.ID }, first, after, write, data)
			}, nil
		},
		"projectsConnection": func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
			args, err := c.ec.field_Organization_projectsConnection_args(c.ctx, f.ArgumentMap(c.op.Variables))
			if err != nil {
				return nil, errIndirect
			}
			first, _ := args["first"].(*int)
			after, _ := args["after"].(*string)
			if _, err := domain.NewPageRequest(first, after, nil, nil, ""); err != nil {
				return nil, errIndirect // gqlgen reports it
			}
			c.need.relations.Projects = true
			write, err := projectConnectionTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
				return writeRelPage(w, data.related.Projects[o.ID], func(p domain.Project) string { return p.ID }, first, after, write, data)
			}, nil
		},
		"template": func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
			c.need.org, c.need.templates = append(c.need.org, "template_id"), true
			write, err := templateTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
				var t *domain.Template
				if o.TemplateID != nil {
					t = data.templates[*o.TemplateID]
				}
				if t == nil { // none, or deleted since
					w.WriteString("null")
					return nil
				}
				return write(w, toTemplate(t), data)
			}, nil
		},
		"customAttributes": func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
			c.need.relations.Attributes = true
			write, err := attributeTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
				as := data.related.Attributes[o.ID]
				return array(w, len(as), nil, func(i int) error { return write(w, &as[i], data) })
			}, nil
		},
	},
}

// relPage is a page of an organization's projects or members as a connection (pageOf's).
type relPage[T any] struct {
	rows             []T
	id               func(T) string
	hasNext, hasPrev bool
	total            int
}

// cursor is the cursor of the i-th row, made when a selection writes it.
func (p *relPage[T]) cursor(i int) string { return rowCursor(p.id(p.rows[i])) }

// info is the page's pageInfo, as pageOf makes it.
func (p *relPage[T]) info() *model.PageInfo {
	var ends []string
	if n := len(p.rows); n > 0 {
		ends = []string{p.cursor(0), p.cursor(n - 1)}
	}
	return pageInfo(ends, p.hasNext, p.hasPrev)
}

// relEdge is the edge of the i-th row of a relPage.
type relEdge[T any] struct {
	page *relPage[T]
	i    int
}

// writeRelPage writes the page of all that first and after select, as the connection resolvers page it
// (pageOf); a cursor whose row has gone is gqlgen's to report. Cursors are made only where the selection
// writes them.
func writeRelPage[T any](w *bytes.Buffer, all []T, id func(T) string, first *int, after *string, write writer[*relPage[T]], data *listData) error {
	rows, hasNext, hasPrev, err := pageSlice(all, id, first, after)
	if err != nil {
		return &unwritable{err.Error()}
	}
	return write(w, &relPage[T]{rows: rows, id: id, hasNext: hasNext, hasPrev: hasPrev, total: len(all)}, data)
}

// relConnection is the tables of the connection and the edge of a relation whose rows node writes.
func relConnection[T any](connection, edge []string, node *table[*T]) (*table[*relPage[T]], *table[relEdge[T]]) {
	edges := &table[relEdge[T]]{
		implementors: edge,
		scalars: map[string]scalar[relEdge[T]]{
			"cursor": {nil, func(w *bytes.Buffer, e relEdge[T]) { writeString(w, e.page.cursor(e.i)) }},
		},
		compiled: map[string]func(*compiler, graphql.CollectedField) (writer[relEdge[T]], error){
			"node": func(c *compiler, f graphql.CollectedField) (writer[relEdge[T]], error) {
				write, err := node.compile(c, f.Selections)
				if err != nil {
					return nil, err
				}
				return func(w *bytes.Buffer, e relEdge[T], data *listData) error { return write(w, &e.page.rows[e.i], data) }, nil
			},
		},
	}
	conn := &table[*relPage[T]]{
		implementors: connection,
		scalars: map[string]scalar[*relPage[T]]{
			"totalCount": {nil, func(w *bytes.Buffer, p *relPage[T]) { writeInt(w, p.total) }},
		},
		compiled: map[string]func(*compiler, graphql.CollectedField) (writer[*relPage[T]], error){
			"edges": func(c *compiler, f graphql.CollectedField) (writer[*relPage[T]], error) {
				write, err := edges.compile(c, f.Selections)
				if err != nil {
					return nil, err
				}
				return func(w *bytes.Buffer, p *relPage[T], data *listData) error {
					return array(w, len(p.rows), nil, func(i int) error { return write(w, relEdge[T]{p, i}, data) })
				}, nil
			},
			"nodes": func(c *compiler, f graphql.CollectedField) (writer[*relPage[T]], error) {
				write, err := node.compile(c, f.Selections)
				if err != nil {
					return nil, err
				}
				return func(w *bytes.Buffer, p *relPage[T], data *listData) error {
					return array(w, len(p.rows), nil, func(i int) error { return write(w, &p.rows[i], data) })
				}, nil
			},
			"pageInfo": func(c *compiler, f graphql.CollectedField) (writer[*relPage[T]], error) {
				write, err := pageInfoTable.compile(c, f.Selections)
				if err != nil {
					return nil, err
				}
				return func(w *bytes.Buffer, p *relPage[T], data *listData) error { return write(w, p.info(), data) }, nil
			},
		},
	}
	return conn, edges
}

var (
	memberConnectionTable, memberEdgeTable   = relConnection(memberConnectionImplementors, memberEdgeImplementors, memberTable)
	projectConnectionTable, projectEdgeTable = relConnection(projectConnectionImplementors, projectEdgeImplementors, projectTable)
)

// templateTable writes a template as the API shows it (toTemplate).
var templateTable = &table[*model.OrganizationTemplate]{
	implementors: organizationTemplateImplementors,
	scalars: map[string]scalar[*model.OrganizationTemplate]{
		"id":             {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeString(w, t.ID) }},
		"name":           {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeString(w, t.Name) }},
		"description":    {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeOptString(w, t.Description) }},
		"countryCode":    {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeOptString(w, t.CountryCode) }},
		"languageCode":   {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeOptString(w, t.LanguageCode) }},
		"locale":         {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeOptString(w, t.Locale) }},
		"timezone":       {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeOptString(w, t.Timezone) }},
		"isPrivate":      {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeOptBool(w, t.IsPrivate) }},
		"regionTemplate": {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { writeOptString(w, t.RegionTemplate) }},
		"createdAt":      {nil, func(w *bytes.Buffer, t *model.OrganizationTemplate) { t.CreatedAt.MarshalGQL(w) }},
	},
	compiled: map[string]func(*compiler, graphql.CollectedField) (writer[*model.OrganizationTemplate], error){
		"defaultProject": func(c *compiler, f graphql.CollectedField) (writer[*model.OrganizationTemplate], error) {
			write, err := projectTemplateTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, t *model.OrganizationTemplate, data *listData) error {
				if t.DefaultProject == nil {
					w.WriteString("null")
					return nil
				}
				return write(w, t.DefaultProject, data)
			}, nil
		},
		"customAttributeDefinitions": func(c *compiler, f graphql.CollectedField) (writer[*model.OrganizationTemplate], error) {
			write, err := definitionTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, t *model.OrganizationTemplate, data *listData) error {
				ds := t.CustomAttributeDefinitions
				return array(w, len(ds), nil, func(i int) error { return write(w, &ds[i], data) })
			}, nil
		},
	},
}

var projectTemplateTable = &table[*model.ProjectTemplate]{
	implementors: projectTemplateImplementors,
	scalars: map[string]scalar[*model.ProjectTemplate]{
		"name": {nil, func(w *bytes.Buffer, p *model.ProjectTemplate) { writeOptString(w, p.Name) }},
		"type": {nil, func(w *bytes.Buffer, p *model.ProjectTemplate) { writeOptEnum(w, p.Type, writeProjectType) }},
		"mode": {nil, func(w *bytes.Buffer, p *model.ProjectTemplate) { writeOptEnum(w, p.Mode, writeProjectMode) }},
		"contactEmails": {nil, func(w *bytes.Buffer, p *model.ProjectTemplate) {
			if p.ContactEmails == nil {
				w.WriteString("null")
				return
			}
			_ = array(w, len(p.ContactEmails), nil, func(i int) error { writeString(w, p.ContactEmails[i]); return nil })
		}},
	},
}

var definitionTable = &table[*model.CustomAttributeDefinition]{
	implementors: customAttributeDefinitionImplementors,
	scalars: map[string]scalar[*model.CustomAttributeDefinition]{
		"key":          {nil, func(w *bytes.Buffer, d *model.CustomAttributeDefinition) { writeString(w, d.Key) }},
		"type":         {nil, func(w *bytes.Buffer, d *model.CustomAttributeDefinition) { writeAttributeType(w, d.Type) }},
		"required":     {nil, func(w *bytes.Buffer, d *model.CustomAttributeDefinition) { writeBool(w, d.Required) }},
		"defaultValue": {nil, func(w *bytes.Buffer, d *model.CustomAttributeDefinition) { writeJSONScalar(w, d.DefaultValue) }},
	},
}

// domainTable writes a domain as the API shows it (toOrganizationDomain), from the columns its fields
// read.
var domainTable = &table[*domain.Domain]{
	implementors: organizationDomainImplementors,
	columns:      func(n *needs) *[]string { return &n.relations.DomainColumns },
	scalars: map[string]scalar[*domain.Domain]{
		"id":          {[]string{"id"}, func(w *bytes.Buffer, d *domain.Domain) { writeString(w, d.ID) }},
		"domain":      {nil, func(w *bytes.Buffer, d *domain.Domain) { writeString(w, d.Domain) }},
		"isPrimary":   {nil, func(w *bytes.Buffer, d *domain.Domain) { writeBool(w, d.IsPrimary) }},
		"isVerified":  {[]string{"is_verified"}, func(w *bytes.Buffer, d *domain.Domain) { writeBool(w, d.IsVerified) }},
		"isGenerated": {[]string{"is_generated"}, func(w *bytes.Buffer, d *domain.Domain) { writeBool(w, d.IsGenerated) }},
		"status":      {[]string{"status"}, func(w *bytes.Buffer, d *domain.Domain) { writeDomainStatus(w, model.DomainStatus(d.Status)) }},
		"verifiedAt":  {[]string{"verified_at"}, func(w *bytes.Buffer, d *domain.Domain) { writeOptTime(w, d.VerifiedAt) }},
		"lastFailure": {[]string{"last_failure"}, func(w *bytes.Buffer, d *domain.Domain) { writeOptString(w, d.LastFailure) }},
	},
	compiled: map[string]func(*compiler, graphql.CollectedField) (writer[*domain.Domain], error){
		"verification": func(c *compiler, f graphql.CollectedField) (writer[*domain.Domain], error) {
			// what domainVerification decides by, and makes the verification of
			rel := &c.need.relations
			rel.DomainColumns = append(rel.DomainColumns, "status", "is_generated", "verification_token", "token_expires_at")
			write, err := verificationTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, d *domain.Domain, data *listData) error {
				v := domainVerification(d)
				if v == nil {
					w.WriteString("null")
					return nil
				}
				return write(w, v, data)
			}, nil
		},
	},
}

var verificationTable = &table[*model.DomainVerification]{
	implementors: domainVerificationImplementors,
	scalars: map[string]scalar[*model.DomainVerification]{
		"dnsRecordName":  {nil, func(w *bytes.Buffer, v *model.DomainVerification) { writeString(w, v.DNSRecordName) }},
		"dnsRecordValue": {nil, func(w *bytes.Buffer, v *model.DomainVerification) { writeString(w, v.DNSRecordValue) }},
		"httpUrl":        {nil, func(w *bytes.Buffer, v *model.DomainVerification) { writeString(w, v.HTTPURL) }},
		"httpBody":       {nil, func(w *bytes.Buffer, v *model.DomainVerification) { writeString(w, v.HTTPBody) }},
		"expiresAt":      {nil, func(w *bytes.Buffer, v *model.DomainVerification) { v.ExpiresAt.MarshalGQL(w) }},
	},
}

var attributeTable = &table[*domain.Attribute]{
	implementors: customAttributeImplementors,
	scalars: map[string]scalar[*domain.Attribute]{
		"key":   {nil, func(w *bytes.Buffer, a *domain.Attribute) { writeString(w, a.Key) }},
		"type":  {nil, func(w *bytes.Buffer, a *domain.Attribute) { writeAttributeType(w, model.CustomAttributeType(a.Type)) }},
		"value": {nil, func(w *bytes.Buffer, a *domain.Attribute) { writeJSONScalar(w, a.Value) }},
	},
}

// compileProjects compiles the selection of a project field, whose organizations' projects are read.
func compileProjects(c *compiler, f graphql.CollectedField) (writer[*domain.Project], error) {
	c.need.relations.Projects = true
	return projectTable.compile(c, f.Selections)
}

// compileMembers compiles owners (the members who own the organization) or members (all of them).
func compileMembers(owners bool) func(*compiler, graphql.CollectedField) (writer[*domain.Organization], error) {
	return func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
		rel := &c.need.relations
		rel.Members, rel.AllMembers = true, rel.AllMembers || !owners
		write, err := memberTable.compile(c, f.Selections)
		if err != nil {
			return nil, err
		}
		return func(w *bytes.Buffer, o *domain.Organization, data *listData) error {
			ms := data.related.Members[o.ID]
			keep := func(i int) bool { return !owners || ms[i].IsOwner() }
			return array(w, len(ms), keep, func(i int) error { return write(w, &ms[i], data) })
		}, nil
	}
}

var projectTable = &table[*domain.Project]{
	implementors: projectImplementors,
	columns:      func(n *needs) *[]string { return &n.relations.ProjectColumns },
	scalars: map[string]scalar[*domain.Project]{
		"id":             {nil, func(w *bytes.Buffer, p *domain.Project) { writeString(w, p.ID) }},
		"organizationId": {nil, func(w *bytes.Buffer, p *domain.Project) { writeString(w, p.OrganizationID) }},
		"name":           {[]string{"name"}, func(w *bytes.Buffer, p *domain.Project) { writeString(w, p.Name) }},
		"slug":           {[]string{"slug"}, func(w *bytes.Buffer, p *domain.Project) { writeString(w, p.Slug) }},
		"type":           {[]string{"type"}, func(w *bytes.Buffer, p *domain.Project) { writeProjectType(w, model.ProjectType(p.Type)) }},
		"mode":           {[]string{"mode"}, func(w *bytes.Buffer, p *domain.Project) { writeProjectMode(w, model.ProjectMode(p.Mode)) }},
		"status":         {[]string{"status"}, func(w *bytes.Buffer, p *domain.Project) { writeProjectStatus(w, model.ProjectStatus(p.Status)) }},
		"isDefault":      {nil, func(w *bytes.Buffer, p *domain.Project) { writeBool(w, p.IsDefault) }},
		"isActive":       {[]string{"status"}, func(w *bytes.Buffer, p *domain.Project) { writeBool(w, p.IsActive()) }},
		"isTest":         {[]string{"mode"}, func(w *bytes.Buffer, p *domain.Project) { writeBool(w, p.IsTest()) }},
		"createdAt":      {[]string{"created_at"}, func(w *bytes.Buffer, p *domain.Project) { writeTime(w, p.CreatedAt) }},
		"updatedAt":      {[]string{"updated_at"}, func(w *bytes.Buffer, p *domain.Project) { writeTime(w, p.UpdatedAt) }},
	},
}

var memberTable = &table[*domain.Member]{
	implementors: memberImplementors,
	columns:      func(n *needs) *[]string { return &n.relations.MemberColumns },
	scalars: map[string]scalar[*domain.Member]{
		"id":            {[]string{"id"}, func(w *bytes.Buffer, m *domain.Member) { writeString(w, m.ID) }},
		"userId":        {[]string{"user_id"}, func(w *bytes.Buffer, m *domain.Member) { writeString(w, m.UserID) }},
		"email":         {[]string{"email"}, func(w *bytes.Buffer, m *domain.Member) { writeString(w, m.Email) }},
		"name":          {[]string{"name"}, func(w *bytes.Buffer, m *domain.Member) { writeOptString(w, m.Name) }},
		"role":          {nil, func(w *bytes.Buffer, m *domain.Member) { writeMemberRole(w, model.MemberRole(m.Role)) }},
		"status":        {[]string{"status"}, func(w *bytes.Buffer, m *domain.Member) { writeMemberStatus(w, model.MemberStatus(m.Status)) }},
		"joinedAt":      {[]string{"joined_at"}, func(w *bytes.Buffer, m *domain.Member) { writeOptTime(w, m.JoinedAt) }},
		"emailVerified": {[]string{"email_verified"}, func(w *bytes.Buffer, m *domain.Member) { writeBool(w, m.EmailVerified) }},
	},
}

// The fields of a list: its connection, edges and page info.
var connectionTable = &table[struct{}]{
	implementors: organizationConnectionImplementors,
	compiled: map[string]func(*compiler, graphql.CollectedField) (writer[struct{}], error){
		"edges": func(c *compiler, f graphql.CollectedField) (writer[struct{}], error) {
			edge, err := edgeTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, _ struct{}, data *listData) error {
				return array(w, len(data.page.Organizations), nil, func(i int) error { return edge(w, i, data) })
			}, nil
		},
		"nodes": func(c *compiler, f graphql.CollectedField) (writer[struct{}], error) {
			node, err := organizationTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, _ struct{}, data *listData) error {
				orgs := data.page.Organizations
				return array(w, len(orgs), nil, func(i int) error { return node(w, orgs[i], data) })
			}, nil
		},
		"pageInfo": func(c *compiler, f graphql.CollectedField) (writer[struct{}], error) {
			c.need.cursors = true
			info, err := pageInfoTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, _ struct{}, data *listData) error {
				return info(w, pageInfo(data.cursors, data.page.HasNextPage, data.page.HasPreviousPage), data)
			}, nil
		},
		"totalCount": func(c *compiler, _ graphql.CollectedField) (writer[struct{}], error) {
			c.need.total = true
			return func(w *bytes.Buffer, _ struct{}, data *listData) error {
				graphql.MarshalInt(data.total).MarshalGQL(w)
				return nil
			}, nil
		},
	},
}

// edgeTable writes the edge of the i-th organization of the page.
var edgeTable = &table[int]{
	implementors: organizationEdgeImplementors,
	compiled: map[string]func(*compiler, graphql.CollectedField) (writer[int], error){
		"cursor": func(c *compiler, _ graphql.CollectedField) (writer[int], error) {
			c.need.cursors = true
			return func(w *bytes.Buffer, i int, data *listData) error {
				graphql.MarshalString(data.cursors[i]).MarshalGQL(w)
				return nil
			}, nil
		},
		"node": func(c *compiler, f graphql.CollectedField) (writer[int], error) {
			node, err := organizationTable.compile(c, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, i int, data *listData) error {
				return node(w, data.page.Organizations[i], data)
			}, nil
		},
	},
}

var pageInfoTable = &table[*model.PageInfo]{
	implementors: pageInfoImplementors,
	scalars: map[string]scalar[*model.PageInfo]{
		"hasNextPage":     {nil, func(w *bytes.Buffer, p *model.PageInfo) { writeBool(w, p.HasNextPage) }},
		"hasPreviousPage": {nil, func(w *bytes.Buffer, p *model.PageInfo) { writeBool(w, p.HasPreviousPage) }},
		"startCursor":     {nil, func(w *bytes.Buffer, p *model.PageInfo) { writeOptString(w, p.StartCursor) }},
		"endCursor":       {nil, func(w *bytes.Buffer, p *model.PageInfo) { writeOptString(w, p.EndCursor) }},
	},
}
