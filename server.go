// Command orgs serves the orgs GraphQL API: create and manage organizations.
//
//	orgs                      serve (default): migrate, then serve HTTP until SIGINT/SIGTERM
//	orgs migrate              apply the pending database migrations and exit
//	orgs apikey create ...    create an API key and print it alone on the last line of stdout
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on PPROF_ADDR
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"orgs/db"
	"orgs/domain"
	"orgs/graph"
	"orgs/mail"
	"orgs/playground"
)

// defaultGCPercent replaces Go's default of 100 unless GOGC is set: the server's live heap is small
// (tens of MiB), and collecting it less often spends less CPU per request (BENCHMARKS.md: 400 gave +57%
// nested list reads at 8 connections over 100, 1000 another 8 to 10%) for some tens of MiB more memory.
const defaultGCPercent = 1000

// maxDefaultMemoryLimit caps the soft memory limit set unless GOMEMLIMIT is: as the heap nears it, the
// collector runs as often as it must, whatever GOGC says.
const maxDefaultMemoryLimit = 1 << 30

// defaultMemoryLimit is 1 GiB, or three quarters of the memory of the process's cgroup (a container's
// limit, cgroup v2 or v1) when that is less, so that GOGC=1000 cannot grow the heap into the kernel's
// out-of-memory killer.
func defaultMemoryLimit(readFile func(string) ([]byte, error)) int64 {
	limit := int64(maxDefaultMemoryLimit)
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			limit = min(limit, n/4*3)
		}
		break // "max" (no limit) or a number: the first file found says it
	}
	return limit
}

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit(os.ReadFile))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "orgs:", err)
		os.Exit(1)
	}
}

// config is the server's configuration, read from the environment.
type config struct {
	DatabaseURL     string
	ListenAddr      string
	DomainSuffix    string
	DBMaxConns      int
	LogLevel        slog.Level
	LogFormat       string
	Introspection   bool
	ShutdownTimeout time.Duration
	Regions         []string
	SMTPURL         string
	EmailFrom       string
	ConfirmationTTL time.Duration
	RequestTimeout  time.Duration
	AuthCacheTTL    time.Duration
	PprofAddr       string
	RateLimit       int
	RedisURL        string
	CORSOrigins     []string
	DirectReads     bool // the direct path of organization lists (graph/direct.go)
}

// defaultDatabaseURL is used when DATABASE_URL is unset: the local PostgreSQL. `make run` and `make test`
// set DATABASE_URL themselves, starting a private cluster when no server answers here.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/orgs?sslmode=disable"

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		DatabaseURL:     getenv("DATABASE_URL"),
		DomainSuffix:    getenv("ORG_DOMAIN_SUFFIX"),
		LogFormat:       strings.ToLower(getenv("LOG_FORMAT")),
		Introspection:   true,
		DBMaxConns:      20,
		ShutdownTimeout: 20 * time.Second,
		SMTPURL:         getenv("SMTP_URL"),
		EmailFrom:       getenv("EMAIL_FROM"),
		ConfirmationTTL: 72 * time.Hour,
		Regions:         []string{"us", "eu"},
		RequestTimeout:  graph.DefaultHandlerOptions.RequestTimeout,
		RateLimit:       600,
		AuthCacheTTL:    5 * time.Second,
		PprofAddr:       getenv("PPROF_ADDR"),
		RedisURL:        getenv("REDIS_URL"),
		CORSOrigins:     splitList(getenv("CORS_ALLOWED_ORIGINS")),
		DirectReads:     true,
	}
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
		if c.AuthCacheTTL, err = time.ParseDuration(v); err != nil || c.AuthCacheTTL < 0 {
			return c, fmt.Errorf("AUTH_CACHE_TTL must be a duration such as 5s (0 turns the cache off), not %q", v)
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
	switch v := getenv("DIRECT_READS"); v {
	case "", "on":
	case "off":
		c.DirectReads = false
	default:
		return c, fmt.Errorf("DIRECT_READS must be on or off, not %q", v)
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

func newLogger(c config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(graph.ContextLogHandler{Handler: h})
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, logger)
	case "migrate":
		store, err := openStore(ctx, cfg, logger)
		if err != nil {
			return err
		}
		return store.Close()
	case "apikey":
		if len(args) == 0 || args[0] != "create" {
			return errors.New("usage: apikey create --name NAME [--tenant T] [--permission P ...] [--email E] [--user-name N]")
		}
		return createAPIKey(ctx, cfg, logger, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: orgs [serve | migrate | apikey create --name NAME [--tenant T] [--permission P ...]]")
		return nil
	default:
		return fmt.Errorf("unknown command %q (serve, migrate, apikey create)", cmd)
	}
}

// openStore connects to the database and applies the pending migrations.
func openStore(ctx context.Context, cfg config, logger *slog.Logger) (*db.Store, error) {
	store, err := db.Open(ctx, cfg.DatabaseURL, db.Options{MaxOpenConns: cfg.DBMaxConns, DomainSuffix: cfg.DomainSuffix,
		Regions: cfg.Regions, ConfirmationTTL: cfg.ConfirmationTTL, AuthCacheTTL: cfg.AuthCacheTTL})
	if err != nil {
		return nil, err
	}
	store.RequestTimeout = cfg.RequestTimeout
	n, err := store.Migrate(ctx)
	if err != nil {
		store.Close()
		return nil, err
	}
	logger.Info("database ready", "migrations_applied", n)
	return store, nil
}

func serve(ctx context.Context, cfg config, logger *slog.Logger) error {
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	sender, err := mail.NewSender(cfg.SMTPURL, logger)
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}

	// Background work stops when ctx does; serve waits for it before closing the store.
	var background sync.WaitGroup
	defer background.Wait()
	// Background work outlives the HTTP drain (emails queued by requests in flight still leave).
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	worker := &mail.Worker{Store: store, Sender: sender, Logger: logger, From: cfg.EmailFrom}
	store.EmailQueued = worker.Wake
	background.Go(func() {
		if err := worker.Run(bgCtx); err != nil {
			logger.Error("mail worker stopped", "error", err.Error())
		}
	})
	background.Go(func() { purgeIdempotencyKeys(bgCtx, store, logger) })
	if cfg.PprofAddr != "" {
		// Profiling on a separate listener (net/http/pprof registers on the default mux), for benchmarks
		// and diagnosis; never expose it publicly.
		pprofSrv := &http.Server{Addr: cfg.PprofAddr, Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		background.Go(func() {
			if err := pprofSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("pprof listener", "error", err.Error())
			}
		})
		background.Go(func() { <-bgCtx.Done(); pprofSrv.Close() })
		logger.Info("profiling", "addr", cfg.PprofAddr)
	}

	var rdb *redis.Client
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb = redis.NewClient(opt)
		defer rdb.Close()
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("connect to Redis: %w", err)
		}
	}
	h, err := newHandler(store, logger, cfg, rdb, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("serving", "addr", ln.Addr().String(), "playground", "http://"+displayAddr(ln.Addr())+"/")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// purgeIdempotencyKeys deletes expired idempotency keys every hour.
func purgeIdempotencyKeys(ctx context.Context, store *db.Store, logger *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := store.PurgeIdempotencyKeys(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("purge idempotency keys", "error", err.Error())
		} else if n > 0 {
			logger.Info("purged idempotency keys", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil || host == "::" || host == "0.0.0.0" || host == "" {
		return "localhost:" + port
	}
	return net.JoinHostPort(host, port)
}

// newHandler routes the server's paths: the playground at /, the API at /query, the probes and the
// metrics. rdb, when not nil, shares rate limits and persisted queries between replicas.
func newHandler(store *db.Store, logger *slog.Logger, cfg config, rdb *redis.Client, reg *prometheus.Registry) (http.Handler, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(store.DB().DB, "orgs"))
	metrics := graph.NewMetrics(reg)
	opt := graph.DefaultHandlerOptions
	opt.Introspection, opt.GqlgenOnly = cfg.Introspection, !cfg.DirectReads
	opt.RequestTimeout, opt.CORSOrigins, opt.Metrics = cfg.RequestTimeout, cfg.CORSOrigins, metrics
	if rdb != nil {
		opt.APQCache = graph.RedisAPQCache{Client: rdb, TTL: 24 * time.Hour}
	}
	if cfg.RateLimit > 0 {
		rl, err := graph.NewRateLimiter(cfg.RateLimit, rdb, logger)
		if err != nil {
			return nil, fmt.Errorf("rate limiter: %w", err)
		}
		rl.Rejected = metrics.RateLimited.Inc
		opt.RateLimiter = rl
	}

	mux := http.NewServeMux()
	mux.Handle("/", playground.Handler("orgs", "/query"))
	mux.Handle("/query", graph.NewHandler(&graph.Resolver{Store: store, Logger: logger}, opt))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok", "")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ready(ctx); err != nil {
			logger.WarnContext(ctx, "not ready", "error", err.Error())
			writeStatus(w, http.StatusServiceUnavailable, "unavailable", "database unreachable or not migrated")
			return
		}
		writeStatus(w, http.StatusOK, "ok", "")
	})
	return graph.WithRequests(logger, mux), nil
}

func writeStatus(w http.ResponseWriter, code int, status, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if reason == "" {
		fmt.Fprintf(w, `{"status":%q}`+"\n", status)
		return
	}
	fmt.Fprintf(w, `{"status":%q,"reason":%q}`+"\n", status, reason)
}

// createAPIKey is `apikey create`: it creates a key with its tenant and principal as needed and prints
// the key alone on the last line of stdout (it cannot be shown again).
func createAPIKey(ctx context.Context, cfg config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "name of the key (required)")
	tenant := fs.String("tenant", "default", "tenant id or name; a new name creates the tenant")
	email := fs.String("email", "", "email of the key's principal, who becomes the first owner of what it creates (default <name>@localhost)")
	userName := fs.String("user-name", "", "display name of the key's principal (default: the key's name)")
	var perms []domain.Permission
	fs.Func("permission", "a permission to grant; repeat for several (default: all of them)", func(s string) error {
		p, ok := domain.ParsePermission(s)
		if !ok {
			return fmt.Errorf("unknown permission %q (one of %v)", s, domain.AllPermissions)
		}
		perms = append(perms, p)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return errors.New("apikey create: --name is required")
	}
	if len(perms) == 0 {
		perms = domain.AllPermissions
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	key, actor, err := store.CreateAPIKey(ctx, db.NewAPIKey{Name: *name, Tenant: *tenant, Email: *email, UserName: *userName, Permissions: perms})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "API key %q for tenant %q (%s), acting as %s, with %v.\n", actor.KeyName, actor.TenantName, actor.TenantID, actor.Email, perms)
	fmt.Fprintln(stdout, "Store it now: it is not kept and cannot be shown again.")
	fmt.Fprintln(stdout, key)
	return nil
}
