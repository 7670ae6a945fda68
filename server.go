// Command orgs serves the orgs GraphQL API: create and manage organizations.
//
//	orgs                      serve (default): migrate, then serve HTTP until SIGINT/SIGTERM
//	orgs migrate              apply the pending database migrations and exit
//	orgs apikey create ...    create an API key and print it alone on the last line of stdout
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on PPROF_ADDR
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"orgs/db"
	"orgs/httpapi"
	"orgs/mail"
	"orgs/outbound"
	"orgs/realtime"
	"orgs/service"
	"orgs/webhook"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "orgs:", err)
		os.Exit(1)
	}
}

func newLogger(c config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(httpapi.ContextLogHandler{Handler: h})
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	if stderr == os.Stderr {
		// The process's logger, also for what libraries write through the standard log package (gqlgen's
		// WebSocket transport on a refused handshake, coder/websocket): one format in the logs, not two.
		// Not for a run whose logs go elsewhere (tests), which would take every run's library lines.
		slog.SetDefault(logger)
	}
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

// lastUsedFlushInterval is how often a replica writes its API keys' lastUsedAt (and when it stops).
const lastUsedFlushInterval = 5 * time.Second

// openStore connects to the database and applies the pending migrations.
func openStore(ctx context.Context, cfg config, logger *slog.Logger) (*db.Store, error) {
	store, err := db.Open(ctx, cfg.DatabaseURL, db.Options{MaxOpenConns: cfg.DBMaxConns, MaxCreates: cfg.DBMaxCreates, MaxReads: cfg.DBMaxReads, AuthCacheTTL: cfg.AuthCacheTTL,
		LastUsedFlushInterval: lastUsedFlushInterval, Logger: logger})
	if err != nil {
		return nil, err
	}
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
	if err := openReadReplica(ctx, store, cfg, logger); err != nil {
		return err
	}
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
	svc := service.New(store, service.Config{Regions: cfg.Regions, DomainSuffix: cfg.DomainSuffix,
		ConfirmationTTL: cfg.ConfirmationTTL, RequestTimeout: cfg.RequestTimeout, OrgRetention: cfg.OrgRetention,
		EmailQueued: worker.Wake, DomainVerificationTTL: cfg.DomainVerificationTTL,
		Outbound: outbound.Options{Resolver: cfg.DNSResolver, AllowPrivate: cfg.OutboundAllowPrivate}})
	background.Go(func() {
		if err := worker.Run(bgCtx); err != nil {
			logger.Error("mail worker stopped", "error", err.Error())
		}
	})
	reg := prometheus.NewRegistry()
	startWebhooks(bgCtx, &background, store, cfg, logger, reg)
	background.Go(func() { purgeIdempotencyKeys(bgCtx, svc, logger) })
	background.Go(func() { purgeRemovedOrganizations(bgCtx, svc, logger, organizationPurgeInterval) })
	if on, err := store.AutovacuumOn(ctx); err != nil {
		return err
	} else if !on {
		logger.Warn("autovacuum is off: the server analyzes its tables itself as they change", "every", analyzeInterval.String())
		background.Go(func() { analyzeChanged(bgCtx, store, logger) })
	}
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
	// Subscriptions: this replica's listener of the events committed on any replica.
	events := realtime.New(store, realtime.Options{MaxPerKey: cfg.SubscriptionsPerKey, Logger: logger, Registerer: reg})
	if err := events.Start(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	defer events.Close()
	h, err := newHandler(store, svc, logger, cfg, rdb, reg, events)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           httpapi.CloseWhenDraining(h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Requests outlive the signal, but can tell that the server is leaving (httpapi.Draining).
		BaseContext: func(net.Listener) context.Context {
			return httpapi.WithDraining(context.WithoutCancel(ctx), ctx.Done())
		},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Shutdown does not close hijacked connections: the sockets of subscriptions are closed with 1001.
	srv.RegisterOnShutdown(events.Shutdown)
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
	// Drained restart: /readyz answers 503 from now on (the base context says the server is leaving),
	// while the listener still serves for SHUTDOWN_DELAY, long enough for load balancers to see it and
	// send elsewhere; connections are closed after each answer (httpapi.CloseWhenDraining). Then the
	// requests in flight finish (SHUTDOWN_TIMEOUT), and the deferred calls stop the background work and
	// close the store.
	logger.Info("draining", "delay", cfg.ShutdownDelay.String(), "timeout", cfg.ShutdownTimeout.String())
	delay := time.NewTimer(cfg.ShutdownDelay)
	defer delay.Stop()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-delay.C:
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

// webhookTimeout bounds one webhook request: connection, headers and the little of the answer read.
const webhookTimeout = 10 * time.Second

// startWebhooks runs the webhook worker until ctx ends, woken by the announcements of committed events
// of every replica (and polling meanwhile).
func startWebhooks(ctx context.Context, background *sync.WaitGroup, store *db.Store, cfg config, logger *slog.Logger, reg prometheus.Registerer) {
	w := &webhook.Worker{Store: store, Logger: logger, Metrics: webhook.NewMetrics(reg),
		Client: outbound.NewHTTPClient(outbound.Options{Resolver: cfg.DNSResolver, AllowPrivate: cfg.OutboundAllowPrivate,
			Timeout: webhookTimeout})}
	stopListening := db.ListenForWebhookDeliveries(cfg.DatabaseURL, logger, w.Wake)
	background.Go(func() {
		defer stopListening()
		if err := w.Run(ctx); err != nil {
			logger.Error("webhook worker stopped", "error", err.Error())
		}
	})
}

// purgeIdempotencyKeys deletes expired idempotency keys every hour.
func purgeIdempotencyKeys(ctx context.Context, svc *service.Service, logger *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := svc.PurgeIdempotencyKeys(ctx); err != nil && ctx.Err() == nil {
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

// organizationPurgeInterval is how often the deleted organizations past their retention are purged.
const organizationPurgeInterval = 5 * time.Minute

// purgeRemovedOrganizations purges the organizations deleted longer than ORG_RETENTION ago, at start and
// then every interval, until ctx ends. Every replica runs it: they share the work (see
// db.PurgeRemovedOrganizations).
func purgeRemovedOrganizations(ctx context.Context, svc *service.Service, logger *slog.Logger, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := svc.PurgeRemovedOrganizations(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("purge removed organizations", "error", err.Error(), "organizations", n.Organizations)
		} else if n.Organizations > 0 {
			logger.Info("purged removed organizations", "organizations", n.Organizations, "projects", n.Projects,
				"memberships", n.Memberships, "domains", n.Domains, "attributes", n.Attributes,
				"confirmations", n.Confirmations, "idempotency_keys", n.IdempotencyKeys)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// analyzeInterval is how often analyzeChanged looks for changed tables. Short, because the plans a
// connection makes before the first statistics last as long as the connection (db.AnalyzeChanged).
const analyzeInterval = time.Second

// analyzeChanged analyzes the tables that changed enough and empties the GIN indexes' pending lists,
// every analyzeInterval until ctx ends: what autovacuum would do, for a database where it is off. The
// lists are emptied every interval rather than once a minute as autovacuum would, so that no create
// meets a full list and empties it while its caller waits (db.CleanPendingLists).
func analyzeChanged(ctx context.Context, store *db.Store, logger *slog.Logger) {
	tick := time.NewTicker(analyzeInterval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tables, err := store.AnalyzeChanged(ctx)
		pages, cerr := store.CleanPendingLists(ctx)
		err = errors.Join(err, cerr)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			logger.Warn("analyze changed tables", "error", err.Error())
		case len(tables) > 0 || pages > 0:
			logger.Debug("analyzed", "tables", tables, "pending pages cleaned", pages)
		}
		failing = err != nil
	}
}

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil || host == "::" || host == "0.0.0.0" || host == "" {
		return "localhost:" + port
	}
	return net.JoinHostPort(host, port)
}
