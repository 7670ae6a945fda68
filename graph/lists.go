package graph

import (
	"time"

	"orgs/domain"
	"orgs/graph/model"
)

func toFilter(f *model.OrganizationFilter) domain.OrganizationFilter {
	if f == nil {
		return domain.OrganizationFilter{}
	}
	out := domain.OrganizationFilter{
		Status: (*domain.OrganizationStatus)(f.Status), IsPrivate: f.IsPrivate, IsDefault: f.IsDefault,
		CountryCode: f.CountryCode, RegionTemplate: f.RegionTemplate, Search: f.Search,
	}
	if f.CreatedAfter != nil {
		t := time.Time(*f.CreatedAfter)
		out.CreatedAfter = &t
	}
	if f.CreatedBefore != nil {
		t := time.Time(*f.CreatedBefore)
		out.CreatedBefore = &t
	}
	for _, a := range f.CustomAttributes {
		out.Attributes = append(out.Attributes, domain.AttributeFilter{Key: a.Key, Eq: a.Eq, Lt: a.Lt, Gt: a.Gt})
	}
	return out
}

func toOrder(o *model.OrganizationOrder) domain.Order {
	if o == nil {
		return domain.Order{Field: domain.OrderByCreatedAt}
	}
	return domain.Order{Field: domain.OrderField(o.Field), Desc: o.Direction == model.OrderDirectionDesc}
}

func pageInfo(cursors []string, hasNext, hasPrev bool) *model.PageInfo {
	p := &model.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrev}
	if len(cursors) > 0 {
		p.StartCursor, p.EndCursor = &cursors[0], &cursors[len(cursors)-1]
	}
	return p
}

// pageOf pages a list the loaders fetched whole (an organization's members or projects: a few rows) by
// the id of the row a cursor names.
func pageOf[T any](items []T, id func(T) string, first *int, after *string) ([]T, []string, *model.PageInfo, error) {
	page, hasNext, hasPrev, err := pageSlice(items, id, first, after)
	if err != nil {
		return nil, nil, nil, err
	}
	cursors := make([]string, len(page))
	for i, it := range page {
		cursors[i] = rowCursor(id(it))
	}
	return page, cursors, pageInfo(cursors, hasNext, hasPrev), nil
}

// pageSlice is the page of items that first and after select, as pageOf pages them, without its cursors.
func pageSlice[T any](items []T, id func(T) string, first *int, after *string) (page []T, hasNext, hasPrev bool, err error) {
	p, err := domain.NewPageRequest(first, after, nil, nil, "")
	if err != nil {
		return nil, false, false, err
	}
	start := 0
	if p.After != nil {
		start = -1
		for i, it := range items {
			if id(it) == p.After.ID {
				start = i + 1
			}
		}
		if start < 0 {
			return nil, false, false, domain.Errorf(domain.EINVALID, "the cursor's row is no longer in this list")
		}
	}
	end := min(start+p.Size, len(items))
	return items[start:end], end < len(items), start > 0, nil
}

// rowCursor is the cursor of a row of a list paged by pageOf.
func rowCursor(id string) string { return domain.Cursor{ID: id}.Encode() }

// membersMatching are the members of ms with the role and the status, when given.
func membersMatching(ms []domain.Member, role *model.MemberRole, status *model.MemberStatus) []domain.Member {
	var matching []domain.Member
	for _, m := range ms {
		if (role == nil || string(m.Role) == string(*role)) && (status == nil || string(m.Status) == string(*status)) {
			matching = append(matching, m)
		}
	}
	return matching
}

// nodesOf returns the nodes of a connection's edges.
func nodesOf[E, N any](edges []E, node func(E) *N) []N {
	out := make([]N, len(edges))
	for i, e := range edges {
		out[i] = *node(e)
	}
	return out
}

// edgesOf makes the edges of a page of rows: each row converted to its node, with its cursor.
func edgesOf[T, N, E any](page []T, cursors []string, node func(T) N, edge func(string, *N) E) []E {
	out := make([]E, len(page))
	for i, row := range page {
		n := node(row)
		out[i] = edge(cursors[i], &n)
	}
	return out
}
