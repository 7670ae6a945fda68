package main

import (
	"fmt"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(nil))
	if err != nil || cfg.ListenAddr != ":8080" || cfg.DomainSuffix != "orgs.localhost" || !cfg.Introspection || cfg.DatabaseURL != defaultDatabaseURL {
		t.Errorf("defaults = %+v, %v", cfg, err)
	}
	if cfg.DBMaxConns != 20 || cfg.DBMaxCreates != 8 || cfg.DBMaxReads != 8 {
		t.Errorf("pool defaults: DB_MAX_CONNS %d, DB_MAX_CREATES %d, DB_MAX_READS %d; want 20, 8 and 8", cfg.DBMaxConns, cfg.DBMaxCreates, cfg.DBMaxReads)
	}
	for v, want := range map[string]int{"0": 0, "3": 3} {
		if cfg, err := loadConfig(env(map[string]string{"DB_MAX_CREATES": v})); err != nil || cfg.DBMaxCreates != want {
			t.Errorf("DB_MAX_CREATES=%s: %d, %v; want %d", v, cfg.DBMaxCreates, err, want)
		}
		if cfg, err := loadConfig(env(map[string]string{"DB_MAX_READS": v})); err != nil || cfg.DBMaxReads != want {
			t.Errorf("DB_MAX_READS=%s: %d, %v; want %d", v, cfg.DBMaxReads, err, want)
		}
	}
	cfg, _ = loadConfig(env(map[string]string{"PORT": "9000", "REGIONS": " us, eu ,apac,", "CORS_ALLOWED_ORIGINS": "https://a.example,https://b.example"}))
	if cfg.ListenAddr != ":9000" || fmt.Sprint(cfg.Regions) != "[us eu apac]" || len(cfg.CORSOrigins) != 2 {
		t.Errorf("PORT, REGIONS, CORS_ALLOWED_ORIGINS: %+v", cfg)
	}
	if cfg.DomainVerificationTTL != 72*time.Hour || cfg.DNSResolver != "" || cfg.OutboundAllowPrivate {
		t.Errorf("domain verification defaults: %+v", cfg)
	}
	cfg, _ = loadConfig(env(map[string]string{"DOMAIN_VERIFICATION_TTL": "1h", "DNS_RESOLVER": "127.0.0.1:5353", "OUTBOUND_ALLOW_PRIVATE": "true"}))
	if cfg.DomainVerificationTTL != time.Hour || cfg.DNSResolver != "127.0.0.1:5353" || !cfg.OutboundAllowPrivate {
		t.Errorf("DOMAIN_VERIFICATION_TTL, DNS_RESOLVER, OUTBOUND_ALLOW_PRIVATE: %+v", cfg)
	}
	for k, v := range map[string]string{"DOMAIN_VERIFICATION_TTL": "0s", "DNS_RESOLVER": "127.0.0.1", "OUTBOUND_ALLOW_PRIVATE": "yes please", "REGIONS": " , ", "RATE_LIMIT_PER_MINUTE": "-1", "REQUEST_TIMEOUT": "0s", "DB_MAX_CONNS": "0", "DB_MAX_CREATES": "-1", "DB_MAX_READS": "x", "CORS_ALLOWED_ORIGINS": "https://app.example.com,https://[app.example.com", "LOG_LEVEL": "loud", "INTROSPECTION": "maybe", "LOG_FORMAT": "xml", "SHUTDOWN_TIMEOUT": "soon", "ORG_RETENTION": "0s"} {
		if _, err := loadConfig(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}

func TestConfigOrgRetention(t *testing.T) {
	t.Parallel()
	if cfg, err := loadConfig(env(nil)); err != nil || cfg.OrgRetention != 720*time.Hour {
		t.Errorf("ORG_RETENTION default = %v, %v; want 720h", cfg.OrgRetention, err)
	}
	if cfg, err := loadConfig(env(map[string]string{"ORG_RETENTION": "48h"})); err != nil || cfg.OrgRetention != 48*time.Hour {
		t.Errorf("ORG_RETENTION=48h: %v, %v", cfg.OrgRetention, err)
	}
	for _, v := range []string{"-1h", "a month"} {
		if _, err := loadConfig(env(map[string]string{"ORG_RETENTION": v})); err == nil {
			t.Errorf("ORG_RETENTION=%s accepted", v)
		}
	}
}
