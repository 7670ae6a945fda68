package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"orgs/db"
	"orgs/domain"
)

// loaders batch the reads of one request: every organization's projects, members, domains, attributes
// and template are fetched with one statement per relation, however many organizations the response
// holds. They are made per request, for the caller's tenant, so nothing is cached across requests.
type loaders struct {
	projects   *dataloadgen.Loader[string, []domain.Project]
	members    *dataloadgen.Loader[string, []domain.Member]
	domains    *dataloadgen.Loader[string, []domain.Domain]
	attributes *dataloadgen.Loader[string, []domain.Attribute]
	templates  *dataloadgen.Loader[string, *domain.Template]
	// organizations by id, for the way back from a project; a list primes it with its page.
	organizations *dataloadgen.Loader[string, *domain.Organization]
}

// loaderWait is how long a loader collects keys before it fetches: gqlgen resolves the elements of a
// list concurrently, so their keys arrive within microseconds.
const loaderWait = time.Millisecond

// byOrganization turns a fetch of many organizations' rows into a loader keyed by organization id; an
// organization without rows gets an empty list.
func byOrganization[V any](tenantID string, fetch func(context.Context, string, []string) (map[string][]V, error)) *dataloadgen.Loader[string, []V] {
	return dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]V, []error) {
		m, err := fetch(ctx, tenantID, ids)
		out, errs := make([][]V, len(ids)), make([]error, len(ids))
		for i, id := range ids {
			out[i], errs[i] = m[id], err
			if out[i] == nil {
				out[i] = []V{}
			}
		}
		return out, errs
	}, dataloadgen.WithWait(loaderWait))
}

func newLoaders(store *db.Store, tenantID string) *loaders {
	return &loaders{
		projects:   byOrganization(tenantID, store.ProjectsOf),
		members:    byOrganization(tenantID, store.MembersOf),
		domains:    byOrganization(tenantID, store.DomainsOf),
		attributes: byOrganization(tenantID, store.AttributesOf),
		templates: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*domain.Template, []error) {
			ts, err := store.Templates(ctx, tenantID, ids...)
			byID := make(map[string]*domain.Template, len(ts))
			for _, t := range ts {
				byID[t.ID] = t
			}
			out, errs := make([]*domain.Template, len(ids)), make([]error, len(ids))
			for i, id := range ids {
				out[i], errs[i] = byID[id], err
			}
			return out, errs
		}, dataloadgen.WithWait(loaderWait)),
		organizations: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*domain.Organization, error) {
			return store.OrganizationsOf(ctx, tenantID, ids)
		}, dataloadgen.WithWait(loaderWait)),
	}
}

type loadersKey struct{}

// withLoaders gives each authenticated request its loaders.
func withLoaders(store *db.Store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := domain.ActorFrom(r.Context()); a != nil {
			r = r.WithContext(context.WithValue(r.Context(), loadersKey{}, newLoaders(store, a.TenantID)))
		}
		next.ServeHTTP(w, r)
	})
}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// prefetch starts, in one batch per relation, the loads of the relations a list of organizations
// selects, so that each relation costs one statement however the resolvers of the list's elements are
// scheduled: their own loads then find the rows already fetched.
func (l *loaders) prefetch(ctx context.Context, orgs []*domain.Organization, fields map[string]bool) {
	if l == nil || len(orgs) == 0 {
		return
	}
	ids := make([]string, len(orgs))
	var templateIDs []string
	for i, o := range orgs {
		ids[i] = o.ID
		l.organizations.Prime(o.ID, o)
		if o.TemplateID != nil {
			templateIDs = append(templateIDs, *o.TemplateID)
		}
	}
	if fields["projects"] || fields["defaultProject"] || fields["projectsConnection"] {
		l.projects.LoadAllThunk(ctx, ids)
	}
	if fields["members"] || fields["owners"] || fields["membersConnection"] || fields["primaryAdministrator"] {
		l.members.LoadAllThunk(ctx, ids)
	}
	if fields["domains"] {
		l.domains.LoadAllThunk(ctx, ids)
	}
	if fields["customAttributes"] {
		l.attributes.LoadAllThunk(ctx, ids)
	}
	if fields["template"] && len(templateIDs) > 0 {
		l.templates.LoadAllThunk(ctx, templateIDs)
	}
}

// primeWritten gives the loaders what the create of o wrote (w, nil when unknown), so that its answer
// reads nothing back.
func (l *loaders) primeWritten(o *domain.Organization, w *domain.Written) {
	if l == nil || w == nil {
		return
	}
	l.organizations.Prime(o.ID, o)
	l.projects.Prime(o.ID, w.Projects)
	l.domains.Prime(o.ID, w.Domains)
	l.attributes.Prime(o.ID, w.Attributes)
	if w.Members != nil {
		l.members.Prime(o.ID, w.Members)
	}
	if w.Template != nil {
		l.templates.Prime(w.Template.ID, w.Template)
	}
}

// selectedNodeFields returns the fields a connection's query selects on its nodes, through edges.node
// and nodes.
func selectedNodeFields(ctx context.Context) map[string]bool {
	fields := map[string]bool{}
	op := graphql.GetOperationContext(ctx)
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		var sets []ast.SelectionSet
		switch f.Name {
		case "nodes":
			sets = append(sets, f.Selections)
		case "edges":
			for _, e := range graphql.CollectFields(op, f.Selections, nil) {
				if e.Name == "node" {
					sets = append(sets, e.Selections)
				}
			}
		}
		for _, set := range sets {
			for _, n := range graphql.CollectFields(op, set, []string{"Organization"}) {
				fields[n.Name] = true
			}
		}
	}
	return fields
}
