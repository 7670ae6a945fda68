// Package realtime delivers the audit events of organizations to subscribers as they are committed, on
// every replica. The database announces each committed event (the trigger of migration 00014, with
// NOTIFY, which leaves only on commit); each replica's Hub listens on one connection, reads the events
// of a burst of announcements with one statement, and hands them to its subscriptions, each of which has
// a bounded queue: a subscriber that falls behind is dropped (ErrSlow), never buffered without bound.
// A subscription of one organization is gapless and in order: it resumes after a sequence from the log
// (AfterSequence), drops what it has delivered already, and reads from the log any sequence it missed
// (an announcement lost while the listener reconnected).
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/domain"
)

// Options tune a Hub.
type Options struct {
	// MaxPerKey caps the subscriptions of one API key open at once on this replica (default 20).
	MaxPerKey int
	// QueueSize is how many events a subscription may have waiting before it is dropped as too slow
	// (default 256).
	QueueSize int
	// Logger receives the hub's warnings; default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, registers the hub's metrics.
	Registerer prometheus.Registerer
}

// DefaultMaxPerKey is the default of Options.MaxPerKey.
const DefaultMaxPerKey = 20

// Why a subscription ends, other than its context's end.
var (
	// ErrSlow ends a subscription whose queue is full: its subscriber reads too slowly.
	ErrSlow = errors.New("subscriber too slow: events are delivered faster than it reads them")
	// ErrShutdown ends every subscription when the server shuts down.
	ErrShutdown = errors.New("server shutting down")
)

// batchMax bounds the announcements read with one statement.
const batchMax = 500

// pageSize is how many events a subscription reads from the log at once when it catches up.
const pageSize = 100

// Hub fans the announced events out to the subscriptions of this replica.
type Hub struct {
	store  *db.Store
	opt    Options
	logger *slog.Logger

	mu       sync.Mutex
	byTenant map[string]map[*Subscription]struct{}
	perKey   map[string]int
	shutdown bool
	hooks    []func()
	// slowCount counts the subscriptions dropped as too slow.
	slowCount int64

	listener *db.EventListener
	done     chan struct{}

	active    prometheus.Gauge
	delivered prometheus.Counter
	slow      prometheus.Counter
}

// New returns a hub reading events from store; Start makes it listen.
func New(store *db.Store, opt Options) *Hub {
	if opt.MaxPerKey <= 0 {
		opt.MaxPerKey = DefaultMaxPerKey
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = 256
	}
	h := &Hub{store: store, opt: opt, logger: opt.Logger, byTenant: map[string]map[*Subscription]struct{}{},
		perKey: map[string]int{}, done: make(chan struct{}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orgs_subscriptions_active",
			Help: "GraphQL subscriptions open on this replica."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "orgs_subscription_events_delivered_total",
			Help: "Events handed to subscribers."}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "orgs_subscription_slow_disconnects_total",
			Help: "Subscriptions dropped because their subscriber read too slowly."}),
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if opt.Registerer != nil {
		opt.Registerer.MustRegister(h.active, h.delivered, h.slow)
	}
	return h
}

// Start listens to the database's announcements on dsn (a connection of its own) until Close.
func (h *Hub) Start(ctx context.Context, dsn string) error {
	l, err := db.ListenEvents(ctx, dsn, h.logger)
	if err != nil {
		return err
	}
	h.listener = l
	go h.run()
	return nil
}

// Close stops listening (after Shutdown, or when no subscription is left).
func (h *Hub) Close() error {
	if h.listener == nil {
		return nil
	}
	err := h.listener.Close()
	<-h.done
	return err
}

// OnShutdown registers f to run when Shutdown is called (the transport closing its sockets).
func (h *Hub) OnShutdown(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks = append(h.hooks, f)
}

// Shutdown ends every subscription with ErrShutdown, refuses new ones, and runs the OnShutdown hooks.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.shutdown = true
	var subs []*Subscription
	for _, set := range h.byTenant {
		for s := range set {
			subs = append(subs, s)
		}
	}
	hooks := slices.Clone(h.hooks)
	h.mu.Unlock()
	for _, s := range subs {
		s.fail(ErrShutdown)
	}
	for _, f := range hooks {
		f()
	}
}

// Stats are a hub's counts, for tests and diagnosis.
type Stats struct {
	Active          int
	SlowDisconnects int
}

// Stats returns the hub's counts.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.byTenant {
		n += len(set)
	}
	return Stats{Active: n, SlowDisconnects: int(h.slowCount)}
}

// run reads the listener's notices until it closes: the announcements of a burst are read from the log
// with one statement, then handed to the subscriptions of their tenants.
func (h *Hub) run() {
	defer close(h.done)
	notices := h.listener.Notices()
	for n := range notices {
		batch := []db.EventNotice{n}
	burst:
		for len(batch) < batchMax {
			select {
			case m, ok := <-notices:
				if !ok {
					break burst
				}
				batch = append(batch, m)
			default:
				break burst
			}
		}
		h.dispatch(batch)
	}
}

// dispatch hands a burst of notices to the subscriptions.
func (h *Hub) dispatch(batch []db.EventNotice) {
	var refs []db.EventRef
	h.mu.Lock()
	for _, n := range batch {
		if n.Ref == nil { // announcements were lost: every subscription reads what it missed
			for _, set := range h.byTenant {
				for s := range set {
					s.resync(n.Since)
				}
			}
			continue
		}
		if len(h.byTenant[n.Ref.TenantID]) > 0 {
			refs = append(refs, *n.Ref)
		}
	}
	h.mu.Unlock()
	if len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, err := h.store.EventsAt(ctx, refs)
	if err != nil {
		// The subscriptions of one organization find the events again at the next one (a gap); tell
		// every subscription to read what it missed.
		h.logger.Error("read announced events", "error", err.Error(), "events", len(refs))
		since := time.Now().Add(-time.Minute)
		h.mu.Lock()
		for _, set := range h.byTenant {
			for s := range set {
				s.resync(since)
			}
		}
		h.mu.Unlock()
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range events {
		for s := range h.byTenant[e.TenantID] {
			if s.orgID == "" || s.orgID == e.OrganizationID {
				s.offer(e)
			}
		}
	}
}

// Filter says which events a subscription receives.
type Filter struct {
	// OrganizationID keeps the events of one organization of the tenant (nil: all its organizations).
	OrganizationID *string
	// AfterSequence, with OrganizationID, starts with the stored events after that sequence.
	AfterSequence *int
	// Types keeps the events of these types (none: every type).
	Types []string
}

// Subscribe starts a subscription of the actor's tenant's events, until ctx ends or the subscription
// fails (Subscription.Err). The organization of f must be one of the tenant's (ENOTFOUND otherwise);
// AfterSequence needs it (EINVALID); an API key has at most Options.MaxPerKey subscriptions at once
// (ERATELIMITED).
func (h *Hub) Subscribe(ctx context.Context, a *domain.Actor, f Filter) (*Subscription, error) {
	if a == nil {
		return nil, domain.Errorf(domain.EUNAUTHENTICATED, "an API key is required")
	}
	if f.AfterSequence != nil {
		switch {
		case f.OrganizationID == nil:
			return nil, domain.Errorf(domain.EINVALID, "afterSequence needs organizationId: sequences are numbered per organization")
		case *f.AfterSequence < 0:
			return nil, domain.Errorf(domain.EINVALID, "afterSequence must be 0 or more")
		}
	}
	s := &Subscription{hub: h, tenantID: a.TenantID, keyID: a.KeyID, last: map[string]int64{},
		in: make(chan domain.Event, h.opt.QueueSize), out: make(chan domain.Event), done: make(chan struct{}),
		resyncs: make(chan time.Time, 1)}
	if f.OrganizationID != nil {
		s.orgID = *f.OrganizationID
	}
	if len(f.Types) > 0 {
		s.types = map[string]bool{}
		for _, t := range f.Types {
			s.types[t] = true
		}
	}
	// Listen first, then read where to start: an event committed in between is both announced and
	// after the start, and delivered once.
	if err := h.add(s); err != nil {
		return nil, err
	}
	if s.orgID != "" {
		seq, err := h.store.OrganizationSequence(ctx, s.tenantID, s.orgID)
		if err != nil {
			h.remove(s)
			return nil, err
		}
		if f.AfterSequence != nil {
			seq = int64(*f.AfterSequence)
		}
		s.last[s.orgID] = seq
	}
	go s.run(ctx)
	return s, nil
}

func (h *Hub) add(s *Subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return domain.Errorf(domain.EUNAVAILABLE, "the server is shutting down: subscribe again")
	}
	if h.perKey[s.keyID] >= h.opt.MaxPerKey {
		return domain.Errorf(domain.ERATELIMITED, "an API key may have at most %d subscriptions open at once", h.opt.MaxPerKey)
	}
	h.perKey[s.keyID]++
	set := h.byTenant[s.tenantID]
	if set == nil {
		set = map[*Subscription]struct{}{}
		h.byTenant[s.tenantID] = set
	}
	set[s] = struct{}{}
	h.active.Inc()
	return nil
}

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.byTenant[s.tenantID]
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.byTenant, s.tenantID)
	}
	if h.perKey[s.keyID]--; h.perKey[s.keyID] <= 0 {
		delete(h.perKey, s.keyID)
	}
	h.active.Dec()
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	hub      *Hub
	tenantID string
	orgID    string
	keyID    string
	types    map[string]bool

	in      chan domain.Event // filled by the hub, never blocking it
	out     chan domain.Event
	resyncs chan time.Time

	done chan struct{}
	once sync.Once
	err  error

	// last is the last sequence delivered (or skipped by the types) of each organization; only run uses it.
	last map[string]int64
}

// Events returns the subscription's events; the channel closes when the subscription ends.
func (s *Subscription) Events() <-chan domain.Event { return s.out }

// Err tells why the subscription ended, once Events is closed: ErrSlow, ErrShutdown, an error reading
// the log, or nil when its context ended.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// offer queues e without blocking; a full queue ends the subscription. Called with the hub's lock.
func (s *Subscription) offer(e domain.Event) {
	select {
	case <-s.done: // ended, not yet removed
		return
	default:
	}
	select {
	case s.in <- e:
	default:
		s.hub.slowCount++
		s.hub.slow.Inc()
		s.fail(ErrSlow)
	}
}

// resync asks the subscription to read what it may have missed since since.
func (s *Subscription) resync(since time.Time) {
	select {
	case s.resyncs <- since:
	default:
	}
}

func (s *Subscription) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// run delivers the events until the subscription ends.
func (s *Subscription) run(ctx context.Context) {
	defer close(s.out)
	defer s.hub.remove(s)
	if s.orgID != "" {
		if err := s.catchUp(ctx, s.orgID, true); err != nil {
			s.stop(ctx, err)
			return
		}
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case since := <-s.resyncs:
			err = s.resyncSince(ctx, since)
		case e := <-s.in:
			err = s.handle(ctx, e)
		}
		if err != nil {
			s.stop(ctx, err)
			return
		}
	}
}

// errEnded stops the delivery when the subscription has ended meanwhile.
var errEnded = errors.New("subscription ended")

func (s *Subscription) stop(ctx context.Context, err error) {
	if errors.Is(err, errEnded) || ctx.Err() != nil {
		return
	}
	s.hub.logger.Warn("subscription stopped", "error", err.Error(), "tenant", s.tenantID)
	s.fail(fmt.Errorf("read events: %w", err))
}

// handle delivers e unless it was delivered already; a gap before it is filled from the log first.
func (s *Subscription) handle(ctx context.Context, e domain.Event) error {
	last, seen := s.last[e.OrganizationID]
	switch {
	case seen && e.Sequence <= last:
		return nil
	case seen && e.Sequence > last+1:
		return s.catchUp(ctx, e.OrganizationID, false)
	}
	return s.deliver(ctx, e)
}

// catchUp delivers the organization's stored events after the last one delivered, page by page, until
// the log has no more. drain (a subscription of that one organization) empties the queue before each
// page: whatever it held was committed before the page is read, so the page has it.
func (s *Subscription) catchUp(ctx context.Context, orgID string, drain bool) error {
	for {
		if drain {
			s.drain()
		}
		events, more, err := s.hub.store.Events(ctx, s.tenantID, orgID, db.EventPage{After: s.last[orgID], Limit: pageSize})
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := s.deliver(ctx, e); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

func (s *Subscription) drain() {
	for {
		select {
		case <-s.in:
		default:
			return
		}
	}
}

// resyncSince reads what announcements lost since since may have hidden: the organization's log after
// the last event delivered, or the tenant's recent events.
func (s *Subscription) resyncSince(ctx context.Context, since time.Time) error {
	if s.orgID != "" {
		return s.catchUp(ctx, s.orgID, true)
	}
	events, err := s.hub.store.TenantEventsSince(ctx, s.tenantID, since, 1000)
	if err != nil {
		return err
	}
	for _, e := range events {
		if err := s.handle(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// deliver hands e to the subscriber when its type is wanted, and records it as the organization's last.
func (s *Subscription) deliver(ctx context.Context, e domain.Event) error {
	if last, seen := s.last[e.OrganizationID]; seen && e.Sequence <= last {
		return nil
	}
	s.last[e.OrganizationID] = e.Sequence
	if s.types != nil && !s.types[e.Type] {
		return nil
	}
	select {
	case s.out <- e:
		s.hub.delivered.Inc()
		return nil
	case <-ctx.Done():
		return errEnded
	case <-s.done:
		return errEnded
	}
}
