package db

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// OrganizationPage is one page of a list of organizations.
type OrganizationPage struct {
	Organizations   []*domain.Organization
	Cursors         []domain.Cursor
	HasNextPage     bool
	HasPreviousPage bool
}

// where builds the conditions of a filter, numbering its arguments after the tenant ($1).
type where struct {
	conds []string
	args  []any
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(format string, vs ...any) {
	names := make([]any, len(vs))
	for i, v := range vs {
		names[i] = w.arg(v)
	}
	w.conds = append(w.conds, fmt.Sprintf(format, names...))
}

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

// likePattern escapes s for LIKE and surrounds it with %.
func likePattern(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

func filterWhere(tenantID string, f domain.OrganizationFilter) (*where, error) {
	w := &where{}
	tenant := w.arg(tenantID)
	w.conds = append(w.conds, "o.tenant_id = "+tenant)
	// The status and privacy asked for are written into the statement, not bound: the direct path keeps
	// its statements prepared, and PostgreSQL's generic plan of `status = $n` could not prove the
	// predicate of the partial indexes that serve the rare values (organizations_inactive_idx,
	// organizations_private_only_idx; migration 00019). Each value is one more prepared statement: a few.
	if f.Status != nil {
		w.conds = append(w.conds, "o.status = "+pq.QuoteLiteral(string(*f.Status)))
	} else {
		w.conds = append(w.conds, "o.status <> 'REMOVED'") // deleted organizations only when asked for
	}
	if f.IsPrivate != nil {
		cond := "o.is_private"
		if !*f.IsPrivate {
			cond = "NOT o.is_private"
		}
		w.conds = append(w.conds, cond)
	}
	if f.IsDefault != nil {
		w.add("o.is_default = %s", *f.IsDefault)
	}
	if f.CountryCode != nil {
		w.add("o.country_code = %s", *f.CountryCode)
	}
	if f.RegionTemplate != nil {
		w.add("o.region_template = %s", *f.RegionTemplate)
	}
	if f.CreatedAfter != nil {
		w.add("o.created_at >= %s", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		w.add("o.created_at < %s", *f.CreatedBefore)
	}
	if f.Search != nil && strings.TrimSpace(*f.Search) != "" {
		// The organizations whose folded name, slug or one of whose domains holds the text, as an OR
		// that PostgreSQL can serve either way: the domains' matches are an array of ids computed once
		// (an initplan), not a subquery per row, so every arm has an index (organizations_name_trgm_idx
		// and organizations_slug_trgm_idx, the primary key for the ids). A rare text is found through
		// the trigram indexes, their bitmaps ORed; a common one by reading the tenant's organizations in
		// the list's order until the page is full, the array computed only if a row's name and slug do
		// not match. Among 63,000 organizations: an OR with an EXISTS in it could only take the second
		// way (300 ms for a rare text), a union of ids only the first (550 ms for a common one); this,
		// 2 to 4 ms for either.
		p := w.arg(likePattern(strings.ToLower(strings.TrimSpace(*f.Search))))
		w.conds = append(w.conds, fmt.Sprintf(`(orgs_fold(o.name) LIKE orgs_fold(%[1]s) OR o.slug LIKE %[1]s
    OR o.id = ANY (ARRAY(SELECT d.organization_id FROM organization_domains d
                         WHERE d.tenant_id = %[2]s AND d.domain LIKE %[1]s)))`, p, tenant))
	}
	for _, af := range f.Attributes {
		conds, err := af.Conditions()
		if err != nil {
			return nil, err
		}
		var parts []string
		parts = append(parts, "a.key = "+w.arg(af.Key))
		for _, c := range conds {
			v, err := json.Marshal(c.Value)
			if err != nil {
				return nil, fmt.Errorf("encode attribute filter: %w", err)
			}
			types := []string{string(c.Type)}
			if c.Type == domain.AttrDate && c.Op == "=" {
				types = append(types, string(domain.AttrString)) // a date-looking STRING equals too
			}
			parts = append(parts, fmt.Sprintf("a.type = ANY(%s) AND a.value %s %s::jsonb", w.arg(pq.Array(types)), c.Op, w.arg(string(v))))
		}
		w.conds = append(w.conds, `EXISTS (SELECT 1 FROM organization_attributes a
               WHERE a.tenant_id = o.tenant_id AND a.organization_id = o.id AND `+strings.Join(parts, " AND ")+")")
	}
	return w, nil
}

// sortKey is the SQL of an order field, the cast of its cursor value, and the value of a row.
func sortKey(f domain.OrderField) (expr, cast string, value func(*domain.Organization) string) {
	switch f {
	case domain.OrderByName:
		return "orgs_fold(o.name)", "text", nil // the folded name comes from the database
	case domain.OrderByTotalMembers:
		return "o.member_count", "int", func(o *domain.Organization) string { return strconv.Itoa(o.TotalMembers) }
	default:
		return "o.created_at", "timestamptz", func(o *domain.Organization) string { return o.CreatedAt.Format(time.RFC3339Nano) }
	}
}

// ListOrganizations returns a page of the tenant's organizations matching f in order o, by keyset: the
// page starts after (or ends before) the cursor's (value, id), so rows inserted meanwhile neither shift
// nor repeat it. It fetches one row more than the page to know whether another page follows.
func (s *Store) ListOrganizations(ctx context.Context, tenantID string, f domain.OrganizationFilter, o domain.Order, p domain.PageRequest) (*OrganizationPage, error) {
	q, args, err := listQuery(tenantID, f, o, p, organizationColumns, true)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	page := &OrganizationPage{}
	for rows.Next() {
		var r struct {
			organizationRow
			SortKey string `db:"sort_key"`
		}
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		org, err := toOrganization(r.organizationRow)
		if err != nil {
			return nil, err
		}
		page.add(org, o.Field, r.SortKey)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return page.finish(p), nil
}

// listQuery is the statement of a page of organizations: columns, then (withSortKey) the sort key as
// sort_key.
func listQuery(tenantID string, f domain.OrganizationFilter, o domain.Order, p domain.PageRequest, columns string, withSortKey bool) (string, []any, error) {
	w, err := filterWhere(tenantID, f)
	if err != nil {
		return "", nil, err
	}
	expr, cast, _ := sortKey(o.Field)
	desc := o.Desc != p.Backward // going backward reads the order in reverse
	cmp, dir := ">", "ASC"
	if desc {
		cmp, dir = "<", "DESC"
	}
	cursor := p.After
	if p.Backward {
		cursor = p.Before
	}
	if cursor != nil {
		w.conds = append(w.conds, fmt.Sprintf("(%s, o.id) %s (%s::%s, %s::uuid)", expr, cmp, w.arg(cursor.Value), cast, w.arg(cursor.ID)))
	}
	if withSortKey {
		columns += ", " + expr + " AS sort_key"
	}
	// The limit is written out, not a parameter: PostgreSQL cannot tell how many rows a LIMIT $n keeps,
	// finds its generic plan dear and plans a prepared statement again at every run (half the
	// throughput of the page's statement).
	return fmt.Sprintf(`SELECT %s FROM organizations o WHERE %s ORDER BY %s %s, o.id %s LIMIT %d`,
		columns, w.sql(), expr, dir, dir, p.Size+1), w.args, nil
}

// add appends an organization read in order field, with sortKey the text of its sort key.
func (page *OrganizationPage) add(org *domain.Organization, field domain.OrderField, sortKeyText string) {
	c := domain.Cursor{Field: field, ID: org.ID, Value: sortKeyText}
	if _, _, value := sortKey(field); value != nil {
		c.Value = value(org)
	}
	page.Organizations = append(page.Organizations, org)
	page.Cursors = append(page.Cursors, c)
}

// finish drops the row read beyond the page, which tells that another page follows, and puts a page
// read backward in order.
func (page *OrganizationPage) finish(p domain.PageRequest) *OrganizationPage {
	more := len(page.Organizations) > p.Size
	if more {
		page.Organizations = page.Organizations[:p.Size]
	}
	if len(page.Cursors) > p.Size {
		page.Cursors = page.Cursors[:p.Size]
	}
	if p.Backward {
		slices.Reverse(page.Organizations)
		slices.Reverse(page.Cursors)
		page.HasPreviousPage, page.HasNextPage = more, p.Before != nil
	} else {
		page.HasNextPage, page.HasPreviousPage = more, p.After != nil
	}
	return page
}

// CountOrganizations counts the tenant's organizations matching f.
func (s *Store) CountOrganizations(ctx context.Context, tenantID string, f domain.OrganizationFilter) (int, error) {
	w, err := filterWhere(tenantID, f)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM organizations o WHERE `+w.sql(), w.args...); err != nil {
		return 0, fmt.Errorf("count organizations: %w", err)
	}
	return n, nil
}

// The relations of many organizations at once, for the request's loaders: one statement per relation
// whatever the number of organizations.

// ProjectsOf returns the projects of each organization of ids.
func (s *Store) ProjectsOf(ctx context.Context, tenantID string, ids []string) (map[string][]domain.Project, error) {
	ps, err := s.projectsWhere(ctx, `tenant_id = $1 AND organization_id = ANY($2)`, tenantID, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	out := make(map[string][]domain.Project, len(ids))
	for _, p := range ps {
		out[p.OrganizationID] = append(out[p.OrganizationID], p)
	}
	return out, nil
}

// MembersOf returns the members of each organization of ids, owners first.
func (s *Store) MembersOf(ctx context.Context, tenantID string, ids []string) (map[string][]domain.Member, error) {
	ms, err := membersWhere(ctx, s.db, `m.tenant_id = $1 AND m.organization_id = ANY($2)`, tenantID, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	out := make(map[string][]domain.Member, len(ids))
	for _, m := range ms {
		out[m.OrganizationID] = append(out[m.OrganizationID], m)
	}
	return out, nil
}

// domainsOfSQL reads the domains of the organizations $2 of tenant $1, by organization, the primary
// first.
const domainsOfSQL = `SELECT ` + domainColumns + `
FROM organization_domains d WHERE d.tenant_id = $1 AND d.organization_id = ANY($2)
ORDER BY ` + domainOrderSQL

// domainOrderSQL orders the domains d of organizations: by organization, the primary first, then by
// name.
const domainOrderSQL = `d.organization_id, d.is_primary DESC, d.domain`

// DomainsOf returns the domains of each organization of ids, the primary first.
func (s *Store) DomainsOf(ctx context.Context, tenantID string, ids []string) (map[string][]domain.Domain, error) {
	rows, err := s.db.QueryxContext(ctx, domainsOfSQL, tenantID, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	return scanDomains(rows, len(ids))
}

// scanDomains reads the rows of domainsOfSQL, grouped by organization.
func scanDomains(rows *sqlx.Rows, sizeHint int) (map[string][]domain.Domain, error) {
	out := make(map[string][]domain.Domain, sizeHint)
	var r domainRow
	dests := r.dests()
	for rows.Next() {
		r = domainRow{}
		if err := rows.Scan(dests...); err != nil {
			return nil, fmt.Errorf("scan domain: %w", err)
		}
		out[r.OrganizationID] = append(out[r.OrganizationID], r.domain())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// attributesOfSQL reads the custom attributes of the organizations $2 of tenant $1, by organization,
// then by key.
const attributesOfSQL = `SELECT organization_id, key, type, value FROM organization_attributes
WHERE tenant_id = $1 AND organization_id = ANY($2) ORDER BY organization_id, key`

// AttributesOf returns the custom attributes of each organization of ids, by key.
func (s *Store) AttributesOf(ctx context.Context, tenantID string, ids []string) (map[string][]domain.Attribute, error) {
	rows, err := s.db.QueryContext(ctx, attributesOfSQL, tenantID, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	defer rows.Close()
	return scanAttributes(rows)
}

// OrganizationsOf returns the tenant's organizations with the given ids.
func (s *Store) OrganizationsOf(ctx context.Context, tenantID string, ids []string) (map[string]*domain.Organization, error) {
	var rows []organizationRow
	q := `SELECT ` + organizationColumns + ` FROM organizations o WHERE o.tenant_id = $1 AND o.id = ANY($2)`
	if err := s.db.SelectContext(ctx, &rows, q, tenantID, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("get organizations: %w", err)
	}
	out := make(map[string]*domain.Organization, len(rows))
	for _, r := range rows {
		o, err := toOrganization(r)
		if err != nil {
			return nil, err
		}
		out[o.ID] = o
	}
	return out, nil
}
