package graph_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

const listQuery = `query($first: Int, $after: String, $last: Int, $before: String, $filter: OrganizationFilter, $orderBy: OrganizationOrder) {
  organizations(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name slug totalMembers createdAt } }
    nodes { id }
  }
}`

type listPage struct {
	names      []string
	total      int
	next, prev bool
	start, end string
}

func (a *api) list(vars map[string]any) (listPage, response) {
	a.t.Helper()
	r := a.post(a.key, listQuery, vars)
	if len(r.Errors) > 0 {
		return listPage{}, r
	}
	c := r.Data["organizations"].(map[string]any)
	pi := c["pageInfo"].(map[string]any)
	p := listPage{total: int(c["totalCount"].(float64)), next: pi["hasNextPage"].(bool), prev: pi["hasPreviousPage"].(bool)}
	p.start, _ = pi["startCursor"].(string)
	p.end, _ = pi["endCursor"].(string)
	for i, e := range c["edges"].([]any) {
		n := e.(map[string]any)["node"].(map[string]any)
		p.names = append(p.names, n["name"].(string))
		if c["nodes"].([]any)[i].(map[string]any)["id"] != n["id"] {
			a.t.Errorf("nodes and edges differ")
		}
	}
	return p, r
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %02d", prefix, i)
	}
	return out
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	all := names("Org", 25)
	for _, n := range all {
		a.create(a.key, map[string]any{"name": n})
	}
	byName := map[string]any{"field": "NAME", "direction": "ASC"}

	// Forward by name, while organizations are created between the pages.
	var seen []string
	var after any
	for page := 0; ; page++ {
		p, r := a.list(map[string]any{"first": 10, "after": after, "orderBy": byName})
		if r.Errors != nil {
			t.Fatal(r.Raw)
		}
		seen = append(seen, p.names...)
		if page == 0 {
			// New rows before and after the cursor: the next pages neither repeat nor skip.
			a.create(a.key, map[string]any{"name": "Org 00a"})
			a.create(a.key, map[string]any{"name": "Org 15a"})
			if p.prev || !p.next || len(p.names) != 10 {
				t.Errorf("first page: %+v", p)
			}
		}
		if !p.next {
			break
		}
		after = p.end
	}
	want := append(slices.Clone(all[:16]), "Org 15a")
	want = append(want, all[16:]...)
	if !slices.Equal(seen, want) {
		t.Errorf("forward pages:\n%v\nwant\n%v", seen, want)
	}

	// Backward from the end, by creation time descending.
	var back []string
	var before any
	for {
		p, r := a.list(map[string]any{"last": 7, "before": before, "orderBy": map[string]any{"field": "CREATED_AT", "direction": "DESC"}})
		if r.Errors != nil {
			t.Fatal(r.Raw)
		}
		back = append(p.names, back...)
		if !p.prev {
			break
		}
		before = p.start
	}
	wantBack := []string{"Org 15a", "Org 00a"} // created last
	for i := len(all) - 1; i >= 0; i-- {
		wantBack = append(wantBack, all[i])
	}
	if !slices.Equal(back, wantBack) {
		t.Errorf("backward pages:\n%v\nwant\n%v", back, wantBack)
	}

	t.Run("OtherTenantSeesNothing", func(t *testing.T) {
		b := newAPIInOtherTenant(t)
		if p, r := b.list(map[string]any{"first": 100}); len(r.Errors) != 0 || len(p.names) != 0 || p.total != 0 {
			t.Errorf("another tenant lists %v (total %d)", p.names, p.total)
		}
		// Nor can it page with this tenant's cursor into this tenant's rows.
		if p, _ := b.list(map[string]any{"first": 5, "after": after, "orderBy": byName}); len(p.names) != 0 {
			t.Errorf("another tenant's cursor reads %v", p.names)
		}
	})
	t.Run("Limits", func(t *testing.T) {
		forged := domain.Cursor{Field: domain.OrderByCreatedAt, Value: "yesterday", ID: "00000000-0000-0000-0000-000000000000"}.Encode()
		badID := domain.Cursor{Field: domain.OrderByName, Value: "x", ID: "1; DROP TABLE x"}.Encode()
		for _, vars := range []map[string]any{
			{"after": forged}, {"after": badID, "orderBy": byName}, {"first": 5, "before": after, "orderBy": byName},
			{"last": 5, "after": after, "orderBy": byName},
			{"first": 101}, {"last": 101}, {"first": -1}, {"first": 1, "last": 1},
			{"after": "not-a-cursor"}, {"after": after, "orderBy": map[string]any{"field": "TOTAL_MEMBERS", "direction": "ASC"}},
		} {
			_, r := a.list(vars)
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
				t.Errorf("%v: %s", vars, r.Raw)
			}
		}
		if p, _ := a.list(map[string]any{"first": 100}); len(p.names) != 27 || p.total != 27 {
			t.Errorf("first 100: %d names, total %d", len(p.names), p.total)
		}
		if p, _ := a.list(nil); len(p.names) != 20 || !p.next {
			t.Errorf("default page: %d names", len(p.names))
		}
	})
}

func TestListFiltersAndOrders(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	create := func(in map[string]any) {
		if errs := userErrors(a.create(a.key, in)); len(errs) != 0 {
			t.Fatalf("create %v: %v", in["name"], errs)
		}
	}
	admin := func(email string) map[string]any {
		return map[string]any{"firstName": "A", "lastName": "B", "email": email}
	}
	create(map[string]any{"name": "Crème Brûlée", "countryCode": "FR", "regionTemplate": "eu", "isPrivate": true,
		"customAttributes": []map[string]any{{"key": "seats", "value": 50}, {"key": "renewal", "value": "2027-03-01"}, {"key": "tier", "value": "gold"}}})
	create(map[string]any{"name": "Acme", "countryCode": "US", "regionTemplate": "us", "isDefault": true, "primaryDomain": "acme-widgets.example",
		"customAttributes": []map[string]any{{"key": "seats", "value": 5}, {"key": "renewal", "value": "2026-12-31"}, {"key": "vip", "value": true}}})
	create(map[string]any{"name": "Zeta", "status": "INACTIVE", "countryCode": "US",
		"emailConfirmationLandingPage": "https://app.example.com/c", "primaryAdministrator": admin("z@zeta.example"),
		"customAttributes": []map[string]any{{"key": "seats", "value": "50"}}})
	create(map[string]any{"name": "bravo", "emailConfirmationLandingPage": "https://app.example.com/c", "primaryAdministrator": admin("b@bravo.example")})

	for name, tc := range map[string]struct {
		filter map[string]any
		want   string
	}{
		"Status":            {map[string]any{"status": "INACTIVE"}, "[Zeta]"},
		"IsPrivate":         {map[string]any{"isPrivate": true}, "[Crème Brûlée]"},
		"IsDefault":         {map[string]any{"isDefault": true}, "[Acme]"},
		"CountryCode":       {map[string]any{"countryCode": "US"}, "[Acme Zeta]"},
		"Region":            {map[string]any{"regionTemplate": "eu"}, "[Crème Brûlée]"},
		"SearchAccent":      {map[string]any{"search": "CREME"}, "[Crème Brûlée]"},
		"SearchSlug":        {map[string]any{"search": "e-bru"}, "[Crème Brûlée]"},
		"SearchDomain":      {map[string]any{"search": "widgets"}, "[Acme]"},
		"SearchWildcard":    {map[string]any{"search": "%"}, "[]"},
		"SearchShort":       {map[string]any{"search": "ZE"}, "[Zeta]"},
		"SearchShortDomain": {map[string]any{"search": "-w"}, "[Acme]"},
		// Every generated domain holds "r" (orgs.test): the attribute filter after a search still applies.
		"SearchShortAndAttribute": {map[string]any{"search": "r", "customAttributes": []map[string]any{{"key": "seats", "gt": 10}}}, "[Crème Brûlée]"},
		"SearchAndAttribute":      {map[string]any{"search": "orgs", "customAttributes": []map[string]any{{"key": "vip", "eq": true}}}, "[Acme]"},
		"Combined":                {map[string]any{"countryCode": "US", "status": "ACTIVE"}, "[Acme]"},
		"NumberEq":                {map[string]any{"customAttributes": []map[string]any{{"key": "seats", "eq": 50}}}, "[Crème Brûlée]"},
		"NumberRange":             {map[string]any{"customAttributes": []map[string]any{{"key": "seats", "gt": 1, "lt": 10}}}, "[Acme]"},
		"NumberAsString":          {map[string]any{"customAttributes": []map[string]any{{"key": "seats", "eq": "50"}}}, "[Zeta]"},
		"DateBefore":              {map[string]any{"customAttributes": []map[string]any{{"key": "renewal", "lt": "2027-01-01"}}}, "[Acme]"},
		"StringEq":                {map[string]any{"customAttributes": []map[string]any{{"key": "tier", "eq": "gold"}}}, "[Crème Brûlée]"},
		"BooleanEq":               {map[string]any{"customAttributes": []map[string]any{{"key": "vip", "eq": true}}}, "[Acme]"},
		"TwoAttributes":           {map[string]any{"customAttributes": []map[string]any{{"key": "seats", "gt": 10}, {"key": "renewal", "gt": "2027-01-01"}}}, "[Crème Brûlée]"},
	} {
		t.Run(name, func(t *testing.T) {
			p, r := a.list(map[string]any{"filter": tc.filter, "orderBy": map[string]any{"field": "NAME", "direction": "ASC"}})
			if r.Errors != nil {
				t.Fatal(r.Raw)
			}
			if got := fmt.Sprint(p.names); got != tc.want || p.total != len(p.names) {
				t.Errorf("got %s (total %d), want %s", got, p.total, tc.want)
			}
		})
	}
	t.Run("CreatedRange", func(t *testing.T) {
		p, _ := a.list(map[string]any{"orderBy": map[string]any{"field": "CREATED_AT", "direction": "ASC"}})
		r := a.post(a.key, `{ organizations(first: 4) { edges { node { createdAt } } } }`, nil)
		edges := r.Data["organizations"].(map[string]any)["edges"].([]any)
		second := edges[1].(map[string]any)["node"].(map[string]any)["createdAt"]
		fourth := edges[3].(map[string]any)["node"].(map[string]any)["createdAt"]
		q, _ := a.list(map[string]any{"filter": map[string]any{"createdAfter": second, "createdBefore": fourth}})
		if !slices.Equal(q.names, p.names[1:3]) {
			t.Errorf("created range = %v, want %v", q.names, p.names[1:3])
		}
	})
	t.Run("ErrAttributeFilter", func(t *testing.T) {
		for _, f := range []map[string]any{{"key": "tier", "lt": "gold"}, {"key": "seats"}, {"key": "1bad", "eq": 1}, {"key": "x", "eq": []int{1}}} {
			_, r := a.list(map[string]any{"filter": map[string]any{"customAttributes": []map[string]any{f}}})
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
				t.Errorf("%v: %s", f, r.Raw)
			}
		}
	})
	for name, tc := range map[string]struct {
		order map[string]any
		want  string
	}{
		"NameAsc":       {map[string]any{"field": "NAME", "direction": "ASC"}, "[Acme bravo Crème Brûlée Zeta]"},
		"NameDesc":      {map[string]any{"field": "NAME", "direction": "DESC"}, "[Zeta Crème Brûlée bravo Acme]"},
		"CreatedAtDesc": {map[string]any{"field": "CREATED_AT", "direction": "DESC"}, "[bravo Zeta Acme Crème Brûlée]"},
		// Two members (owner and administrator) first; ties come in id order, so compare as groups.
		"TotalMembersDesc": {map[string]any{"field": "TOTAL_MEMBERS", "direction": "DESC"}, "[[Zeta bravo] [Acme Crème Brûlée]]"},
	} {
		t.Run("Order"+name, func(t *testing.T) {
			// Pages of one, to exercise the cursors of every order.
			var got []string
			var after any
			for {
				p, r := a.list(map[string]any{"first": 1, "after": after, "orderBy": tc.order})
				if r.Errors != nil {
					t.Fatal(r.Raw)
				}
				got = append(got, p.names...)
				if !p.next {
					break
				}
				after = p.end
			}
			g := fmt.Sprint(got)
			if strings.HasPrefix(tc.want, "[[") && len(got) == 4 {
				first, last := slices.Clone(got[:2]), slices.Clone(got[2:])
				slices.Sort(first)
				slices.Sort(last)
				g = fmt.Sprint([][]string{first, last})
			}
			if g != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestMemberAndProjectConnections(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.create(a.key, map[string]any{"name": "Conn", "emailConfirmationLandingPage": "https://app.example.com/c",
		"primaryAdministrator": map[string]any{"firstName": "A", "lastName": "B", "email": "admin@conn.example"},
		"projects":             []map[string]any{{"name": "P1"}, {"name": "P2"}, {"name": "P3"}}})
	q := `query($after: String) { organization(slug: "conn") {
  admins: membersConnection(role: ADMIN) { totalCount nodes { email role } }
  invited: membersConnection(status: INVITED) { totalCount }
  all: membersConnection(first: 1) { totalCount pageInfo { hasNextPage endCursor } nodes { role } }
  rest: membersConnection(first: 1, after: $after) { pageInfo { hasNextPage hasPreviousPage } nodes { role } }
  projectsConnection(first: 2) { totalCount pageInfo { hasNextPage } edges { node { name isDefault } } }
} }`
	r := a.post(a.key, q, nil)
	o := r.Data["organization"].(map[string]any)
	cursor := o["all"].(map[string]any)["pageInfo"].(map[string]any)["endCursor"]
	r = a.post(a.key, q, map[string]any{"after": cursor})
	o = r.Data["organization"].(map[string]any)
	got := fmt.Sprint(o["admins"], o["invited"], o["all"].(map[string]any)["nodes"], o["rest"], o["projectsConnection"])
	want := "map[nodes:[map[email:admin@conn.example role:ADMIN]] totalCount:1] map[totalCount:1] [map[role:OWNER]] " +
		"map[nodes:[map[role:ADMIN]] pageInfo:map[hasNextPage:false hasPreviousPage:true]] " +
		"map[edges:[map[node:map[isDefault:true name:Default project]] map[node:map[isDefault:false name:P1]]] pageInfo:map[hasNextPage:true] totalCount:4]"
	if got != want {
		t.Errorf("connections:\n%s\nwant\n%s", got, want)
	}
}

// TestNestedListCostsConstantStatements reads N organizations with every relation and counts the
// statements sent to PostgreSQL: the count must not grow with N.
func TestNestedListCostsConstantStatements(t *testing.T) {
	s, err := db.Open(context.Background(), packageURL, db.Options{Driver: dbtest.CountingDriver})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAPIFor(t, s, "count")
	tpl := a.createTemplate(a.key, map[string]any{"name": "T",
		"customAttributeDefinitions": []map[string]any{{"key": "n", "type": "NUMBER"}}})["template"].(map[string]any)["id"]
	for i := range 50 {
		a.createOK(map[string]any{"name": fmt.Sprintf("Counted %02d", i), "templateId": tpl,
			"projects": []map[string]any{{"name": "Extra"}}, "customAttributes": []map[string]any{{"key": "n", "value": i}},
			"emailConfirmationLandingPage": "https://app.example.com/c",
			"primaryAdministrator":         map[string]any{"firstName": "A", "lastName": "B", "email": fmt.Sprintf("a%d@counted.example", i)}})
	}
	const q = `query($n: Int) { organizations(first: $n) { totalCount edges { node {
  id name defaultProject { id name } projects { id name organization { id slug } } owners { email } members { email role }
  primaryAdministrator { email } template { name } domains { domain } customAttributes { key value }
  membersConnection(first: 1) { totalCount nodes { email } } projectsConnection { totalCount }
} } } }`
	count := func(n int) int64 {
		before := dbtest.Statements.Load()
		r := a.post(a.key, q, map[string]any{"n": n})
		if len(r.Errors) != 0 || len(r.Data["organizations"].(map[string]any)["edges"].([]any)) != n {
			t.Fatalf("list of %d: %.300s", n, r.Raw)
		}
		return dbtest.Statements.Load() - before
	}
	small, large := count(5), count(50)
	if small != large {
		t.Errorf("%d statements for 5 organizations, %d for 50: the count grows with N", small, large)
	}
	if large > 10 {
		t.Errorf("%d statements for one list", large)
	}
	t.Logf("%d statements for 5 or 50 organizations with every relation", large)
}
