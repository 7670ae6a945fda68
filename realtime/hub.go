// Package realtime delivers the audit events of organizations to subscribers as they are committed, on
// every replica. Each replica's Hub reads the log of events as it grows (db.EventTail: in the order of
// the transactions that wrote them, each event once, without a gap) and hands the new events to its
// subscriptions, each of which has a bounded queue: a subscriber that falls behind is dropped (ErrSlow),
// never buffered without bound. The hub reads the log when this replica committed events (Announce,
// after each mutation), when another replica announces some (NOTIFY on db.EventsChannel, sent after
// the commit, never in the writing transaction: see migration 00015), and every PollInterval while it
// has subscriptions, so that a lost announcement only delays. A subscription receives the events
// committed after it started; one of one organization is in sequence order and can resume after a
// sequence from the log (AfterSequence).
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"orgs/db"
	"orgs/domain"
)

// Options tune a Hub.
type Options struct {
	// MaxPerKey caps the subscriptions of one API key open at once on this replica (default 20).
	MaxPerKey int
	// QueueSize is how many events a subscription may have waiting before it is dropped as too slow
	// (default 1024: a burst of events released at once by a transaction that held the log back fits).
	QueueSize int
	// Logger receives the hub's warnings; default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, registers the hub's metrics.
	Registerer prometheus.Registerer
	// PollInterval is how often a hub with subscriptions reads the log when nothing woke it (default
	// 100ms): the longest an event waits when its announcement is lost.
	PollInterval time.Duration
}

// DefaultMaxPerKey is the default of Options.MaxPerKey.
const DefaultMaxPerKey = 20

// Why a subscription ends, other than its context's end.
var (
	// ErrSlow ends a subscription whose queue is full: its subscriber reads too slowly.
	ErrSlow = errors.New("subscriber too slow: events are delivered faster than it reads them")
	// ErrShutdown ends every subscription when the server shuts down.
	ErrShutdown = errors.New("server shutting down")
	// ErrRestarted ends every subscription when the database's transaction ids went back (a failover
	// to a standby that lacked the last transactions, a restore): their starts mean nothing any more.
	ErrRestarted = errors.New("the event log was restarted: subscribe again")
)

// batchMax bounds the events read from the log with one statement.
const batchMax = 500

// announceEvery spaces this replica's announcements: at most one is sent in that time, however many
// mutations commit meanwhile (each is a small transaction of its own).
const announceEvery = 20 * time.Millisecond

// idleEvery is how often a hub without subscriptions moves its place in the log up to the present, so
// that its first subscription does not start with a backlog to read.
const idleEvery = time.Second

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
	// count is the number of subscriptions; added counts those ever added.
	count, added int
	// reads counts the reads of the log that found it readable.
	reads int64

	listener *db.EventListener
	cursor   db.TailCursor // where run reads the log on from; run changes it, under mu
	idleAt   time.Time     // when run last moved the cursor without subscriptions
	failing  bool          // the last read of the log failed; only run uses it
	poke     chan struct{} // this replica committed events
	hint     chan struct{} // announce them to the other replicas
	// ctx ends with Close: the hub's reads and announcements stop with it.
	ctx      context.Context
	stop     context.CancelFunc
	stopOnce sync.Once
	wg       sync.WaitGroup

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
		opt.QueueSize = 1024
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 100 * time.Millisecond
	}
	h := &Hub{store: store, opt: opt, logger: opt.Logger, byTenant: map[string]map[*Subscription]struct{}{},
		perKey: map[string]int{}, poke: make(chan struct{}, 1), hint: make(chan struct{}, 1),
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
	h.ctx, h.stop = context.WithCancel(context.Background())
	if opt.Registerer != nil {
		opt.Registerer.MustRegister(h.active, h.delivered, h.slow)
	}
	return h
}

// Start reads the log from the present on, and listens to the announcements of every replica on dsn
// (a connection of its own), until Close.
func (h *Hub) Start(ctx context.Context, dsn string) error {
	c, err := h.store.TailStart(ctx)
	if err != nil {
		return err
	}
	l, err := db.ListenEvents(ctx, dsn, h.logger)
	if err != nil {
		return err
	}
	h.listener, h.cursor, h.idleAt = l, c, time.Now()
	h.wg.Add(2)
	go h.run()
	go h.announce()
	return nil
}

// Close stops reading and listening (after Shutdown, or when no subscription is left).
func (h *Hub) Close() error {
	if h.listener == nil {
		return nil
	}
	var err error
	h.stopOnce.Do(func() {
		h.stop()
		h.wg.Wait()
		err = h.listener.Close()
	})
	return err
}

// Announce says that this replica has just committed events (after a mutation): its subscriptions read
// them now rather than at the next poll, and the other replicas are told, with at most one
// announcement every announceEvery. It never blocks.
func (h *Hub) Announce() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
	select {
	case h.hint <- struct{}{}:
	default:
	}
}

// announce sends the announcements Announce asks for, one at a time, until Close.
func (h *Hub) announce() {
	defer h.wg.Done()
	failing := false
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.hint:
		}
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		err := h.store.Announce(ctx)
		cancel()
		switch { // the other replicas poll meanwhile: say so once, not at every mutation
		case err != nil && !failing:
			h.logger.Warn("announce events to the other replicas; they poll meanwhile", "error", err.Error())
		case err == nil && failing:
			h.logger.Info("announcing events again")
		}
		failing = err != nil
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(announceEvery):
		}
	}
}

// subscriptionsLocked returns every subscription of the hub; h.mu is held.
func (h *Hub) subscriptionsLocked() []*Subscription {
	var subs []*Subscription
	for _, set := range h.byTenant {
		for s := range set {
			subs = append(subs, s)
		}
	}
	return subs
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
	subs := h.subscriptionsLocked()
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
	// Active counts the subscriptions that have started: each knows its start, and receives every
	// event committed after it.
	Active          int
	SlowDisconnects int
	// LogReads counts the reads of the log made for subscriptions.
	LogReads int64
}

// Stats returns the hub's counts.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.byTenant {
		for s := range set {
			if s.started {
				n++
			}
		}
	}
	return Stats{Active: n, SlowDisconnects: int(h.slowCount), LogReads: h.reads}
}

// run reads the log when woken, and every PollInterval, until Close.
func (h *Hub) run() {
	defer h.wg.Done()
	tick := time.NewTicker(h.opt.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.listener.Wakes():
		case <-h.poke:
		case <-tick.C:
		}
		h.read()
	}
}

// read hands the events committed since the last read to the subscriptions; without subscriptions, it
// only moves its place in the log to the present, once every idleEvery.
func (h *Hub) read() {
	h.mu.Lock()
	count, added := h.count, h.added
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second) // Close does not wait for a slow read
	defer cancel()
	if count == 0 {
		if time.Since(h.idleAt) < idleEvery {
			return
		}
		c, err := h.store.TailStart(ctx)
		if h.readFailed(err) {
			h.idleAt = time.Now()
			return
		}
		h.mu.Lock()
		// A subscription added meanwhile may have started before this horizon: it needs the events
		// from the old place on.
		if h.added == added {
			h.cursor, h.idleAt = c, time.Now()
		}
		h.mu.Unlock()
		return
	}
	for {
		events, next, more, err := h.store.EventTail(ctx, h.cursor, batchMax)
		if errors.Is(err, db.ErrHorizonWentBack) {
			h.restart(next)
			return
		}
		if h.readFailed(err) { // nothing is lost: the next read starts from the same place
			return
		}
		h.dispatch(events, next)
		h.mu.Lock()
		h.reads++
		h.mu.Unlock()
		if !more {
			return
		}
	}
}

// restart ends every subscription with ErrRestarted and reads on from c: the database's transaction
// ids went back behind the hub's place, so the ids of new events may be below it, and the start
// snapshots of the subscriptions no longer tell what came before them.
func (h *Hub) restart(c db.TailCursor) {
	h.logger.Error("the database's transaction ids went back (failover or restore): subscriptions end, to be made again",
		"cursor", h.cursor.Tx, "horizon", c.Tx)
	h.mu.Lock()
	h.cursor = c
	subs := h.subscriptionsLocked()
	h.mu.Unlock()
	for _, s := range subs {
		s.fail(ErrRestarted)
	}
}

// readFailed reports whether err is not nil, logging the first of a series of failed reads of the log
// (a database outage fails them all) and the first success after them.
func (h *Hub) readFailed(err error) bool {
	switch {
	case err != nil && !h.failing:
		h.logger.Warn("read the event log; retrying at each poll", "error", err.Error())
	case err == nil && h.failing:
		h.logger.Info("reading the event log again")
	}
	h.failing = err != nil
	return err != nil
}

// dispatch hands events read from the log to the subscriptions of their tenants and organizations:
// to a subscription that has its start, those committed after it; to one still taking its start, all of
// them, held until it knows which to keep.
func (h *Hub) dispatch(events []db.TailedEvent, next db.TailCursor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cursor = next
	for _, e := range events {
		for s := range h.byTenant[e.TenantID] {
			switch {
			case s.orgID != "" && s.orgID != e.OrganizationID:
			case !s.started:
				s.pending = append(s.pending, e)
			case !s.start.Committed(e.Tx):
				s.offer(e)
			}
		}
	}
}

// begin gives s its start and the events held for it that came after it. From then on it is Active.
func (h *Hub) begin(s *Subscription, start db.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.start, s.started = start, true
	for _, e := range s.pending {
		if !start.Committed(e.Tx) {
			s.offer(e)
		}
	}
	s.pending = nil
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
		in: make(chan db.TailedEvent, h.opt.QueueSize), out: make(chan domain.Event), done: make(chan struct{})}
	if f.OrganizationID != nil {
		// The events name organizations as PostgreSQL writes uuids: compare in that form, whatever
		// form (upper case, braces) the subscriber used.
		s.orgID = *f.OrganizationID
		if id, err := uuid.Parse(s.orgID); err == nil {
			s.orgID = id.String()
		}
	}
	if len(f.Types) > 0 {
		s.types = map[string]bool{}
		for _, t := range f.Types {
			s.types[t] = true
		}
	}
	// Join the readers of the log first, then take the snapshot that says which events came before the
	// start: every event the snapshot does not see is read after the subscription joined, and reaches
	// it (held until the start is known); those it sees are not delivered.
	if err := h.add(s); err != nil {
		return nil, err
	}
	start, err := h.store.CurrentSnapshot(ctx)
	if err != nil {
		h.remove(s)
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
	h.begin(s, start)
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
	h.count++
	h.added++
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
	h.count--
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

	in    chan db.TailedEvent // filled by the hub, never blocking it
	out   chan domain.Event
	start db.Snapshot // the events committed before it are not delivered; set before run starts
	// started says start is known; until then the hub holds the events it reads in pending. Both and
	// pending are the hub's, under its lock.
	started bool
	pending []db.TailedEvent

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
func (s *Subscription) offer(e db.TailedEvent) {
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
	// Its reads of the log stop when it ends, whatever ends it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
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

// handle delivers e unless it was delivered already; a gap before it is filled from the log first. The
// first event of an organization a subscription of the tenant meets may not be the organization's first
// after the start (the log is in the order of the transactions' ids, not of commits): the earlier ones
// committed after the start are read from the log and delivered before it.
func (s *Subscription) handle(ctx context.Context, e db.TailedEvent) error {
	last, seen := s.last[e.OrganizationID]
	switch {
	case seen && e.Sequence <= last:
		return nil
	case seen && e.Sequence > last+1:
		return s.catchUp(ctx, e.OrganizationID, false)
	case !seen && e.Sequence > 1:
		// Those earlier in the log than e reached the subscription before it (or came before its start):
		// only younger transactions' can be missing.
		earlier, err := s.hub.store.EventsWrittenSince(ctx, s.tenantID, e.OrganizationID, max(s.start.Xmin, e.Tx+1), e.Sequence)
		if err != nil {
			return err
		}
		for _, x := range earlier {
			if !s.start.Committed(x.Tx) {
				if err := s.deliver(ctx, x.Event); err != nil {
					return err
				}
			}
		}
	}
	return s.deliver(ctx, e.Event)
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
