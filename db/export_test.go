package db

import "time"

// SetAuthCacheTTL changes how long s remembers keys, so that a test can show what the revocation
// notifications do alone. Call it before s authenticates anything.
func (s *Store) SetAuthCacheTTL(d time.Duration) { s.auth.ttl = d }
