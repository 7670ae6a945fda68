package main

import (
	"fmt"
	"log/slog"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"orgs/db"
	"orgs/httpapi"
	"orgs/realtime"
)

// config is the server's configuration, read from the environment.
type config struct {
	DatabaseURL     string
	ReadDatabaseURL string        // a streaming replica that lists read from (db/replica.go); "" for none
	ReadMaxLag      time.Duration // the most it may lag behind DATABASE_URL for lists to read from it
	ListenAddr      string
	DomainSuffix    string
	DBMaxConns      int
	DBMaxCreates    int
	DBMaxReads      int
	LogLevel        slog.Level
	LogFormat       string
	Introspection   bool
	ShutdownTimeout time.Duration
	ShutdownDelay   time.Duration // how long a leaving server keeps serving with /readyz at 503
	Regions         []string
	SMTPURL         string
	EmailFrom       string
	ConfirmationTTL time.Duration
	OrgRetention    time.Duration // how long a deleted organization can be restored before it is purged
	RequestTimeout  time.Duration
	AuthCacheTTL    time.Duration
	PprofAddr       string
	RateLimit       int
	RedisURL        string
	CORSOrigins     []string
	DirectReads     bool // the direct path of organization lists (graph/direct.go)
	// Domain verification: how long a token works, the DNS server lookups go to ("" for the system's),
	// and whether its HTTP challenge may reach loopback and private addresses.
	DomainVerificationTTL time.Duration
	DNSResolver           string
	OutboundAllowPrivate  bool
	// SubscriptionsPerKey caps the subscriptions an API key has open at once on one replica.
	SubscriptionsPerKey int
}

// defaultDatabaseURL is used when DATABASE_URL is unset: the local PostgreSQL. `make run` and `make test`
// set DATABASE_URL themselves, starting a private cluster when no server answers here.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/orgs?sslmode=disable"

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		DatabaseURL:     getenv("DATABASE_URL"),
		ReadDatabaseURL: getenv("READ_DATABASE_URL"),
		ReadMaxLag:      db.DefaultReadMaxLag,
		DomainSuffix:    getenv("ORG_DOMAIN_SUFFIX"),
		LogFormat:       strings.ToLower(getenv("LOG_FORMAT")),
		Introspection:   true,
		DBMaxConns:      20,
		DBMaxCreates:    8,
		DBMaxReads:      8,
		ShutdownTimeout: 20 * time.Second,
		ShutdownDelay:   5 * time.Second,
		SMTPURL:         getenv("SMTP_URL"),
		EmailFrom:       getenv("EMAIL_FROM"),
		ConfirmationTTL: 72 * time.Hour,
		OrgRetention:    720 * time.Hour,
		Regions:         []string{"us", "eu"},
		RequestTimeout:  httpapi.DefaultOptions.RequestTimeout,
		RateLimit:       600,
		AuthCacheTTL:    500 * time.Millisecond,
		PprofAddr:       getenv("PPROF_ADDR"),
		RedisURL:        getenv("REDIS_URL"),
		CORSOrigins:     splitList(getenv("CORS_ALLOWED_ORIGINS")),
		DirectReads:     true,
	}
	c.SubscriptionsPerKey = realtime.DefaultMaxPerKey
	c.DomainVerificationTTL, c.DNSResolver = 72*time.Hour, strings.TrimSpace(getenv("DNS_RESOLVER"))
	if c.DatabaseURL == "" {
		c.DatabaseURL = defaultDatabaseURL
	}
	if c.DomainSuffix == "" {
		c.DomainSuffix = "orgs.localhost"
	}
	if c.EmailFrom == "" {
		c.EmailFrom = "orgs <no-reply@" + c.DomainSuffix + ">"
	}
	if v := getenv("REGIONS"); v != "" {
		if c.Regions = splitList(v); len(c.Regions) == 0 {
			return c, fmt.Errorf("REGIONS must name at least one region")
		}
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("LOG_FORMAT must be json or text, not %q", c.LogFormat)
	}
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	c.ListenAddr = getenv("LISTEN_ADDR")
	if c.ListenAddr == "" {
		c.ListenAddr = ":" + port
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("LOG_LEVEL: %w", err)
		}
	}
	var err error
	if v := getenv("DB_MAX_CONNS"); v != "" {
		if c.DBMaxConns, err = strconv.Atoi(v); err != nil || c.DBMaxConns < 1 {
			return c, fmt.Errorf("DB_MAX_CONNS must be a positive integer, not %q", v)
		}
	}
	if v := getenv("DB_MAX_CREATES"); v != "" {
		if c.DBMaxCreates, err = strconv.Atoi(v); err != nil || c.DBMaxCreates < 0 {
			return c, fmt.Errorf("DB_MAX_CREATES must be a whole number (0: no bound), not %q", v)
		}
	}
	if v := getenv("DB_MAX_READS"); v != "" {
		if c.DBMaxReads, err = strconv.Atoi(v); err != nil || c.DBMaxReads < 0 {
			return c, fmt.Errorf("DB_MAX_READS must be a whole number (0: no bound), not %q", v)
		}
	}
	for _, o := range c.CORSOrigins {
		// The WebSocket transport matches origins as path.Match patterns (coder/websocket): a malformed
		// one would refuse every socket from another origin, with nothing said at startup.
		if _, err := path.Match(strings.ToLower(o), ""); err != nil {
			return c, fmt.Errorf("CORS_ALLOWED_ORIGINS: %q is not a valid origin or pattern (%v)", o, err)
		}
	}
	if v := getenv("INTROSPECTION"); v != "" {
		if c.Introspection, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("INTROSPECTION must be true or false, not %q", v)
		}
	}
	if v := getenv("RATE_LIMIT_PER_MINUTE"); v != "" {
		if c.RateLimit, err = strconv.Atoi(v); err != nil || c.RateLimit < 0 {
			return c, fmt.Errorf("RATE_LIMIT_PER_MINUTE must be a whole number (0 turns the limit off), not %q", v)
		}
	}
	if v := getenv("AUTH_CACHE_TTL"); v != "" {
		// A key revoked or expired must be refused within a second, whatever a replica remembers.
		if c.AuthCacheTTL, err = time.ParseDuration(v); err != nil || c.AuthCacheTTL < 0 || c.AuthCacheTTL > time.Second {
			return c, fmt.Errorf("AUTH_CACHE_TTL must be a duration of at most 1s such as 500ms (0 turns the cache off), not %q", v)
		}
	}
	if v := getenv("REQUEST_TIMEOUT"); v != "" {
		if c.RequestTimeout, err = time.ParseDuration(v); err != nil || c.RequestTimeout <= 0 {
			return c, fmt.Errorf("REQUEST_TIMEOUT must be a positive duration such as 30s, not %q", v)
		}
	}
	if v := getenv("CONFIRMATION_TTL"); v != "" {
		if c.ConfirmationTTL, err = time.ParseDuration(v); err != nil || c.ConfirmationTTL <= 0 {
			return c, fmt.Errorf("CONFIRMATION_TTL must be a positive duration such as 72h, not %q", v)
		}
	}
	if v := getenv("ORG_RETENTION"); v != "" {
		if c.OrgRetention, err = time.ParseDuration(v); err != nil || c.OrgRetention <= 0 {
			return c, fmt.Errorf("ORG_RETENTION must be a positive duration such as 720h, not %q", v)
		}
	}
	if v := getenv("DOMAIN_VERIFICATION_TTL"); v != "" {
		if c.DomainVerificationTTL, err = time.ParseDuration(v); err != nil || c.DomainVerificationTTL <= 0 {
			return c, fmt.Errorf("DOMAIN_VERIFICATION_TTL must be a positive duration such as 72h, not %q", v)
		}
	}
	if c.DNSResolver != "" {
		if _, _, err := net.SplitHostPort(c.DNSResolver); err != nil {
			return c, fmt.Errorf("DNS_RESOLVER must be host:port, such as 127.0.0.1:53, not %q", c.DNSResolver)
		}
	}
	if v := getenv("OUTBOUND_ALLOW_PRIVATE"); v != "" {
		if c.OutboundAllowPrivate, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("OUTBOUND_ALLOW_PRIVATE must be true or false, not %q", v)
		}
	}
	if v := getenv("SUBSCRIPTIONS_PER_KEY"); v != "" {
		if c.SubscriptionsPerKey, err = strconv.Atoi(v); err != nil || c.SubscriptionsPerKey < 1 {
			return c, fmt.Errorf("SUBSCRIPTIONS_PER_KEY must be a positive integer, not %q", v)
		}
	}
	switch v := getenv("DIRECT_READS"); v {
	case "", "on":
	case "off":
		c.DirectReads = false
	default:
		return c, fmt.Errorf("DIRECT_READS must be on or off, not %q", v)
	}
	if v := getenv("READ_MAX_LAG"); v != "" {
		if c.ReadMaxLag, err = time.ParseDuration(v); err != nil || c.ReadMaxLag <= 0 {
			return c, fmt.Errorf("READ_MAX_LAG must be a positive duration such as 5s, not %q", v)
		}
	}
	if v := getenv("SHUTDOWN_DELAY"); v != "" {
		if c.ShutdownDelay, err = time.ParseDuration(v); err != nil || c.ShutdownDelay < 0 {
			return c, fmt.Errorf("SHUTDOWN_DELAY must be a duration such as 5s (0 for none), not %q", v)
		}
	}
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		if c.ShutdownTimeout, err = time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("SHUTDOWN_TIMEOUT: %w", err)
		}
	}
	return c, nil
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
