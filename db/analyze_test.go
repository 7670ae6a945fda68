package db_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// probeTable creates a table of its own for the test, dropped when it ends, and returns its name, a
// function that runs a statement on one connection, and one that makes that connection's counts of
// changes reach the cumulative statistics (a backend flushes them only from time to time).
func probeTable(t *testing.T) (table string, exec func(q string), flush func()) {
	t.Helper()
	ctx := context.Background()
	table = fmt.Sprintf("analyze_probe_%x", uuid.New().ID())
	conn, err := store.DB().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		store.DB().Exec("DROP TABLE IF EXISTS " + table)
	})
	exec = func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE " + table + " (x int)")
	return table, exec, func() { exec("SELECT pg_stat_force_next_flush()"); exec("SELECT 1") }
}

// TestAnalyzeChanged: a table changed by more than autovacuum's thresholds is analyzed, once, and not
// again within a minute.
func TestAnalyzeChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	table, exec, flush := probeTable(t)
	exec("INSERT INTO " + table + " SELECT generate_series(1, 40)")
	flush()
	analyzed, err := store.AnalyzeChanged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(analyzed, table) {
		t.Fatalf("40 rows inserted, under the threshold of 50: %s analyzed", table)
	}
	exec("INSERT INTO " + table + " SELECT generate_series(41, 100)")
	flush()
	if analyzed, err = store.AnalyzeChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(analyzed, table) {
		t.Fatalf("100 rows inserted: %s not analyzed (analyzed %v)", table, analyzed)
	}
	var tuples float64
	if err := store.DB().Get(&tuples, `SELECT reltuples FROM pg_class WHERE relname = $1`, table); err != nil {
		t.Fatal(err)
	}
	if tuples != 100 {
		t.Fatalf("reltuples %v after the analyze, want 100", tuples)
	}
	if analyzed, err = store.AnalyzeChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(analyzed, table) {
		t.Fatalf("%s analyzed again without a change", table)
	}
	// Changed again past the thresholds, but analyzed less than a minute ago: it waits, as autovacuum
	// would...
	exec("INSERT INTO " + table + " SELECT generate_series(101, 170)")
	flush()
	if analyzed, err = store.AnalyzeChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(analyzed, table) {
		t.Fatalf("%s analyzed again within a minute", table)
	}
	// ... unless it has more than doubled since: statistics of a table a fraction of its size make plans
	// as wrong as none (the tables of a new database, analyzed while still empty).
	exec("INSERT INTO " + table + " SELECT generate_series(171, 260)")
	flush()
	if analyzed, err = store.AnalyzeChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(analyzed, table) {
		t.Fatalf("%s more than doubled within a minute, not analyzed (analyzed %v)", table, analyzed)
	}
}

// TestAnalyzeChangedAfterAnEmptyAnalyze: a table analyzed while empty (a new database analyzed before
// its first rows) is analyzed again as soon as it passes 50 rows, within the minute.
// Not parallel: TestAnalyzeChanged's calls would analyze this test's table too.
func TestAnalyzeChangedAfterAnEmptyAnalyze(t *testing.T) {
	table, exec, flush := probeTable(t)
	exec("ANALYZE " + table)
	exec("INSERT INTO " + table + " SELECT generate_series(1, 60)")
	flush()
	analyzed, err := store.AnalyzeChanged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(analyzed, table) {
		t.Fatalf("60 rows in a table analyzed empty: %s not analyzed (analyzed %v)", table, analyzed)
	}
}
