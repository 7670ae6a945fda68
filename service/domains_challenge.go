package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"orgs/domain"
	"orgs/outbound"
)

// The challenges that prove a domain (domain/domains.go): the TXT record is looked up through the
// configured resolver; the HTTP challenge is fetched with the outbound client, which refuses private
// addresses unless allowed, follows no redirect and gives up in seconds.

// maxChallengeBody is how much of an HTTP challenge's body is read: a token is far shorter.
const maxChallengeBody = 4 << 10

// challenger checks domain challenges.
type challenger struct {
	resolver *net.Resolver
	client   *http.Client
	// timeout bounds a DNS lookup, and the whole of an HTTP request.
	timeout time.Duration
}

func newChallenger(opt outbound.Options) *challenger {
	t := opt.Timeout
	if t <= 0 {
		t = outbound.DefaultTimeout
	}
	return &challenger{resolver: outbound.NewResolver(opt.Resolver), client: outbound.NewHTTPClient(opt), timeout: t}
}

// challengeFailure is a failed challenge: the userError to report.
type challengeFailure struct {
	code    domain.ViolationCode
	message string
}

// check runs the challenge of method for d with token. A failed challenge is a *challengeFailure; an
// error is returned only when the request itself is gone (its context is done).
func (c *challenger) check(ctx context.Context, method domain.VerificationMethod, d, token string) (*challengeFailure, error) {
	var f *challengeFailure
	switch method {
	case domain.VerifyByDNS:
		f = c.checkDNS(ctx, d, token)
	case domain.VerifyByHTTP:
		f = c.checkHTTP(ctx, d, token)
	default:
		return nil, fmt.Errorf("verify domain: unknown method %q", method)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("verify domain: %w", err)
	}
	return f, nil
}

// checkDNS looks for the TXT record orgs-verification=<token> at _orgs-challenge.<d>.
func (c *challenger) checkDNS(ctx context.Context, d, token string) *challengeFailure {
	name, want := domain.ChallengeRecordName(d), domain.ChallengeRecordValue(token)
	if domain.IsIPLiteral(d) {
		return &challengeFailure{domain.VDNSRecordNotFound,
			fmt.Sprintf("%s is an IP address and has no DNS name to hold a TXT record; verify it with the HTTP method", d)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	records, err := c.resolver.LookupTXT(ctx, name+".") // absolute: the resolver's search list stays out
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, err == nil && len(records) == 0:
		return &challengeFailure{domain.VDNSRecordNotFound, fmt.Sprintf("no TXT record found at %s; create one with the value %s", name, want)}
	case errors.As(err, &dnsErr):
		return &challengeFailure{domain.VDNSRecordNotFound, fmt.Sprintf("the DNS lookup of the TXT record at %s failed (%s); try again later", name, dnsErr.Err)}
	case err != nil:
		return &challengeFailure{domain.VDNSRecordNotFound, fmt.Sprintf("the DNS lookup of the TXT record at %s failed; try again later", name)}
	}
	found := make([]string, 0, len(records))
	for _, r := range records {
		if strings.TrimSpace(r) == want {
			return nil
		}
		found = append(found, fmt.Sprintf("%q", shorten(r, 100)))
	}
	if len(found) > 3 {
		found = append(found[:3], "...")
	}
	return &challengeFailure{domain.VDNSRecordMismatch, fmt.Sprintf("the TXT records at %s (%s) do not include %s",
		name, strings.Join(found, ", "), want)}
}

// checkHTTP fetches http://<d>/.well-known/orgs-challenge/<token> and expects a 2xx answering the token.
func (c *challenger) checkHTTP(ctx context.Context, d, token string) *challengeFailure {
	url := domain.ChallengeURL(d, token)
	fail := func(format string, args ...any) *challengeFailure {
		return &challengeFailure{domain.VHTTPChallengeFailed, url + ": " + fmt.Sprintf(format, args...)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail("not a valid URL")
	}
	req.Header.Set("User-Agent", "orgs-domain-verification")
	res, err := c.client.Do(req)
	if err != nil {
		return fail("%s", describeFetchError(err, d, c.timeout))
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		if res.StatusCode >= 300 && res.StatusCode <= 399 {
			return fail("answered HTTP %d, a redirect, which is not followed; serve the token at this URL itself", res.StatusCode)
		}
		return fail("answered HTTP %d; it must answer 2xx with the token as its body", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxChallengeBody+1))
	if err != nil {
		return fail("%s", describeFetchError(err, d, c.timeout))
	}
	if len(body) > maxChallengeBody {
		return fail("the body is longer than %d bytes; it must be the token alone", maxChallengeBody)
	}
	if strings.TrimSpace(string(body)) != token {
		return fail("the body does not match the token; it must be the token alone")
	}
	return nil
}

// describeFetchError says why an HTTP challenge could not be fetched, without the service's internals.
func describeFetchError(err error, d string, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	if r, ok := outbound.IsRefused(err); ok {
		return fmt.Sprintf("%s resolves to %s, a %s address, which is refused", d, r.IP, r.Kind)
	}
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("%s has no address in DNS", d)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the DNS lookup of %s failed (%s)", d, dnsErr.Err)
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused"
	}
	for inner := errors.Unwrap(err); inner != nil; inner = errors.Unwrap(err) {
		err = inner
	}
	return "the request failed: " + shorten(err.Error(), 200)
}

// shorten cuts s to at most n runes.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "..."
}
