package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/outbound"
	"orgs/outbox"
)

// DefaultSchedule is the wait before each retry: after the first failed attempt 5 seconds, after the
// second 5 minutes, and so on; a delivery whose last retry fails is given up (FAILED). Eight attempts
// over about 28 hours.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// DefaultDisableAfter is how long an endpoint may fail, without a single success, before it is disabled.
const DefaultDisableAfter = 72 * time.Hour

// maxResponseRead is how much of an answer is read (then the connection is closed).
const maxResponseRead = 4 << 10

// Backoff returns the wait before the next attempt after attempt number attempt (1 for the first) of a
// delivery failed, following schedule with up to ±20% of random jitter (so that deliveries that failed
// together are not retried together); ok is false when the schedule is over: the delivery is given up.
func Backoff(schedule []time.Duration, attempt int) (wait time.Duration, ok bool) {
	if attempt < 1 || attempt > len(schedule) {
		return 0, false
	}
	d := schedule[attempt-1]
	jitter := time.Duration(rand.Int64N(int64(d)*2/5+1)) - d/5
	return d + jitter, true
}

// Worker makes and sends the webhook deliveries of every tenant. Before each claim it relays the events
// committed since the last relay into deliveries (db.Store.RelayWebhookEvents; one worker of all the
// replicas relays at a time).
//
// Delivery is at least once. The worker only sends deliveries it has claimed, a claim never returns a
// delivery already settled, and the worker records an attempt's outcome right after it, so a delivery
// is not sent again once it succeeded. What remains is the window between the receiver's answer and
// the record: if the process dies, or the database cannot be reached, in between, the delivery is
// claimed again when its lease ends and sent a second time, with the same webhook-id, which receivers
// use to drop duplicates.
//
// Leases keep concurrent workers (several in one process or one per replica) apart: a claimed delivery
// is not due again before its lease ends, and the worker cuts every attempt off at three quarters of
// the lease.
//
// The zero values of the tuning fields select their defaults. Set the fields before Run; one Run per
// Worker.
type Worker struct {
	Store *db.Store
	// Client sends the requests: outbound.NewHTTPClient's (no redirects, no private addresses unless
	// allowed, timeouts).
	Client *http.Client
	Logger *slog.Logger
	// Metrics, when set, counts deliveries by outcome and the endpoints disabled.
	Metrics *Metrics
	// PollInterval is how often due deliveries are looked for when nothing wakes the worker (default 1s).
	PollInterval time.Duration
	// Batch is how many deliveries one claim takes, and so how many are sent in parallel (default 10).
	Batch int
	// Lease is how long a claim keeps a delivery from other workers (default 1m).
	Lease time.Duration
	// Schedule is the wait before each retry (default DefaultSchedule); Backoff adds the jitter.
	Schedule []time.Duration
	// DisableAfter is how long an endpoint may fail without a success before it is disabled (default
	// DefaultDisableAfter).
	DisableAfter time.Duration
	// Now is the clock of claims, retries and signatures (default time.Now); tests move it.
	Now func() time.Time

	loop outbox.Loop
	// idleUntil is set while no endpoint is enabled: until then, wakes neither relay nor claim.
	idleUntil time.Time
}

// Metrics are the Prometheus metrics of webhook deliveries.
type Metrics struct {
	attempts *prometheus.CounterVec
	disabled prometheus.Counter
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgs_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: succeeded, retry (failed, to be retried) or failed (given up).",
		}, []string{"outcome"}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orgs_webhook_endpoints_disabled_total",
			Help: "Webhook endpoints disabled because they failed for too long.",
		}),
	}
	reg.MustRegister(m.attempts, m.disabled)
	for _, outcome := range outcomes {
		m.attempts.WithLabelValues(outcome) // listed at 0 from the start, so that rates see the first one
	}
	return m
}

// The outcomes of a delivery attempt, the label of orgs_webhook_deliveries_total.
const (
	outcomeSucceeded = "succeeded"
	outcomeRetry     = "retry"
	outcomeFailed    = "failed"
)

var outcomes = []string{outcomeSucceeded, outcomeRetry, outcomeFailed}

func (m *Metrics) count(outcome string) {
	if m != nil {
		m.attempts.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) endpointDisabled() {
	if m != nil {
		m.disabled.Inc()
	}
}

// Wake makes the worker look for new events and due deliveries now rather than at its next poll (e.g.
// when a replica announced committed events: db.ListenForWebhookDeliveries). It never blocks; wakes that
// come while the worker is busy fold into one more look.
func (w *Worker) Wake() { w.loop.Wake() }

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) pollInterval() time.Duration { return outbox.Or(w.PollInterval, time.Second) }

func (w *Worker) batch() int { return outbox.Or(w.Batch, 10) }

func (w *Worker) lease() time.Duration { return outbox.Or(w.Lease, time.Minute) }

func (w *Worker) schedule() []time.Duration {
	if w.Schedule != nil {
		return w.Schedule
	}
	return DefaultSchedule
}

func (w *Worker) disableAfter() time.Duration { return outbox.Or(w.DisableAfter, DefaultDisableAfter) }

// Run sends deliveries until ctx is done, then returns nil; it returns an error at once only when the
// Worker is misconfigured. Attempts in progress when ctx is done are cut off and their deliveries made
// due again at once, for the next worker.
func (w *Worker) Run(ctx context.Context) error {
	if w.Store == nil || w.Client == nil {
		return errors.New("webhook worker: Store and Client are required")
	}
	w.loop.Run(ctx, w.pollInterval(), w.now, w.deliverBatch, nil)
	return nil
}

// deliverBatch claims a batch and sends it in parallel. It returns when the soonest retry it scheduled
// is due (zero if none) and whether the batch was full.
//
// While no endpoint of any tenant is enabled, there is nothing to deliver and the relay only keeps its
// position near the log's end: the worker then relays (and claims) once a poll interval, not at every
// wake, which under load comes with every commit. An endpoint enabled meanwhile loses nothing (the
// relay gives it every event committed after it) and waits at most a poll interval for its first
// deliveries.
func (w *Worker) deliverBatch(ctx context.Context) (next time.Time, full bool) {
	if !w.idleUntil.IsZero() && time.Now().Before(w.idleUntil) {
		// The loop waits on the worker's clock (w.now, which tests move); the idle window is real time.
		return w.now().Add(time.Until(w.idleUntil)), false
	}
	if w.relay(ctx) {
		w.idleUntil = time.Time{}
	} else {
		w.idleUntil = time.Now().Add(w.pollInterval())
	}
	start := time.Now() // the leases end no sooner than start + lease
	ds, err := w.Store.ClaimWebhookDeliveries(ctx, w.batch(), w.lease(), w.now())
	if err != nil {
		if ctx.Err() == nil && !db.Unavailable(err) { // the store logs an outage once
			w.logger().ErrorContext(ctx, "claim webhook deliveries", "error", err.Error())
		}
		return time.Time{}, false
	}
	leaseEnd := start.Add(w.lease())
	sendBy := start.Add(w.lease() * 3 / 4)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for i := range ds {
		wg.Go(func() {
			retryAt := w.deliver(ctx, &ds[i], sendBy, leaseEnd)
			if retryAt.IsZero() {
				return
			}
			mu.Lock()
			if next.IsZero() || retryAt.Before(next) {
				next = retryAt
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return next, len(ds) == w.batch()
}

// relayBatch is how many events of the log one transaction of the relay reads.
const relayBatch = 500

// relay makes the deliveries of the events committed since the last relay (db.Store.RelayWebhookEvents),
// unless another worker is relaying: then that one makes them. It returns false when it found no endpoint
// enabled.
func (w *Worker) relay(ctx context.Context) (endpoints bool) {
	for {
		r, err := w.Store.RelayWebhookEvents(ctx, relayBatch)
		if err != nil {
			if ctx.Err() == nil && !db.Unavailable(err) { // the store logs an outage once
				w.logger().ErrorContext(ctx, "relay webhook events", "error", err.Error())
			}
			return true
		}
		if !r.More {
			return r.Endpoints
		}
	}
}

// send makes one attempt at d: it returns the HTTP status received (0 when none) and, unless it is a
// 2xx, why the attempt failed.
func (w *Worker) send(ctx context.Context, d *db.ClaimedDelivery) (int, error) {
	body, err := Body(d.Event)
	if err != nil {
		return 0, err
	}
	at := w.now()
	sig, err := Sign(d.Secret, d.ID, at, body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "orgs-webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", unixSeconds(at))
	req.Header.Set("webhook-signature", sig)
	res, err := w.Client.Do(req)
	if err != nil {
		if r, ok := outbound.IsRefused(err); ok {
			return 0, r
		}
		return 0, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, maxResponseRead)) // the answer is not used; a little is read
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("the endpoint answered %s", res.Status)
	}
	return res.StatusCode, nil
}

// deliver makes one attempt at d and records its outcome. It returns when d is due again after a
// failure, or zero.
func (w *Worker) deliver(ctx context.Context, d *db.ClaimedDelivery, sendBy, leaseEnd time.Time) (retryAt time.Time) {
	log := w.logger().With("tenant_id", d.TenantID, "delivery_id", d.ID, "endpoint_id", d.EndpointID,
		"event_id", d.EventID, "event_type", d.EventType, "attempt", d.Attempts)
	sendCtx, cancel := context.WithDeadline(ctx, sendBy)
	status, err := w.send(sendCtx, d)
	cancel()

	// The outcome is recorded even when ctx is done (a shutdown), and before the lease ends, when another
	// worker could claim the delivery.
	markCtx, cancelMark := context.WithDeadline(context.WithoutCancel(ctx), leaseEnd)
	defer cancelMark()
	now := w.now()
	if err == nil {
		if err := w.Store.RecordWebhookSuccess(markCtx, d, status, now); err != nil {
			log.ErrorContext(ctx, "webhook delivered but not recorded: it will be sent again when its lease ends",
				"error", err.Error())
			return time.Time{}
		}
		w.Metrics.count(outcomeSucceeded)
		log.InfoContext(ctx, "webhook delivered", "status", status)
		return time.Time{}
	}

	f := db.WebhookFailure{Cause: err.Error(), DisableAfter: w.disableAfter()}
	if status != 0 {
		f.Status = &status
	}
	outcome, level, msg := outcomeRetry, slog.LevelWarn, "webhook delivery failed; will retry"
	if ctx.Err() != nil {
		f.RetryAt, msg = &now, "webhook delivery interrupted; due again at once"
	} else if wait, ok := Backoff(w.schedule(), d.Attempts); ok {
		at := now.Add(wait)
		f.RetryAt = &at
	} else {
		outcome, level, msg = outcomeFailed, slog.LevelError, "webhook delivery failed; given up after the last attempt"
	}
	disabled, rerr := w.Store.RecordWebhookFailure(markCtx, d, f, now)
	if rerr != nil {
		log.ErrorContext(ctx, "record failed webhook delivery: it will be retried when its lease ends",
			"error", rerr.Error(), "delivery_error", err.Error())
		return time.Time{}
	}
	w.Metrics.count(outcome)
	attrs := []any{"error", err.Error()}
	if status != 0 {
		attrs = append(attrs, "status", status)
	}
	if f.RetryAt != nil {
		attrs = append(attrs, "retry_at", f.RetryAt.UTC())
	}
	log.Log(ctx, level, msg, attrs...)
	if disabled {
		w.Metrics.endpointDisabled()
		log.WarnContext(ctx, "webhook endpoint disabled: it failed for too long; its pending deliveries are given up",
			"disable_after", w.disableAfter().String())
	}
	if f.RetryAt == nil || ctx.Err() != nil || disabled {
		return time.Time{}
	}
	return *f.RetryAt
}
