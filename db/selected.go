package db

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// Reads of selected columns. The API's direct list path (graph/direct.go) knows from the query which
// fields it will write, so it asks PostgreSQL for those columns only, through statements prepared once
// per connection: PostgreSQL then neither parses and plans each statement again nor formats columns
// that nobody reads. The structs come back filled only where a column was selected.

// column is one selectable column: its SQL and where its value lands. UUIDs are read as text: lib/pq
// decodes a binary uuid into text and then database/sql copies it into a string again.
type column[T any] struct {
	sql  string
	dest func(*T) any
}

// organizationSelectable are the columns of organizations a selected read may ask for, by name.
var organizationSelectable = map[string]column[domain.Organization]{
	"name":              {"o.name", func(o *domain.Organization) any { return &o.Name }},
	"slug":              {"o.slug", func(o *domain.Organization) any { return &o.Slug }},
	"description":       {"o.description", func(o *domain.Organization) any { return &o.Description }},
	"avatar_url":        {"o.avatar_url", func(o *domain.Organization) any { return &o.AvatarURL }},
	"country_code":      {"o.country_code", func(o *domain.Organization) any { return &o.CountryCode }},
	"language_code":     {"o.language_code", func(o *domain.Organization) any { return &o.LanguageCode }},
	"locale":            {"o.locale", func(o *domain.Organization) any { return &o.Locale }},
	"timezone":          {"o.timezone", func(o *domain.Organization) any { return &o.Timezone }},
	"phone":             {"o.phone", func(o *domain.Organization) any { return &o.Phone }},
	"region_template":   {"o.region_template", func(o *domain.Organization) any { return &o.RegionTemplate }},
	"is_private":        {"o.is_private", func(o *domain.Organization) any { return &o.IsPrivate }},
	"is_default":        {"o.is_default", func(o *domain.Organization) any { return &o.IsDefault }},
	"is_system":         {"o.is_system", func(o *domain.Organization) any { return &o.IsSystem }},
	"status":            {"o.status", func(o *domain.Organization) any { return &o.Status }},
	"status_changed_at": {"o.status_changed_at", func(o *domain.Organization) any { return &o.StatusChangedAt }},
	"member_count":      {"o.member_count", func(o *domain.Organization) any { return &o.TotalMembers }},
	"created_by":        {"o.created_by::text", func(o *domain.Organization) any { return &o.CreatedBy }},
	"created_at":        {"o.created_at", func(o *domain.Organization) any { return &o.CreatedAt }},
	"updated_at":        {"o.updated_at", func(o *domain.Organization) any { return &o.UpdatedAt }},
	"template_id":       {"o.template_id::text", func(o *domain.Organization) any { return &o.TemplateID }},
	"primary_domain":    {primaryDomainSQL, func(o *domain.Organization) any { return &o.PrimaryDomain }},
}

// projectSelectable are the columns of projects a selected read may ask for.
var projectSelectable = map[string]column[domain.Project]{
	"name":       {"name", func(p *domain.Project) any { return &p.Name }},
	"slug":       {"slug", func(p *domain.Project) any { return &p.Slug }},
	"type":       {"type", func(p *domain.Project) any { return &p.Type }},
	"mode":       {"mode", func(p *domain.Project) any { return &p.Mode }},
	"status":     {"status", func(p *domain.Project) any { return &p.Status }},
	"created_at": {"created_at", func(p *domain.Project) any { return &p.CreatedAt }},
	"updated_at": {"updated_at", func(p *domain.Project) any { return &p.UpdatedAt }},
}

// memberSelectable are the columns of members (memberships and their users) a selected read may ask
// for; a column of users joins them.
var memberSelectable = map[string]column[domain.Member]{
	"id":             {"m.id::text", func(m *domain.Member) any { return &m.ID }},
	"user_id":        {"m.user_id::text", func(m *domain.Member) any { return &m.UserID }},
	"status":         {"m.status", func(m *domain.Member) any { return &m.Status }},
	"joined_at":      {"m.joined_at", func(m *domain.Member) any { return &m.JoinedAt }},
	"email":          {"u.email", func(m *domain.Member) any { return &m.Email }},
	"name":           {"u.name", func(m *domain.Member) any { return &m.Name }},
	"email_verified": {emailVerifiedSQL, func(m *domain.Member) any { return &m.EmailVerified }},
}

// domainSelectable are the columns of organization_domains a selected read may ask for.
var domainSelectable = map[string]column[domain.Domain]{
	"id":                 {"d.id::text", func(d *domain.Domain) any { return &d.ID }},
	"is_verified":        {"d.is_verified", func(d *domain.Domain) any { return &d.IsVerified }},
	"is_generated":       {"d.is_generated", func(d *domain.Domain) any { return &d.IsGenerated }},
	"status":             {"d.status", func(d *domain.Domain) any { return &d.Status }},
	"verified_at":        {"d.verified_at", func(d *domain.Domain) any { return &d.VerifiedAt }},
	"verification_token": {"d.verification_token", func(d *domain.Domain) any { return &d.Token }},
	"token_expires_at":   {"d.token_expires_at", func(d *domain.Domain) any { return &d.ExpiresAt }},
	"last_failure":       {"d.last_failure", func(d *domain.Domain) any { return &d.LastFailure }},
}

// selection is the SQL of the chosen columns after the fixed ones, and the scan destinations of a row.
func selection[T any](table map[string]column[T], fixed []column[T], names []string) (string, func(*T) []any, error) {
	cols := slices.Clone(fixed)
	names = slices.Compact(slices.Sorted(slices.Values(names))) // one statement text per set of columns
	for _, n := range names {
		c, ok := table[n]
		if !ok {
			return "", nil, fmt.Errorf("column %q cannot be selected", n)
		}
		cols = append(cols, c)
	}
	sqls := make([]string, len(cols))
	for i, c := range cols {
		sqls[i] = c.sql
	}
	return strings.Join(sqls, ", "), func(v *T) []any {
		dests := make([]any, len(cols))
		for i, c := range cols {
			dests[i] = c.dest(v)
		}
		return dests
	}, nil
}

// groupRows reads rows, ordered by key, into values of T starting from base, through one set of scan
// destinations, and groups them by key.
func groupRows[T any](rows *sqlx.Rows, dests func(*T) []any, base T, key func(*T) string, sizeHint int) (map[string][]T, error) {
	var v T
	d := dests(&v)
	all := make([]T, 0, sizeHint)
	for rows.Next() {
		v = base
		if err := rows.Scan(d...); err != nil {
			return nil, err
		}
		all = append(all, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[string][]T, sizeHint)
	for start := 0; start < len(all); {
		k, end := key(&all[start]), start+1
		for end < len(all) && key(&all[end]) == k {
			end++
		}
		if prev, ok := out[k]; ok { // not in key order after all: copy rather than share
			out[k] = append(prev[:len(prev):len(prev)], all[start:end]...)
		} else {
			out[k] = all[start:end:end]
		}
		start = end
	}
	return out, nil
}

// ListOrganizationsSelected is ListOrganizations reading only the id and the named columns (of
// organizationSelectable) of each organization; with cursors, also what its cursor needs.
func (s *Store) ListOrganizationsSelected(ctx context.Context, tenantID string, f domain.OrganizationFilter, o domain.Order, p domain.PageRequest, columns []string, cursors bool) (*OrganizationPage, error) {
	if cursors { // the cursor's value, which for NAME is the sort key
		switch o.Field {
		case domain.OrderByTotalMembers:
			columns = append(columns, "member_count")
		case domain.OrderByName:
		default:
			columns = append(columns, "created_at")
		}
	}
	fixed := []column[domain.Organization]{{"o.id::text", func(o *domain.Organization) any { return &o.ID }}}
	cols, dests, err := selection(organizationSelectable, fixed, columns)
	if err != nil {
		return nil, err
	}
	q, args, err := listQuery(tenantID, f, o, p, cols, cursors)
	if err != nil {
		return nil, err
	}
	query := s.queryPrepared
	if f.Search != nil {
		// Planned with the text each time (an unnamed statement), not kept prepared: whether the trigram
		// indexes or the list's order find a page first depends on how common the text is, which a
		// generic plan cannot know (filterWhere).
		query = s.db.QueryxContext
	}
	rows, err := query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	page := &OrganizationPage{}
	var sortKeyText string
	orgs := make([]domain.Organization, 0, p.Size+1) // the statement's LIMIT: never grown
	for rows.Next() {
		orgs = append(orgs, domain.Organization{TenantID: tenantID})
		org := &orgs[len(orgs)-1]
		d := dests(org)
		if cursors {
			d = append(d, &sortKeyText)
		}
		if err := rows.Scan(d...); err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		// In UTC as ListOrganizations has them, whatever the session's TimeZone: the created-at cursor
		// is written from CreatedAt.
		org.CreatedAt, org.UpdatedAt, org.StatusChangedAt = org.CreatedAt.UTC(), org.UpdatedAt.UTC(), org.StatusChangedAt.UTC()
		if cursors {
			page.add(org, o.Field, sortKeyText)
		} else {
			page.Organizations = append(page.Organizations, org)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return page.finish(p), nil
}

// idArray is ids as the uuid[] parameter of a statement: in PostgreSQL's binary array format when lib/pq
// sends []byte parameters in binary, which PostgreSQL reads without parsing 50 UUIDs out of text; else
// as text.
func (s *Store) idArray(ids []string) (any, error) {
	if !s.binaryParameters {
		return pq.Array(ids), nil
	}
	const uuidOID = 2950
	b := make([]byte, 0, 20+20*len(ids))
	for _, v := range []int{1, 0, uuidOID, len(ids), 1} { // dimensions, has nulls, element type, length, lower bound
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	for _, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("organization id %q: %w", id, err)
		}
		b = binary.BigEndian.AppendUint32(b, 16)
		b = append(b, u[:]...)
	}
	return b, nil
}

// Relations says which relations of a page a selected read fetches, and which of their columns (of
// projectSelectable and memberSelectable) besides the fixed ones.
type Relations struct {
	Projects       bool
	ProjectColumns []string
	Members        bool
	MemberColumns  []string
	AllMembers     bool // every member, not only the owners
	Domains        bool
	DomainColumns  []string
	Attributes     bool
}

// Related are the relations of a page's organizations that RelationsSelected read, by organization.
type Related struct {
	Projects   map[string][]domain.Project
	Members    map[string][]domain.Member
	Domains    map[string][]domain.Domain
	Attributes map[string][]domain.Attribute
}

// RelationsSelected returns the projects, members, domains and custom attributes of each organization
// of ids, as rel asks, in the orders of ProjectsOf, MembersOf, DomainsOf and AttributesOf: one
// statement per relation, the ids sent once encoded. Projects come with their id, organization and
// default flag, members with their organization and role (their id is a column to ask for), domains
// with their organization, name and primary flag, besides the columns asked for.
func (s *Store) RelationsSelected(ctx context.Context, tenantID string, ids []string, rel Relations) (*Related, error) {
	out := &Related{}
	if len(ids) == 0 || !rel.Projects && !rel.Members && !rel.Domains && !rel.Attributes {
		return out, nil
	}
	idArray, err := s.idArray(ids)
	if err != nil {
		return nil, err
	}
	if rel.Projects {
		out.Projects, err = selectByOrganization(ctx, s, "projects", projectSelectable, []column[domain.Project]{
			{"organization_id::text", func(p *domain.Project) any { return &p.OrganizationID }},
			{"id::text", func(p *domain.Project) any { return &p.ID }},
			{"is_default", func(p *domain.Project) any { return &p.IsDefault }},
		}, rel.ProjectColumns, func(cols string) string {
			return `SELECT ` + cols + ` FROM projects WHERE tenant_id = $1 AND organization_id = ANY($2)
ORDER BY ` + projectOrderSQL
		}, tenantID, idArray, domain.Project{TenantID: tenantID}, func(p *domain.Project) string { return p.OrganizationID }, 2*len(ids))
		if err != nil {
			return nil, err
		}
	}
	if rel.Members {
		out.Members, err = selectByOrganization(ctx, s, "members", memberSelectable, []column[domain.Member]{
			{"m.organization_id::text", func(m *domain.Member) any { return &m.OrganizationID }},
			{"m.role", func(m *domain.Member) any { return &m.Role }},
		}, rel.MemberColumns, func(cols string) string {
			from, where := `memberships m`, `m.tenant_id = $1 AND m.organization_id = ANY($2)`
			if strings.Contains(cols, "u.") { // a column of users
				from = membersWithUsersSQL
			}
			if !rel.AllMembers {
				where += ` AND ` + ownersSQL
			}
			return `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + where + `
ORDER BY ` + memberOrderSQL
		}, tenantID, idArray, domain.Member{}, func(m *domain.Member) string { return m.OrganizationID }, 2*len(ids))
		if err != nil {
			return nil, err
		}
	}
	if rel.Domains {
		out.Domains, err = selectByOrganization(ctx, s, "domains", domainSelectable, []column[domain.Domain]{
			{"d.organization_id::text", func(d *domain.Domain) any { return &d.OrganizationID }},
			{"d.domain", func(d *domain.Domain) any { return &d.Domain }},
			{"d.is_primary", func(d *domain.Domain) any { return &d.IsPrimary }},
		}, rel.DomainColumns, func(cols string) string {
			return `SELECT ` + cols + ` FROM organization_domains d WHERE d.tenant_id = $1 AND d.organization_id = ANY($2)
ORDER BY ` + domainOrderSQL
		}, tenantID, idArray, domain.Domain{}, func(d *domain.Domain) string { return d.OrganizationID }, len(ids))
		if err != nil {
			return nil, err
		}
	}
	if rel.Attributes {
		if out.Attributes, err = readByOrganization(ctx, s, "attributes", attributesOfSQL, tenantID, idArray, func(rows *sqlx.Rows) (map[string][]domain.Attribute, error) {
			return scanAttributes(rows.Rows)
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readByOrganization runs the prepared statement q with the tenant and the organizations' ids as $1 and
// $2, and reads its rows with scan (which wraps its own errors).
func readByOrganization[T any](ctx context.Context, s *Store, what, q, tenantID string, idArray any,
	scan func(*sqlx.Rows) (map[string][]T, error)) (map[string][]T, error) {
	rows, err := s.queryPrepared(ctx, q, tenantID, idArray)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	return scan(rows)
}

// selectByOrganization runs the statement query builds for the fixed and named columns of table, with
// the tenant and the organizations' ids as $1 and $2, and groups its rows by organization.
func selectByOrganization[T any](ctx context.Context, s *Store, what string, table map[string]column[T], fixed []column[T], columns []string,
	query func(cols string) string, tenantID string, idArray any, base T, organization func(*T) string, sizeHint int) (map[string][]T, error) {
	cols, dests, err := selection(table, fixed, columns)
	if err != nil {
		return nil, err
	}
	rows, err := s.queryPrepared(ctx, query(cols), tenantID, idArray)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	out, err := groupRows(rows, dests, base, organization, sizeHint)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return out, nil
}

// maxPrepared bounds the statements kept prepared, the least recently used closed first: one per shape
// of read (filters, order, page size, columns), a few dozen in practice. Each is prepared on every
// pooled connection that runs it, so the bound also bounds what PostgreSQL keeps per connection.
const maxPrepared = 64

// preparedStatements are the pool's prepared statements by text, most recently used first. database/sql
// prepares each on a connection the first time it runs there, and again on a new connection; closing
// one waits for the rows still being read through it.
type preparedStatements struct {
	mu    sync.Mutex
	byKey map[string]*list.Element // of *preparedStatement
	order list.List
}

// A preparedStatement is closed once it has left the cache and no query is starting on it: a query
// never meets a statement closed under it.
type preparedStatement struct {
	query  string
	stmt   *sqlx.Stmt
	users  int  // queries starting on stmt now
	gone   bool // out of the cache: closed when its last user is done
	closed bool
}

// queryPrepared runs the query q through its prepared statement: one round trip (Bind and Execute),
// and no parsing or planning again in PostgreSQL. A statement that fails is never run again behind the
// caller's back: its error is returned. When the error says the prepared statement itself is stale (a
// migration changed the type of a column it reads, or the server forgot it), the statement is dropped
// too, so that the next read prepares it afresh.
func (s *Store) queryPrepared(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	ps, err := s.prepared.acquire(ctx, s.db, q)
	if err != nil {
		return nil, err
	}
	rows, err := ps.stmt.QueryxContext(ctx, args...)
	s.prepared.release(ps) // the rows, if any, keep the statement open until they are closed
	if err != nil && staleStatement(err) {
		s.prepared.drop(ps)
	}
	return rows, err
}

// readPrepared is queryPrepared in tx (or on the pool when tx is nil), with read reading the rows:
// database/sql reuses the statement where the transaction's connection has it prepared, and prepares
// it there once otherwise. The statement stays in use until read returns.
func (s *Store) readPrepared(ctx context.Context, tx *sqlx.Tx, read func(*sqlx.Rows) error, q string, args ...any) error {
	ps, err := s.prepared.acquire(ctx, s.db, q)
	if err != nil {
		return err
	}
	defer s.prepared.release(ps)
	st := ps.stmt
	if tx != nil {
		st = tx.StmtxContext(ctx, st)
	}
	rows, err := st.QueryxContext(ctx, args...)
	if err == nil {
		err = read(rows)
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil && staleStatement(err) {
		s.prepared.drop(ps)
	}
	return err
}

// staleStatement tells whether err says a prepared statement no longer fits the database: "cached plan
// must not change result type" (feature_not_supported, after a column's type changed) or "prepared
// statement does not exist" (invalid_sql_statement_name, after the server discarded it).
func staleStatement(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code {
	case "26000":
		return true
	case "0A000":
		return strings.Contains(pqErr.Message, "cached plan must not change result type")
	}
	return false
}

// acquire returns the statement of q, prepared now if need be, and counts a user of it until release.
func (ps *preparedStatements) acquire(ctx context.Context, db *sqlx.DB, q string) (*preparedStatement, error) {
	ps.mu.Lock()
	if e, ok := ps.byKey[q]; ok {
		ps.order.MoveToFront(e)
		p := e.Value.(*preparedStatement)
		p.users++
		ps.mu.Unlock()
		return p, nil
	}
	ps.mu.Unlock()
	st, err := db.PreparexContext(ctx, q)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if e, ok := ps.byKey[q]; ok { // prepared meanwhile by another request
		st.Close()
		ps.order.MoveToFront(e)
		p := e.Value.(*preparedStatement)
		p.users++
		return p, nil
	}
	if ps.byKey == nil {
		ps.byKey = map[string]*list.Element{}
	}
	p := &preparedStatement{query: q, stmt: st, users: 1}
	ps.byKey[q] = ps.order.PushFront(p)
	for ps.order.Len() > maxPrepared {
		ps.remove(ps.order.Back())
	}
	return p, nil
}

// release ends a use of p that acquire counted.
func (ps *preparedStatements) release(p *preparedStatement) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p.users--
	ps.closeIfDone(p)
}

// drop takes p out of the cache if it is still there, so that the next run of its query prepares it
// afresh.
func (ps *preparedStatements) drop(p *preparedStatement) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if e, ok := ps.byKey[p.query]; ok && e.Value.(*preparedStatement) == p {
		ps.remove(e)
	}
}

// remove takes e out of the cache and closes its statement once no query is starting on it; ps.mu is
// held.
func (ps *preparedStatements) remove(e *list.Element) {
	p := e.Value.(*preparedStatement)
	ps.order.Remove(e)
	delete(ps.byKey, p.query)
	p.gone = true
	ps.closeIfDone(p)
}

func (ps *preparedStatements) closeIfDone(p *preparedStatement) {
	if p.gone && p.users == 0 && !p.closed {
		p.closed = true
		p.stmt.Close()
	}
}

// close closes the prepared statements.
func (ps *preparedStatements) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, e := range ps.byKey {
		ps.remove(e)
	}
	ps.byKey = nil
	ps.order.Init()
}
