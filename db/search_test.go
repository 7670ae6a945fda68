package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lib/pq"

	"orgs/db"
	"orgs/domain"
)

// TestSearchCanUseTheTrigramIndexes: a search is written so that PostgreSQL can find a rare text
// through the trigram indexes of names and slugs among the thousands of organizations of a tenant (an
// OR over each row with the domains' subquery in it could not use any index, and folded every name),
// and a common one by reading the organizations in the list's order until the page is full (a union of
// the matching ids would find all of them first).
func TestSearchCanUseTheTrigramIndexes(t *testing.T) {
	t.Parallel()
	a := manyOrganizations(t)
	for _, tc := range []struct {
		search string
		want   bool // the plan reads both trigram indexes of organizations (an OR of their bitmaps)
		n      int  // rows of the page's statement (its limit is the page and one)
	}{
		{"brûlée", true, 1},
		{"creme-b", true, 1},
		{"filler", false, 51}, // all but one: in the list's order, up to the page and one
	} {
		q, args, err := db.ListSQL(a.TenantID, domain.OrganizationFilter{Search: &tc.search})
		if err != nil {
			t.Fatal(err)
		}
		plan, read := explain(t, q, args...)
		if tc.want && (!strings.Contains(plan, "organizations_name_trgm_idx") || !strings.Contains(plan, "organizations_slug_trgm_idx")) {
			t.Errorf("search %q: the plan does not read the trigram indexes of names and slugs:\n%s", tc.search, plan)
		}
		if !tc.want && read > 500 {
			t.Errorf("search %q: %d rows of organizations read for a page of 50:\n%s", tc.search, read, plan)
		}
		var n int
		if err := store.DB().Get(&n, "SELECT count(*) FROM ("+q+") page", args...); err != nil {
			t.Fatal(err)
		}
		if n != tc.n {
			t.Errorf("search %q: %d organizations, want %d", tc.search, n, tc.n)
		}
	}
}

// manyOrganizations returns an actor whose tenant has "Crème Brûlée" and 3,000 copies of it but for
// the id, name ("Filler N") and slug, of which the first three INACTIVE and the next three private;
// then does what autovacuum would: the statistics, and the trigram indexes' pending lists moved into
// the indexes (a search reads them).
func manyOrganizations(t *testing.T) *domain.Actor {
	t.Helper()
	a := newActor(t, "tenant")
	o := create(t, a, domain.CreateOrganizationInput{Name: "Crème Brûlée"})
	if _, err := store.DB().Exec(`
INSERT INTO organizations
SELECT (jsonb_populate_record(o, jsonb_build_object('id', orgs_new_id(), 'name', 'Filler ' || g, 'slug', 'filler-' || g,
    'status', CASE WHEN g <= 3 THEN 'INACTIVE' ELSE 'ACTIVE' END, 'is_private', g BETWEEN 4 AND 6))).*
FROM organizations o, generate_series(1, 3000) g WHERE o.tenant_id = $1 AND o.id = $2`, a.TenantID, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DB().Exec(`SELECT gin_clean_pending_list('organizations_name_trgm_idx'), gin_clean_pending_list('organizations_slug_trgm_idx');
ANALYZE organizations`); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRareFiltersUseTheirPartialIndexes: the filters on a rare status or on privacy are served by the
// partial indexes of migration 00019 even in a generic plan, the kind PostgreSQL settles on for a
// statement the direct path keeps prepared; with the value bound as a parameter it could not prove the
// index's predicate and would read the tenant's organizations in the list's order.
func TestRareFiltersUseTheirPartialIndexes(t *testing.T) {
	t.Parallel()
	a := manyOrganizations(t)
	inactive, private := domain.StatusInactive, true
	for _, tc := range []struct {
		name   string
		filter domain.OrganizationFilter
		index  string
	}{
		{"status INACTIVE", domain.OrganizationFilter{Status: &inactive}, "organizations_inactive_idx"},
		{"isPrivate", domain.OrganizationFilter{IsPrivate: &private}, "organizations_private_only_idx"},
	} {
		q, args, err := db.ListSQL(a.TenantID, tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := store.DB().Beginx()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		if _, err = tx.Exec(`SET LOCAL plan_cache_mode = force_generic_plan`); err == nil {
			if _, err = tx.Exec(`PREPARE listed AS ` + q); err == nil {
				values := make([]string, len(args)) // the tenant's id alone, for these filters
				for i, v := range args {
					values[i] = pq.QuoteLiteral(fmt.Sprint(v))
				}
				err = tx.Select(&lines, `EXPLAIN EXECUTE listed(`+strings.Join(values, ", ")+`)`)
				if _, derr := tx.Exec(`DEALLOCATE listed`); err == nil { // a prepared statement outlives the transaction
					err = derr
				}
			}
		}
		tx.Rollback() //nolint:errcheck // read only
		if err != nil {
			t.Fatal(err)
		}
		if plan := strings.Join(lines, "\n"); !strings.Contains(plan, tc.index) {
			t.Errorf("filter %s: the generic plan does not use %s:\n%s", tc.name, tc.index, plan)
		}
	}
}

// explain runs q under EXPLAIN ANALYZE and returns the plan (JSON) and how many rows its scans of
// organizations returned.
func explain(t *testing.T, q string, args ...any) (string, int) {
	t.Helper()
	var plan string
	if err := store.DB().GetContext(context.Background(), &plan, "EXPLAIN (ANALYZE, FORMAT JSON) "+q, args...); err != nil {
		t.Fatal(err)
	}
	var root []struct{ Plan node }
	if err := json.Unmarshal([]byte(plan), &root); err != nil || len(root) != 1 {
		t.Fatalf("plan %s: %v", plan, err)
	}
	return plan, root[0].Plan.organizationRows()
}

type node struct {
	Relation string  `json:"Relation Name"`
	Rows     float64 `json:"Actual Rows"`
	Loops    float64 `json:"Actual Loops"`
	Plans    []node  `json:"Plans"`
}

func (n node) organizationRows() int {
	rows := 0
	if n.Relation == "organizations" {
		rows += int(n.Rows * n.Loops)
	}
	for _, c := range n.Plans {
		rows += c.organizationRows()
	}
	return rows
}
