package db

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// A key's lastUsedAt costs no write per request: each store records the uses in memory and writes
// them all in one statement every Options.LastUsedFlushInterval, and when it closes. The time is that
// of the latest use a flush saw, to the second, never moved backwards by a slower replica.

type keyRef struct{ tenantID, id string }

// lastUsedBatch holds, for each key a store authenticated, the time of its latest use not yet written
// (Unix nanoseconds; 0 when written). Recording a use takes no lock: a map lookup and, at most once a
// second per key, an atomic store.
type lastUsedBatch struct {
	keys sync.Map // keyRef → *atomic.Int64
}

// lastUsedResolution is how close to the truth lastUsedAt is kept.
const lastUsedResolution = time.Second

func (b *lastUsedBatch) record(tenantID, id string, at time.Time) {
	markUsed(b.slot(tenantID, id), at)
}

// slot returns where the latest use of a key is recorded; the authentication cache keeps it with the
// key, sparing the hot path the map lookup.
func (b *lastUsedBatch) slot(tenantID, id string) *atomic.Int64 {
	k := keyRef{tenantID, id}
	v, ok := b.keys.Load(k)
	if !ok {
		v, _ = b.keys.LoadOrStore(k, new(atomic.Int64))
	}
	return v.(*atomic.Int64)
}

// markUsed records a use at at in slot p.
func markUsed(p *atomic.Int64, at time.Time) {
	now := at.UnixNano()
	for {
		prev := p.Load()
		if prev != 0 && now-prev < int64(lastUsedResolution) {
			return // recorded already, recently enough
		}
		if p.CompareAndSwap(prev, now) {
			return
		}
	}
}

// take returns the uses recorded since the last take and marks them written.
func (b *lastUsedBatch) take() map[keyRef]time.Time {
	out := map[keyRef]time.Time{}
	b.keys.Range(func(k, v any) bool {
		if at := v.(*atomic.Int64).Swap(0); at != 0 {
			out[k.(keyRef)] = time.Unix(0, at)
		}
		return true
	})
	return out
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
			// While the database is away the uses wait in memory; the store logs the outage once.
			if err := s.FlushLastUsed(ctx); err != nil && !Unavailable(err) {
				s.logger.Warn("flush API keys' last use", "error", err.Error())
			}
			cancel()
		}
	}
}
