package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// Statistics where autovacuum is off. PostgreSQL plans from the statistics ANALYZE gathers, and only
// autovacuum gathers them by itself. Without them, a connection plans the foreign-key checks of a
// create as if the tables were empty: between organizations_pkey and another index led by tenant_id
// (then organizations_region_idx, which migration 00019 replaced by a partial index) the costs tie,
// the other one wins, and every check then reads all the tenant's organizations. The connection keeps
// that plan until the statistics change: measured on a fresh database, 1,553 rows read per check after
// 2,700 creates, and 266 creates/s where 661 are served once the tables are analyzed (BENCHMARKS.md,
// "Foreign keys").

// AutovacuumOn reports whether the database gathers statistics by itself.
func (s *Store) AutovacuumOn(ctx context.Context) (bool, error) {
	var on bool
	if err := s.db.GetContext(ctx, &on, `SELECT current_setting('autovacuum')::boolean`); err != nil {
		return false, fmt.Errorf("read autovacuum setting: %w", err)
	}
	return on, nil
}

// AnalyzeChanged does what autovacuum's analyze would: it analyzes the tables of the schema that changed
// by more than autovacuum's default thresholds (50 rows and 10% of the table) since their statistics
// were gathered, and returns their names. As autovacuum looks at a table at most once a minute (its
// naptime), a table analyzed less than a minute ago waits, unless it has more than doubled since (its
// live rows more than twice, and 50 more than, what the statistics say; changes that do not add rows,
// such as the updates of a one-row table, do not count): statistics of a table a fraction of its size
// plan as badly as none, and a new database analyzed while still empty (as a benchmark that analyzes before loading does) would
// otherwise keep the empty table's plans for the first minute of load; one never analyzed does not
// wait. A table another replica is analyzing is skipped.
func (s *Store) AnalyzeChanged(ctx context.Context) ([]string, error) {
	var tables []string
	const q = `
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
  AND (coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') < now() - interval '1 minute'
       OR s.n_live_tup > 50 + 2 * greatest(c.reltuples, 0))
ORDER BY s.relname`
	if err := s.db.SelectContext(ctx, &tables, q); err != nil {
		return nil, fmt.Errorf("find tables to analyze: %w", err)
	}
	var errs []error
	analyzed := tables[:0]
	for _, t := range tables {
		if _, err := s.db.ExecContext(ctx, "ANALYZE (SKIP_LOCKED) "+pq.QuoteIdentifier(t)); err != nil {
			errs = append(errs, fmt.Errorf("analyze %s: %w", t, err)) // dropped meanwhile, say: go on
			continue
		}
		analyzed = append(analyzed, t)
	}
	return analyzed, errors.Join(errs...)
}

// CleanPendingLists moves the entries waiting in the pending lists of the schema's GIN indexes (the
// trigram indexes of names, slugs and domains) into the indexes, and returns the pages it emptied. An
// insert into a GIN index with fastupdate (the default) only appends to the index's pending list; when
// the list passes gin_pending_list_limit (4 MB), the insert that finds it full moves the whole list
// into the index before it answers: a create that takes a few hundred milliseconds. Autovacuum empties
// the lists in the background; where it is off, nothing else does. Only the indexes the server's role
// owns are cleaned, as gin_clean_pending_list requires.
func (s *Store) CleanPendingLists(ctx context.Context) (int64, error) {
	const q = `
SELECT coalesce(sum(gin_clean_pending_list(c.oid)), 0)::bigint
FROM pg_class c JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'i' AND a.amname = 'gin' AND n.nspname = current_schema() AND pg_has_role(c.relowner, 'USAGE')`
	var pages int64
	if err := s.db.GetContext(ctx, &pages, q); err != nil {
		return 0, fmt.Errorf("clean GIN pending lists: %w", err)
	}
	return pages, nil
}
