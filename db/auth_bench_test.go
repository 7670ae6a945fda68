package db_test

import (
	"context"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

// BenchmarkAuthenticate is the authentication of one request's key: from the cache (as the server runs,
// AUTH_CACHE_TTL=1s) and, for comparison, from PostgreSQL every time (AUTH_CACHE_TTL=0).
//
//	go test -run '^$' -bench Authenticate -benchmem ./db
func BenchmarkAuthenticate(b *testing.B) {
	url := dbtest.New(b)
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Second}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := db.Open(ctx, url, db.Options{MaxOpenConns: 4, AuthCacheTTL: bc.ttl})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			key, _, err := s.CreateAPIKey(ctx, db.NewAPIKey{Name: "bench " + bc.name, Tenant: "bench", Permissions: domain.AllPermissions})
			if err != nil {
				b.Fatal(err)
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Authenticate(ctx, key); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
