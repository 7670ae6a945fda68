package db

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lib/pq"
)

// A key's lastUsedAt costs no write per request: each store records the uses in memory and writes
// them all in one statement every Options.LastUsedFlushInterval, and when it closes. The time is that
// of the latest use a flush saw, never moved backwards by a slower replica.

type keyRef struct{ tenantID, id string }

// lastUsedBatch holds the keys used since the last flush, with the time of their latest use.
type lastUsedBatch struct {
	mu sync.Mutex
	m  map[keyRef]time.Time
}

func (b *lastUsedBatch) record(tenantID, id string, at time.Time) {
	k := keyRef{tenantID, id}
	b.mu.Lock()
	if prev, ok := b.m[k]; !ok || at.After(prev) {
		if b.m == nil {
			b.m = make(map[keyRef]time.Time)
		}
		b.m[k] = at
	}
	b.mu.Unlock()
}

// take empties the batch and returns what it held.
func (b *lastUsedBatch) take() map[keyRef]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.m
	b.m = nil
	return m
}

// putBack returns the uses of a failed flush to the batch, for the next one.
func (b *lastUsedBatch) putBack(m map[keyRef]time.Time) {
	for k, at := range m {
		b.record(k.tenantID, k.id, at)
	}
}

// FlushLastUsed writes the keys' uses recorded since the last flush, in one statement; on failure they
// are kept for the next flush.
func (s *Store) FlushLastUsed(ctx context.Context) error {
	m := s.lastUsed.take()
	if len(m) == 0 {
		return nil
	}
	tenants, ids, times := make([]string, 0, len(m)), make([]string, 0, len(m)), make([]string, 0, len(m))
	for k, at := range m {
		tenants, ids = append(tenants, k.tenantID), append(ids, k.id)
		times = append(times, at.UTC().Format(time.RFC3339Nano))
	}
	const q = `
UPDATE api_keys k SET last_used_at = u.at
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS u(tenant_id, id, at)
WHERE k.tenant_id = u.tenant_id AND k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`
	if _, err := s.db.ExecContext(ctx, q, pq.Array(tenants), pq.Array(ids), pq.Array(times)); err != nil {
		s.lastUsed.putBack(m)
		return fmt.Errorf("flush keys' last use: %w", err)
	}
	return nil
}

// flushLastUsedEvery flushes every interval until stop is closed.
func (s *Store) flushLastUsedEvery(interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			if err := s.FlushLastUsed(ctx); err != nil {
				s.logger.Warn("flush API keys' last use", "error", err.Error())
			}
			cancel()
		}
	}
}
