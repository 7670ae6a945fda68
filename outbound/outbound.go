// Package outbound makes the requests the service sends to hosts its callers name (a domain to
// verify): DNS lookups through the configured resolver, and HTTP requests that cannot be turned against
// the service's own network. Unless private addresses are allowed, a connection to a loopback, private,
// link-local, unspecified, multicast or otherwise reserved address is refused; the address is checked
// as it is dialled, after resolution, so that a name that resolves to a public address when checked and
// to a private one when used (DNS rebinding) is refused too.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Options configure outbound requests.
type Options struct {
	// Resolver is the DNS server (host:port) every lookup goes to; "" uses the system's resolver.
	Resolver string
	// AllowPrivate lets requests reach loopback, private and other non-public addresses.
	AllowPrivate bool
	// Timeout bounds a whole HTTP request: connection, headers and body; default 5s.
	Timeout time.Duration
	// DialPorts, when set, dials another port than the one requested (tests map 80 to a test server's
	// port). Production leaves it empty.
	DialPorts map[string]string
}

// DefaultTimeout bounds a whole HTTP request when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// connectTimeout bounds establishing one connection.
const connectTimeout = 3 * time.Second

// NewResolver returns the resolver for lookups: server (host:port) when set, else the system's.
func NewResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: connectTimeout}
		return d.DialContext(ctx, network, server)
	}}
}

// RefusedError reports a connection refused because of its address.
type RefusedError struct {
	Host string
	IP   netip.Addr
	// Kind says what the address is: loopback, private, link-local, ...
	Kind string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s is a %s address", e.Host, e.IP, e.Kind)
}

// reserved are further ranges that are not public unicast addresses (RFC 6890).
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this" network
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier-grade NAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// nat64 embeds IPv4 addresses in IPv6 (RFC 6052): the embedded one is checked.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Classify returns what kind of non-public address ip is ("loopback", "private", ...), or "" for a
// public unicast address.
func Classify(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast():
		return "multicast"
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	return ""
}

// Dialer dials TCP connections for outbound requests.
type Dialer struct {
	resolver *net.Resolver
	opt      Options
}

// NewDialer returns the dialer of opt.
func NewDialer(opt Options) *Dialer {
	return &Dialer{resolver: NewResolver(opt.Resolver), opt: opt}
}

// DialContext resolves addr's host through the resolver, then connects to the first of its addresses
// that accepts; a refused address is never connected to.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if p, ok := d.opt.DialPorts[port]; ok {
		port = p
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		// The name is looked up as it is (a trailing dot keeps the resolver's search list out).
		if ips, err = d.resolver.LookupNetIP(ctx, "ip", host+"."); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	var firstErr error
	for _, ip := range ips {
		conn, err := d.dialIP(ctx, network, host, ip, port)
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("resolve %s: no address", host)
	}
	return nil, firstErr
}

// dialIP connects to ip; the address is checked again in the dialer's Control, just before the
// connection is made, whatever the path that led to it.
func (d *Dialer) dialIP(ctx context.Context, network, host string, ip netip.Addr, port string) (net.Conn, error) {
	nd := net.Dialer{Timeout: connectTimeout}
	if !d.opt.AllowPrivate {
		nd.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			if kind := Classify(ap.Addr()); kind != "" {
				return &RefusedError{Host: host, IP: ap.Addr().Unmap(), Kind: kind}
			}
			return nil
		}
	}
	return nd.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
}

// NewHTTPClient returns the HTTP client of opt: it dials through NewDialer(opt), uses no proxy, follows
// no redirect (a 3xx is answered as it is), keeps no connection, and gives up after opt.Timeout.
func NewHTTPClient(opt Options) *http.Client {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            NewDialer(opt).DialContext,
			DisableKeepAlives:      true,
			TLSHandshakeTimeout:    connectTimeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 16 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// IsRefused tells whether err is (or wraps) a refused address, and returns it.
func IsRefused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}
