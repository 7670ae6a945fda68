package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"orgs/domain"
)

// Authentication is on the path of every request. A store remembers the keys it authenticated for at
// most Options.AuthCacheTTL, and forgets a key as soon as it is revoked on any replica: RevokeAPIKey
// notifies apiKeysChannel in its transaction, every store LISTENs to it (one connection each), and a
// store whose listener is not connected uses no cache at all, since it could miss a revocation. The TTL
// (at most a second in the server) bounds what no notification announces: a key revoked or changed by
// hand in SQL, or a notification lost with a connection that died silently. A key's expiry is checked
// on every request, cached or not.

// apiKeysChannel is the PostgreSQL notification channel of revoked keys; the payload is the key's id.
const apiKeysChannel = "orgs_api_keys_revoked"

// authCache remembers authenticated keys by the hash of their secret.
type authCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]authEntry
	// byID finds a key's hash from the id a notification carries.
	byID map[string]string
	// listening is true while revocations are sure to be heard; the cache is used only then.
	listening bool
}

type authEntry struct {
	actor domain.Actor
	// keyExpires is the key's own expiry, if any.
	keyExpires *time.Time
	// used is where the key's latest use is recorded (lastused.go).
	used *atomic.Int64
	// expires is when the entry must be looked up again.
	expires time.Time
}

// authCacheMax bounds the cache; when full it starts afresh.
const authCacheMax = 10000

func (c *authCache) get(hash string, now time.Time) (authEntry, bool) {
	if c == nil || c.ttl <= 0 {
		return authEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !c.listening || now.After(e.expires) {
		return authEntry{}, false
	}
	return e, true
}

func (c *authCache) put(hash string, e authEntry, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening {
		return
	}
	if c.m == nil || len(c.m) >= authCacheMax {
		c.m = make(map[string]authEntry)
		c.byID = make(map[string]string)
	}
	e.expires = now.Add(c.ttl)
	c.m[hash] = e
	c.byID[e.actor.KeyID] = hash
}

// forget drops the key of id.
func (c *authCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hash, ok := c.byID[id]; ok {
		delete(c.m, hash)
		delete(c.byID, id)
	}
}

// setListening turns the cache on or off; either way it starts empty, since revocations may have been
// missed while it was off.
func (c *authCache) setListening(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listening = on
	c.m, c.byID = nil, nil
}

// revocationListener listens to apiKeysChannel for a store's cache.
type revocationListener struct {
	l    *pq.Listener
	done chan struct{}
}

// listenForRevocations starts the listener of c on dsn, waiting up to wait for it to listen: the cache
// works from then on (it stays off until the listener is up).
func listenForRevocations(dsn string, c *authCache, logger *slog.Logger, wait time.Duration) *revocationListener {
	l := pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			c.setListening(false)
			logger.Warn("API key revocations: listener disconnected; keys are looked up on every request until it is back", "error", fmt.Sprint(err))
		case pq.ListenerEventReconnected:
			c.setListening(true) // pq listens again before it reports the reconnection
			logger.Info("API key revocations: listener reconnected")
		}
	})
	r := &revocationListener{l: l, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for n := range l.Notify {
			if n != nil {
				c.forget(n.Extra)
			}
		}
	}()
	listening := make(chan error, 1)
	go func() { listening <- l.Listen(apiKeysChannel) }()
	started := func(err error) {
		if errors.Is(err, net.ErrClosed) {
			return // the store closed first
		}
		if err != nil {
			logger.Warn("API key revocations: cannot listen; keys are looked up on every request", "error", err.Error())
			return
		}
		c.setListening(true)
	}
	select {
	case err := <-listening:
		started(err)
	case <-time.After(wait):
		go func() { started(<-listening) }()
	}
	return r
}

func (r *revocationListener) close() {
	if r == nil {
		return
	}
	r.l.Close()
	<-r.done
}

// Authenticate returns the actor of an API key, or an EUNAUTHENTICATED error for an unknown, revoked
// or expired key. With Options.AuthCacheTTL a key is looked up again at most that often, and at once
// after RevokeAPIKey on any replica. Each use is recorded for the key's lastUsedAt, in memory until the
// next flush (FlushLastUsed).
func (s *Store) Authenticate(ctx context.Context, key string) (*domain.Actor, error) {
	hash := domain.HashAPIKey(key)
	now := s.now()
	e, ok := s.auth.get(string(hash), now)
	if !ok {
		a, keyExpires, err := s.authenticate(ctx, hash)
		if err != nil {
			return nil, err
		}
		e = authEntry{actor: *a, keyExpires: keyExpires, used: s.lastUsed.slot(a.TenantID, a.KeyID)}
		s.auth.put(string(hash), e, now)
	}
	if e.keyExpires != nil && !now.Before(*e.keyExpires) {
		return nil, domain.Errorf(domain.EUNAUTHENTICATED, "expired API key")
	}
	markUsed(e.used, now)
	a := e.actor
	return &a, nil
}
