package httpapi

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAPQCache keeps automatic persisted queries in Redis, shared by every replica: a client that
// registered a query with one replica can send only its hash to another.
type RedisAPQCache struct {
	Client *redis.Client
	TTL    time.Duration
}

const apqPrefix = "orgs:apq:"

// Get returns the query registered under hash.
func (c RedisAPQCache) Get(ctx context.Context, hash string) (string, bool) {
	q, err := c.Client.Get(ctx, apqPrefix+hash).Result()
	return q, err == nil
}

// Add registers query under hash. A failure only costs the client one more round trip.
func (c RedisAPQCache) Add(ctx context.Context, hash, query string) {
	c.Client.Set(ctx, apqPrefix+hash, query, c.TTL)
}
