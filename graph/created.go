package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"

	"orgs/db"
	"orgs/domain"
	"orgs/graph/model"
	"orgs/service"
)

// The direct path of createOrganization. A mutation whose only field is createOrganization, with a
// selection the tables of the direct path know, has its answer written from what the create wrote, as the
// lists are (direct.go), without gqlgen's execution of each field: for the nested answer the peers ask
// for, a goroutine per relation field and per project, and a value per field.
//
// The create runs once, whatever answers. Its result is kept in the request's context (createdMemo):
// when the direct path cannot write the answer (the resolver failed, or the answer needs what the create
// did not write, such as the members of an organization with a primary administrator), gqlgen executes
// the operation as usual and the resolver returns the kept result instead of creating again.

// createdMemo is the result of the request's create, kept for the resolver (in directState).
type createdMemo struct {
	done    bool
	created *created
	err     error
}

// createdMemoFrom returns the result of the request's create when the direct path ran it.
func createdMemoFrom(ctx context.Context) *createdMemo {
	st, _ := ctx.Value(directStateKey{}).(*directState)
	if st == nil || !st.created.done {
		return nil
	}
	return &st.created
}

// created is what a create returned: the payload, and what it wrote of the organization.
type created struct {
	payload *model.CreateOrganizationPayload
	org     *domain.Organization
	written *domain.Written
}

// createOrganization runs the create of input.
func (r *mutationResolver) createOrganization(ctx context.Context, input model.CreateOrganizationInput) (*created, error) {
	o, written, err := r.Service.CreateOrganizationWritten(ctx, domain.ActorFrom(ctx), toCreateOrganizationInput(input), service.CreateOptions{
		ValidateOnly: input.ValidateOnly != nil && *input.ValidateOnly, IdempotencyKey: idempotencyKeyOf(ctx, input.IdempotencyKey)})
	c := &created{payload: &model.CreateOrganizationPayload{ClientMutationID: input.ClientMutationID}, org: o, written: written}
	if c.payload.UserErrors, err = userErrorsOf(ctx, err, "input"); err != nil {
		return nil, err
	}
	return c, nil
}

// answer is the payload for gqlgen to write, with the request's loaders primed with what the create
// wrote, so that its relations read nothing back.
func (c *created) answer(ctx context.Context) *model.CreateOrganizationPayload {
	if c.org != nil && c.payload.Organization == nil {
		loadersFrom(ctx).primeWritten(c.org, c.written)
		c.payload.Organization = toOrganization(c.org)
	}
	return c.payload
}

// data is what the answer's writers read: the relations and the template the create wrote; ok is false
// when the create did not write all of them (the members after inviting a primary administrator, or
// anything after an idempotent replay), which a read would then fetch.
func (c *created) data() (data *listData, ok bool) {
	data = &listData{related: &db.Related{}}
	if c.org == nil {
		return data, true
	}
	w := c.written
	if w == nil || w.Members == nil || c.org.TemplateID != nil && (w.Template == nil || w.Template.ID != *c.org.TemplateID) {
		return nil, false
	}
	id := c.org.ID
	data.related = &db.Related{Projects: map[string][]domain.Project{id: w.Projects}, Members: map[string][]domain.Member{id: w.Members},
		Domains: map[string][]domain.Domain{id: w.Domains}, Attributes: map[string][]domain.Attribute{id: w.Attributes}}
	if w.Template != nil {
		data.templates = map[string]*domain.Template{w.Template.ID: w.Template}
	}
	return data, true
}

// answerCreate answers a mutation whose only field is createOrganization; errIndirect, before anything
// ran, when the direct path does not know the operation, and errAnsweredByGqlgen when the create ran but
// gqlgen must write the answer (from the memo). A panic is recovered into one of the two.
func (d directReads) answerCreate(ctx context.Context, op *graphql.OperationContext, memo *createdMemo) (data []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			d.logger.ErrorContext(ctx, "panic in the direct path of createOrganization; gqlgen answers instead", "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			data, err = nil, errIndirect
			if memo.done {
				err = errAnsweredByGqlgen
			}
		}
	}()
	root := graphql.CollectFields(op, op.Operation.SelectionSet, mutationImplementors)
	if len(root) != 1 || root[0].Name != "createOrganization" || root[0].IsDeferred() {
		return nil, errIndirect
	}
	f := root[0]
	if !permitted(ctx, f) {
		return nil, errIndirect // gqlgen reports it
	}
	ec := newExecutionContext(op, d.es, nil)
	fctx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Mutation", Field: f, IsMethod: true, IsResolver: true})
	args, err := ec.field_Mutation_createOrganization_args(fctx, f.ArgumentMap(op.Variables))
	if err != nil {
		return nil, errIndirect
	}
	input, ok := args["input"].(model.CreateOrganizationInput)
	if !ok {
		return nil, errIndirect
	}
	write, err := createdPayloadTable.compile(&compiler{op: op, ec: ec, ctx: fctx, need: &needs{}}, f.Selections)
	if err != nil {
		return nil, errIndirect
	}

	c := d.runCreate(fctx, op, input, memo)
	if c == nil {
		return nil, errAnsweredByGqlgen
	}
	if hook := createdHook.Load(); hook != nil {
		(*hook)(ctx)
	}
	cd, ok := c.data()
	if !ok {
		return nil, errAnsweredByGqlgen
	}
	w := &bytes.Buffer{}
	w.Grow(1024)
	w.WriteByte('{')
	writeKey(w, f.Alias)
	if err := write(w, c, cd); err != nil {
		d.logger.WarnContext(ctx, "direct create answer falls back to gqlgen", "error", err)
		return nil, errAnsweredByGqlgen
	}
	w.WriteByte('}')
	return w.Bytes(), nil
}

// createdHook, when set, runs after each create of the direct path, before its answer is written: tests
// make it panic.
var createdHook atomic.Pointer[func(context.Context)]

// errAnsweredByGqlgen says that the create ran and gqlgen writes its answer from the memo.
var errAnsweredByGqlgen = errors.New("the create ran; gqlgen writes its answer")

// runCreate runs the resolver's create once and keeps its result in memo; it returns nil when the create
// failed or panicked (the memo then holds the error gqlgen reports, as it would have).
func (d directReads) runCreate(ctx context.Context, op *graphql.OperationContext, input model.CreateOrganizationInput, memo *createdMemo) (c *created) {
	defer func() {
		if v := recover(); v != nil {
			memo.created, memo.err, c = nil, op.Recover(ctx, v), nil
		}
		memo.done = true
	}()
	r, ok := d.es.Resolvers.Mutation().(*mutationResolver)
	if !ok {
		panic(fmt.Sprintf("the mutation resolver is a %T", d.es.Resolvers.Mutation()))
	}
	c, err := r.createOrganization(ctx, input)
	memo.created, memo.err = c, err
	if err != nil {
		return nil
	}
	return c
}

// createdPayloadTable is the answer of createOrganization.
var createdPayloadTable = &table[*created]{
	implementors: createOrganizationPayloadImplementors,
	scalars: map[string]scalar[*created]{
		"clientMutationId": {nil, func(w *bytes.Buffer, c *created) { writeOptString(w, c.payload.ClientMutationID) }},
	},
	compiled: map[string]func(*compiler, graphql.CollectedField) (writer[*created], error){
		"organization": func(cc *compiler, f graphql.CollectedField) (writer[*created], error) {
			write, err := createdOrganizationTable.compile(cc, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, c *created, data *listData) error {
				if c.org == nil {
					w.WriteString("null")
					return nil
				}
				return write(w, c.org, data)
			}, nil
		},
		"userErrors": func(cc *compiler, f graphql.CollectedField) (writer[*created], error) {
			write, err := userErrorTable.compile(cc, f.Selections)
			if err != nil {
				return nil, err
			}
			return func(w *bytes.Buffer, c *created, data *listData) error {
				es := c.payload.UserErrors
				return array(w, len(es), nil, func(i int) error { return write(w, &es[i], data) })
			}, nil
		},
	},
}

// userErrorTable is a violation of the input.
var userErrorTable = &table[*model.UserError]{
	implementors: userErrorImplementors,
	scalars: map[string]scalar[*model.UserError]{
		"field":       {nil, func(w *bytes.Buffer, e *model.UserError) { writeOptStrings(w, e.Field) }},
		"message":     {nil, func(w *bytes.Buffer, e *model.UserError) { writeString(w, e.Message) }},
		"code":        {nil, func(w *bytes.Buffer, e *model.UserError) { e.Code.MarshalGQL(w) }},
		"suggestions": {nil, func(w *bytes.Buffer, e *model.UserError) { writeOptStrings(w, e.Suggestions) }},
	},
}

// writeOptStrings writes a list of strings that may be null, as gqlgen writes a nil slice: null.
func writeOptStrings(w *bytes.Buffer, ss []string) {
	if ss == nil {
		w.WriteString("null")
		return
	}
	_ = array(w, len(ss), nil, func(i int) error { writeString(w, ss[i]); return nil })
}

// createdOrganizationTable is organizationTable with what a create knows beside the columns a list
// reads: details.
var createdOrganizationTable = func() *table[*domain.Organization] {
	t := *organizationTable
	t.columns = nil
	t.compiled = make(map[string]func(*compiler, graphql.CollectedField) (writer[*domain.Organization], error), len(organizationTable.compiled)+1)
	for k, v := range organizationTable.compiled {
		t.compiled[k] = v
	}
	t.compiled["details"] = func(c *compiler, f graphql.CollectedField) (writer[*domain.Organization], error) {
		return detailsTable.compile(c, f.Selections)
	}
	return &t
}()

// detailsTable is an organization's ObjectDetails, as toOrganization makes them.
var detailsTable = &table[*domain.Organization]{
	implementors: objectDetailsImplementors,
	scalars: map[string]scalar[*domain.Organization]{
		"sequence":      {nil, func(w *bytes.Buffer, o *domain.Organization) { writeInt(w, int(o.Sequence)) }},
		"creationDate":  {nil, func(w *bytes.Buffer, o *domain.Organization) { writeTime(w, o.CreatedAt) }},
		"changeDate":    {nil, func(w *bytes.Buffer, o *domain.Organization) { writeTime(w, o.UpdatedAt) }},
		"resourceOwner": {nil, func(w *bytes.Buffer, o *domain.Organization) { writeString(w, o.ResourceOwner) }},
	},
}
