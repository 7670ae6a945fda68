package main

import (
	"testing"
	"time"
)

// TestAuthCacheTTLBound: a revoked or expired key must be refused within a second, so the
// authentication cache may remember a key for at most that long.
func TestAuthCacheTTLBound(t *testing.T) {
	t.Parallel()
	if cfg, err := loadConfig(env(nil)); err != nil || cfg.AuthCacheTTL != 500*time.Millisecond {
		t.Errorf("default AUTH_CACHE_TTL = %v, %v", cfg.AuthCacheTTL, err)
	}
	for v, want := range map[string]time.Duration{"0": 0, "250ms": 250 * time.Millisecond, "1s": time.Second} {
		if cfg, err := loadConfig(env(map[string]string{"AUTH_CACHE_TTL": v})); err != nil || cfg.AuthCacheTTL != want {
			t.Errorf("AUTH_CACHE_TTL=%s: %v, %v", v, cfg.AuthCacheTTL, err)
		}
	}
	for _, v := range []string{"1001ms", "5s", "-1s", "soon"} {
		if _, err := loadConfig(env(map[string]string{"AUTH_CACHE_TTL": v})); err == nil {
			t.Errorf("AUTH_CACHE_TTL=%s accepted", v)
		}
	}
}
