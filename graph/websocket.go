package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"orgs/domain"
	"orgs/graph/model"
	"orgs/httpapi"
	"orgs/realtime"
)

// The close codes of the sockets of /query (4400-4499 mirror the HTTP statuses; graphql-ws clients do
// not reconnect after 4401 and 4403, and do after 1001, 1011 and 1013).
const (
	CloseUnauthenticated = 4401 // connection_init without an API key
	CloseForbidden       = 4403 // an unknown, revoked or expired API key
	CloseTooSlow         = 4429 // the subscriber read too slowly and its queue filled up
	CloseGoingAway       = 1001 // the server is shutting down
	CloseInternalError   = 1011 // the key could not be checked, or the log could not be read
)

// WebSocketOptions tune the WebSocket transport of /query, served when the Resolver has Events.
type WebSocketOptions struct {
	// Authenticator checks the API key of connection_init's payload (the database's store).
	Authenticator httpapi.Authenticator
	// Limits bound the documents of the operations a socket starts, as httpapi's front door does for HTTP.
	Limits httpapi.QueryLimits
	// OriginPatterns are the origins browsers may open a socket from besides the API's own (CORS_ALLOWED_ORIGINS:
	// "https://app.example.com", "*" for any).
	OriginPatterns []string
	// ReadLimit caps a message from the client, in bytes.
	ReadLimit int64
	// PingInterval is how often the server pings (graphql-transport-ws ping, graphql-ws keep-alive); a
	// client that does not answer within twice as long is disconnected.
	PingInterval time.Duration
	// InitTimeout is how long a client has to send connection_init.
	InitTimeout time.Duration
}

// DefaultWebSocketOptions are those the server starts with (plus the authenticator and the origins).
var DefaultWebSocketOptions = WebSocketOptions{Limits: httpapi.DefaultQueryLimits, ReadLimit: 64 << 10,
	PingInterval: 25 * time.Second, InitTimeout: 10 * time.Second}

// socket is one WebSocket of /query, which the operations it carries find in their context.
type socket struct {
	mu   sync.Mutex
	conn transport.WebsocketConn
}

// close closes the socket with code and reason (the first close wins).
func (s *socket) close(code int, reason string) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		_ = c.WriteClose(code, reason)
	}
}

type socketKey struct{}

func socketFrom(ctx context.Context) *socket {
	s, _ := ctx.Value(socketKey{}).(*socket)
	return s
}

// sockets are the open sockets of a handler, closed together at shutdown.
type sockets struct {
	mu sync.Mutex
	m  map[*socket]struct{}
}

func (ss *sockets) add(s *socket) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.m[s] = struct{}{}
}

func (ss *sockets) remove(s *socket) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s)
}

func (ss *sockets) closeAll(code int, reason string) {
	ss.mu.Lock()
	all := make([]*socket, 0, len(ss.m))
	for s := range ss.m {
		all = append(all, s)
	}
	ss.mu.Unlock()
	for _, s := range all {
		s.close(code, reason)
	}
}

// withSockets gives each upgrade request a socket in its context, which accept fills, and keeps it in
// ss while it is open.
func withSockets(ss *sockets, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !httpapi.IsWebSocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		s := &socket{}
		ss.add(s)
		defer ss.remove(s)
		next.ServeHTTP(&handshakeWriter{ResponseWriter: w}, r.WithContext(context.WithValue(r.Context(), socketKey{}, s)))
	})
}

// handshakeWriter is the ResponseWriter of an upgrade request. When the handshake is refused,
// coder/websocket has written the answer (403 to another origin, 400 or 426 to a bad handshake), and
// gqlgen's transport then writes one of its own ("unable to upgrade", 400): that second answer is
// dropped, rather than appended to the first's body with a superfluous WriteHeader.
type handshakeWriter struct {
	http.ResponseWriter
	refused bool // the handshake's answer is written: nothing more goes out
}

func (w *handshakeWriter) WriteHeader(code int) {
	if !w.refused {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *handshakeWriter) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets coder/websocket find the connection's http.Hijacker.
func (w *handshakeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// acceptor accepts sockets with coder/websocket and hands each to its request's socket.
type acceptor struct {
	transport.CoderWebsocketImplementation
}

func (a acceptor) Accept(w http.ResponseWriter, r *http.Request, opt transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := a.CoderWebsocketImplementation.Accept(w, r, opt)
	if err != nil {
		if hw, ok := w.(*handshakeWriter); ok {
			hw.refused = true // Accept wrote the refusal
		}
		return nil, err
	}
	if s := socketFrom(r.Context()); s != nil {
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
	}
	return c, nil
}

// websocketTransport is gqlgen's WebSocket transport (graphql-transport-ws, and the legacy graphql-ws)
// with the API key checked at connection_init.
func websocketTransport(opt WebSocketOptions) transport.Websocket {
	readLimit := opt.ReadLimit
	return transport.Websocket{
		Implementation: acceptor{transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: opt.OriginPatterns}}},
		InitFunc:              initFunc(opt.Authenticator),
		InitTimeout:           opt.InitTimeout,
		KeepAlivePingInterval: opt.PingInterval,
		PingPongInterval:      opt.PingInterval,
		PayloadReadLimit:      &readLimit,
	}
}

// initFunc authenticates the API key of connection_init's payload ({"Authorization": "Bearer <key>"} or
// {"X-API-Key": "<key>"}) and puts its actor in the socket's context, as httpapi.Authenticate does for
// HTTP. A missing key closes the socket with 4401, a refused one with 4403.
func initFunc(auth httpapi.Authenticator) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		key, acting := initKey(payload)
		if key == "" {
			return transport.WithWebsocketCloseCode(ctx, CloseUnauthenticated),
				nil, errors.New(`an API key is required: send {"Authorization": "Bearer <key>"} in connection_init's payload`)
		}
		if auth == nil {
			return transport.WithWebsocketCloseCode(ctx, CloseInternalError), nil, errors.New("no authenticator")
		}
		actor, err := auth.Authenticate(ctx, key)
		switch {
		case domain.ErrorCodeOf(err) == domain.EUNAUTHENTICATED:
			return transport.WithWebsocketCloseCode(ctx, CloseForbidden), nil, errors.New("unknown, revoked or expired API key")
		case err != nil:
			return transport.WithWebsocketCloseCode(ctx, CloseInternalError), nil, errors.New("the API key could not be checked: try again")
		}
		actor.ActingOrganizationID = acting
		return domain.WithActor(ctx, actor), nil, nil
	}
}

// initKey reads the API key, and X-Organization-ID, of connection_init's payload; names are matched
// without regard to case, as HTTP headers are.
func initKey(payload transport.InitPayload) (key, acting string) {
	for name, v := range payload {
		s, _ := v.(string)
		s = strings.TrimSpace(s)
		switch strings.ToLower(name) {
		case "authorization":
			if scheme, token, ok := strings.Cut(s, " "); ok && strings.EqualFold(scheme, "Bearer") {
				key = strings.TrimSpace(token)
			}
		case "x-api-key":
			if key == "" {
				key = s
			}
		case "x-organization-id":
			acting = s
		}
	}
	return key, acting
}

// socketLimits applies the document limits to the operations of sockets (those over HTTP were checked by
// the front door already); it implements gqlgen's OperationParameterMutator, after the persisted queries.
type socketLimits struct{ limits httpapi.QueryLimits }

func (socketLimits) ExtensionName() string { return "SocketLimits" }

func (socketLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l socketLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if socketFrom(ctx) == nil || p.Query == "" {
		return nil
	}
	if err := l.limits.Check(p.Query); err != nil {
		e := gqlerror.Errorf("%s", err.Message)
		e.Extensions = map[string]any{"code": string(err.Code)}
		return e
	}
	return nil
}

// subscriptionEvents converts the events of sub for gqlgen until it ends; a subscription dropped as too
// slow closes its socket with 4429, one ended by the shutdown with 1001.
func subscriptionEvents(ctx context.Context, sub *realtime.Subscription) <-chan *model.OrganizationEvent {
	out := make(chan *model.OrganizationEvent)
	go func() {
		defer close(out)
		for e := range sub.Events() {
			ev := toEvent(e)
			select {
			case out <- &ev:
			case <-ctx.Done():
				return
			}
		}
		s := socketFrom(ctx)
		if s == nil {
			return
		}
		switch err := sub.Err(); {
		case errors.Is(err, realtime.ErrSlow):
			s.close(CloseTooSlow, "subscriber too slow: resume with afterSequence")
		case errors.Is(err, realtime.ErrShutdown):
			s.close(CloseGoingAway, "server shutting down")
		case errors.Is(err, realtime.ErrRestarted):
			s.close(CloseGoingAway, "the event log was restarted: resume with afterSequence")
		case err != nil:
			s.close(CloseInternalError, "internal error: resume with afterSequence")
		}
	}()
	return out
}
