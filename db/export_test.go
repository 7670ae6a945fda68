package db

import "time"

// SetClock replaces the store's clock: the tests of the outbox move time instead of waiting for it.
func SetClock(s *Store, now func() time.Time) { s.now = now }
