package db_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// probe is a table of a test's own, dropped when the test ends, with the connection that changes it.
type probe struct {
	t     *testing.T
	table string
	conn  *sqlx.Conn
}

func newProbe(t *testing.T) *probe {
	t.Helper()
	conn, err := store.DB().Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{t: t, table: fmt.Sprintf("analyze_probe_%x", uuid.New().ID()), conn: conn}
	t.Cleanup(func() {
		conn.Close()
		store.DB().Exec("DROP TABLE IF EXISTS " + p.table)
	})
	p.exec("CREATE TABLE " + p.table + " (x int)")
	return p
}

func (p *probe) exec(q string) {
	p.t.Helper()
	if _, err := p.conn.ExecContext(context.Background(), q); err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
}

// insert adds the rows from to to and makes the connection's counts of changes reach the cumulative
// statistics (a backend flushes them only from time to time).
func (p *probe) insert(from, to int) {
	p.t.Helper()
	p.exec(fmt.Sprintf("INSERT INTO %s SELECT generate_series(%d, %d)", p.table, from, to))
	p.exec("SELECT pg_stat_force_next_flush()")
	p.exec("SELECT 1")
}

// analyzed runs AnalyzeChanged and reports whether it analyzed the probe, and what it analyzed.
func (p *probe) analyzed() (bool, []string) {
	p.t.Helper()
	tables, err := store.AnalyzeChanged(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return slices.Contains(tables, p.table), tables
}

// TestAnalyzeChanged: a table changed by more than autovacuum's thresholds is analyzed, once, and not
// again within a minute.
func TestAnalyzeChanged(t *testing.T) {
	t.Parallel()
	p := newProbe(t)
	p.insert(1, 40)
	if ok, _ := p.analyzed(); ok {
		t.Fatalf("40 rows inserted, under the threshold of 50: %s analyzed", p.table)
	}
	p.insert(41, 100)
	if ok, tables := p.analyzed(); !ok {
		t.Fatalf("100 rows inserted: %s not analyzed (analyzed %v)", p.table, tables)
	}
	var tuples float64
	if err := store.DB().Get(&tuples, `SELECT reltuples FROM pg_class WHERE relname = $1`, p.table); err != nil {
		t.Fatal(err)
	}
	if tuples != 100 {
		t.Fatalf("reltuples %v after the analyze, want 100", tuples)
	}
	if ok, _ := p.analyzed(); ok {
		t.Fatalf("%s analyzed again without a change", p.table)
	}
	// Changed again past the thresholds, but analyzed less than a minute ago: it waits, as autovacuum
	// would...
	p.insert(101, 170)
	if ok, _ := p.analyzed(); ok {
		t.Fatalf("%s analyzed again within a minute", p.table)
	}
	// ... unless it has more than doubled since: statistics of a table a fraction of its size make plans
	// as wrong as none (the tables of a new database, analyzed while still empty).
	p.insert(171, 260)
	if ok, tables := p.analyzed(); !ok {
		t.Fatalf("%s more than doubled within a minute, not analyzed (analyzed %v)", p.table, tables)
	}
}

// TestAnalyzeChangedAfterAnEmptyAnalyze: a table analyzed while empty (a new database analyzed before
// its first rows) is analyzed again as soon as it passes 50 rows, within the minute.
// Not parallel: TestAnalyzeChanged's calls would analyze this test's table too.
func TestAnalyzeChangedAfterAnEmptyAnalyze(t *testing.T) {
	p := newProbe(t)
	p.exec("ANALYZE " + p.table)
	p.insert(1, 60)
	if ok, tables := p.analyzed(); !ok {
		t.Fatalf("60 rows in a table analyzed empty: %s not analyzed (analyzed %v)", p.table, tables)
	}
}

// TestCleanPendingLists: what inserts left in a GIN index's pending list is in the index once
// CleanPendingLists has run, so that no insert has to move it there while its caller waits.
func TestCleanPendingLists(t *testing.T) {
	t.Parallel()
	p := newProbe(t)
	index := p.table + "_trgm"
	p.exec("ALTER TABLE " + p.table + " ADD COLUMN name text")
	p.exec("CREATE INDEX " + index + " ON " + p.table + " USING gin (name gin_trgm_ops) WITH (fastupdate = on)")
	p.exec("INSERT INTO " + p.table + " (name) SELECT 'Organization ' || i FROM generate_series(1, 300) i")
	if _, err := store.CleanPendingLists(context.Background()); err != nil {
		t.Fatal(err)
	}
	var left int64
	if err := store.DB().Get(&left, `SELECT gin_clean_pending_list($1::regclass)`, index); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d pages still pending in %s after CleanPendingLists", left, index)
	}
	// The same inserts without CleanPendingLists leave pages pending: the check above can fail.
	p.exec("INSERT INTO " + p.table + " (name) SELECT 'Organization ' || i FROM generate_series(1, 300) i")
	if err := store.DB().Get(&left, `SELECT gin_clean_pending_list($1::regclass)`, index); err != nil {
		t.Fatal(err)
	}
	if left == 0 {
		t.Fatalf("300 inserts left nothing pending in %s", index)
	}
}
