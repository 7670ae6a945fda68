package graph_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/outbound"
	"orgs/service"
)

// Domains are verified against servers the tests run: a DNS server on 127.0.0.1 (TXT and A records)
// and an HTTP server the domains resolve to; the service dials the HTTP server's port for port 80.

// testDNS is an authoritative DNS server for the names the test gives it; any other name is NXDOMAIN.
type testDNS struct {
	addr string
	mu   sync.Mutex
	txt  map[string][]string
	a    map[string][]string
}

func startTestDNS(t *testing.T) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testDNS{addr: pc.LocalAddr().String(), txt: map[string][]string{}, a: map[string][]string{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

// setTXT makes name's TXT records values (none: the name exists, without TXT records).
func (s *testDNS) setTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[dns.Fqdn(strings.ToLower(name))] = values
}

// setA makes name's A records ips.
func (s *testDNS) setA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a[dns.Fqdn(strings.ToLower(name))] = ips
}

func (s *testDNS) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	txt, hasTXT := s.txt[name]
	as, hasA := s.a[name]
	s.mu.Unlock()
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Rrtype: q.Qtype}
	switch {
	case !hasTXT && !hasA:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeTXT:
		for _, v := range txt {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
		}
	case q.Qtype == dns.TypeA:
		for _, ip := range as {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(ip)})
		}
	}
	_ = w.WriteMsg(m)
}

// challengeSite is the web server of the test's domains: it answers each host as the test says, and
// counts the requests it gets.
type challengeSite struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers map[string]http.HandlerFunc
	hits    atomic.Int64
}

func startChallengeSite(t *testing.T) *challengeSite {
	t.Helper()
	c := &challengeSite{answers: map[string]http.HandlerFunc{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		c.mu.Lock()
		h := c.answers[host]
		c.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// serve makes host answer h.
func (c *challengeSite) serve(host string, h http.HandlerFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[host] = h
}

// serveToken makes host answer body at the challenge path of token, and 404 elsewhere.
func (c *challengeSite) serveToken(host, token, body string) {
	c.serve(host, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != domain.ChallengePath+token {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	})
}

// domainEnv is an API whose domain checks go to the test's DNS server and web server.
type domainEnv struct {
	*api
	dns  *testDNS
	site *challengeSite
}

const domainTestTTL = 2 * time.Hour

// newDomainAPI serves the API with its outbound requests going to the test's servers; allowPrivate is
// OUTBOUND_ALLOW_PRIVATE (the test servers listen on 127.0.0.1).
func newDomainAPI(t *testing.T, allowPrivate bool) *domainEnv {
	t.Helper()
	e := &domainEnv{dns: startTestDNS(t), site: startChallengeSite(t)}
	_, port, _ := net.SplitHostPort(e.site.srv.Listener.Addr().String())
	cfg := testServiceConfig
	cfg.DomainVerificationTTL = domainTestTTL
	cfg.Outbound = outbound.Options{Resolver: e.dns.addr, AllowPrivate: allowPrivate, Timeout: time.Second,
		DialPorts: map[string]string{"80": port}}
	e.api = newAPIServing(t, store, service.New(store, cfg), "tenant "+t.Name(), httpapi.DefaultOptions, graph.DefaultHandlerOptions)
	return e
}

const domainFields = `id domain isPrimary isVerified isGenerated status verifiedAt lastFailure
  verification { dnsRecordName dnsRecordValue httpUrl httpBody expiresAt }`

// domainMutation runs a domain mutation with input and returns its payload.
func (a *api) domainMutation(key, name string, input map[string]any) map[string]any {
	a.t.Helper()
	inputType := strings.ToUpper(name[:1]) + name[1:] + "Input"
	selection := map[string]string{
		"addDomain":        `domain {` + domainFields + `}`,
		"verifyDomain":     `domain {` + domainFields + `}`,
		"setPrimaryDomain": `organization { id primaryDomain details { sequence } domains { id domain isPrimary } }`,
		"removeDomain":     `removedDomainId`,
	}[name]
	q := fmt.Sprintf(`mutation($input: %s!) { %s(input: $input) { clientMutationId %s userErrors { field message code } } }`,
		inputType, name, selection)
	r := a.post(key, q, map[string]any{"input": input})
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		a.t.Fatalf("%s: status %d, %s", name, r.Status, r.Raw)
	}
	return r.Data[name].(map[string]any)
}

// domainOK runs a domain mutation that must succeed.
func (a *api) domainOK(name string, input map[string]any) map[string]any {
	a.t.Helper()
	p := a.domainMutation(a.key, name, input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("%s %v: %+v", name, input, errs)
	}
	return p
}

// addDomainOK adds name to the organization and returns the domain.
func (a *api) addDomainOK(orgID, name string) map[string]any {
	a.t.Helper()
	return a.domainOK("addDomain", map[string]any{"organizationId": orgID, "domain": name})["domain"].(map[string]any)
}

// wantDomainError checks that payload has exactly one userError, code at field.
func wantDomainError(t *testing.T, payload map[string]any, field, code string) userError {
	t.Helper()
	errs := userErrors(payload)
	if len(errs) != 1 || errs[0].Field != field || errs[0].Code != code {
		t.Fatalf("userErrors = %+v, want %s at %s", errs, code, field)
	}
	return errs[0]
}

// orgState is what an organization's domains and log are.
type orgState struct {
	Sequence      int
	PrimaryDomain string
	Domains       map[string]map[string]any // by domain
	Events        []map[string]any
}

func (a *api) orgState(orgID string) orgState {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { primaryDomain details { sequence }
  domains { `+domainFields+` }
  events(first: 100) { nodes { sequence type changes { field from to } data } } } }`, map[string]any{"id": orgID})
	if len(r.Errors) > 0 {
		a.t.Fatalf("organization: %s", r.Raw)
	}
	o := r.Data["organization"].(map[string]any)
	s := orgState{Sequence: int(o["details"].(map[string]any)["sequence"].(float64)), PrimaryDomain: o["primaryDomain"].(string),
		Domains: map[string]map[string]any{}}
	for _, d := range o["domains"].([]any) {
		s.Domains[d.(map[string]any)["domain"].(string)] = d.(map[string]any)
	}
	for _, e := range o["events"].(map[string]any)["nodes"].([]any) {
		s.Events = append(s.Events, e.(map[string]any))
	}
	return s
}

// lastEvent returns the organization's last event, which must be of type typ.
func (s orgState) lastEvent(t *testing.T, typ string) map[string]any {
	t.Helper()
	e := s.Events[len(s.Events)-1]
	if e["type"] != typ || int(e["sequence"].(float64)) != s.Sequence {
		t.Fatalf("last event = %v (sequence %d), want %s", e, s.Sequence, typ)
	}
	return e
}

// changesOf returns an event's changes as "field: from -> to".
func domainChangesOf(e map[string]any) string {
	var out []string
	for _, c := range e["changes"].([]any) {
		m := c.(map[string]any)
		out = append(out, fmt.Sprintf("%s: %v -> %v", m["field"], m["from"], m["to"]))
	}
	return strings.Join(out, "; ")
}

func TestAddDomain(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	org := e.createOK(map[string]any{"name": "Domain Adders"})
	id := org["id"].(string)

	before := time.Now()
	d := e.addDomainOK(id, "  Bücher.Example.TEST. ")
	if d["domain"] != "xn--bcher-kva.example.test" || d["status"] != "PENDING" || d["isVerified"] != false ||
		d["isPrimary"] != false || d["isGenerated"] != false || d["verifiedAt"] != nil || d["id"] == "" {
		t.Fatalf("added domain = %v", d)
	}
	v := d["verification"].(map[string]any)
	token := v["httpBody"].(string)
	if len(token) < 32 || v["dnsRecordName"] != "_orgs-challenge.xn--bcher-kva.example.test" ||
		v["dnsRecordValue"] != "orgs-verification="+token ||
		v["httpUrl"] != "http://xn--bcher-kva.example.test/.well-known/orgs-challenge/"+token {
		t.Fatalf("verification = %v", v)
	}
	expires, err := time.Parse(time.RFC3339, v["expiresAt"].(string))
	if err != nil || expires.Before(before.Add(domainTestTTL-time.Minute)) || expires.After(time.Now().Add(domainTestTTL+time.Minute)) {
		t.Errorf("expiresAt = %v, want about %s from now", v["expiresAt"], domainTestTTL)
	}

	s := e.orgState(id)
	if got := s.Domains["xn--bcher-kva.example.test"]; got == nil || got["id"] != d["id"] || got["status"] != "PENDING" ||
		got["verification"].(map[string]any)["httpBody"] != token {
		t.Errorf("domains = %v", s.Domains)
	}
	gen := s.Domains[org["slug"].(string)+".orgs.test"]
	if gen == nil || gen["status"] != "VERIFIED" || gen["isGenerated"] != true || gen["verification"] != nil || gen["verifiedAt"] == nil {
		t.Errorf("generated domain = %v", gen)
	}
	ev := s.lastEvent(t, "domain.added")
	if s.Sequence != 2 || domainChangesOf(ev) != "domains."+d["id"].(string)+": <nil> -> xn--bcher-kva.example.test" ||
		ev["data"].(map[string]any)["domainId"] != d["id"] {
		t.Errorf("domain.added = %v (sequence %d)", ev, s.Sequence)
	}

	// The rules of primaryDomain, and IP addresses refused.
	for _, c := range []struct{ domain, code string }{
		{"", "BLANK"}, {"not a domain!", "INVALID_FORMAT"}, {"192.0.2.1", "INVALID_VALUE"}, {"[2001:db8::1]", "INVALID_VALUE"},
		{"acme.orgs.test", "INVALID_VALUE"}, {"orgs.test", "INVALID_VALUE"},
	} {
		p := e.domainMutation(e.key, "addDomain", map[string]any{"organizationId": id, "domain": c.domain})
		wantDomainError(t, p, "input.domain", c.code)
		if p["domain"] != nil {
			t.Errorf("%q: a domain was returned: %v", c.domain, p["domain"])
		}
	}
	// Another organization of the tenant cannot take it, pending or not.
	other := e.createOK(map[string]any{"name": "Domain Takers"})["id"].(string)
	p := e.domainMutation(e.key, "addDomain", map[string]any{"organizationId": other, "domain": "BÜCHER.example.test"})
	wantDomainError(t, p, "input.domain", "TAKEN")
	// A verified domain of the organization itself is TAKEN too.
	e.dns.setTXT("_orgs-challenge.xn--bcher-kva.example.test", "orgs-verification="+token)
	e.domainOK("verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"})
	p = e.domainMutation(e.key, "addDomain", map[string]any{"organizationId": id, "domain": "xn--bcher-kva.example.test"})
	wantDomainError(t, p, "input.domain", "TAKEN")
	if s2 := e.orgState(id); s2.Sequence != 3 || e.orgState(other).Sequence != 1 {
		t.Errorf("refused adds wrote events: sequences %d and %d", s2.Sequence, e.orgState(other).Sequence)
	}

	// Unknown, another tenant's or a deleted organization: NOT_FOUND at organizationId.
	foreign := newAPIInOtherTenant(t).createOK(map[string]any{"name": "Foreign"})["id"].(string)
	removed := e.createOK(map[string]any{"name": "Removed"})["id"].(string)
	if _, err := e.store.DB().Exec(`UPDATE organizations SET status = 'REMOVED', removed_at = now() WHERE tenant_id = $1 AND id = $2`,
		e.actor.TenantID, removed); err != nil {
		t.Fatal(err)
	}
	for _, orgID := range []string{foreign, removed, "not-an-id", "00000000-0000-0000-0000-000000000000"} {
		p := e.domainMutation(e.key, "addDomain", map[string]any{"organizationId": orgID, "domain": "new.example.test"})
		wantDomainError(t, p, "input.organizationId", "NOT_FOUND")
	}
}

// TestAddDomainRace adds one domain to several organizations at once: exactly one gets it.
func TestAddDomainRace(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	const n = 8
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.createOK(map[string]any{"name": fmt.Sprintf("Racer %d", i)})["id"].(string)
	}
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range ids {
		wg.Go(func() {
			results[i] = e.post(e.key, `mutation($input: AddDomainInput!) { addDomain(input: $input) { domain { id } userErrors { field message code } } }`,
				map[string]any{"input": map[string]any{"organizationId": ids[i], "domain": "contended.example.test"}})
		})
	}
	wg.Wait()
	won, taken := 0, 0
	for _, r := range results {
		if len(r.Errors) > 0 {
			t.Fatalf("addDomain: %s", r.Raw)
		}
		p := r.Data["addDomain"].(map[string]any)
		switch errs := userErrors(p); {
		case len(errs) == 0 && p["domain"] != nil:
			won++
		case len(errs) == 1 && errs[0].Code == "TAKEN" && errs[0].Field == "input.domain":
			taken++
		default:
			t.Errorf("addDomain = %v", p)
		}
	}
	if won != 1 || taken != n-1 {
		t.Errorf("%d added, %d TAKEN; want 1 and %d", won, taken, n-1)
	}
}

func TestVerifyDomainByDNS(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	id := e.createOK(map[string]any{"name": "DNS Verifiers"})["id"].(string)
	d := e.addDomainOK(id, "dns.example.test")
	v := d["verification"].(map[string]any)
	e.dns.setTXT(v["dnsRecordName"].(string), "v=spf1 -all", v["dnsRecordValue"].(string))

	p := e.domainOK("verifyDomain", map[string]any{"clientMutationId": "c1", "domainId": d["id"], "method": "DNS_TXT"})
	got := p["domain"].(map[string]any)
	if p["clientMutationId"] != "c1" || got["status"] != "VERIFIED" || got["isVerified"] != true || got["verifiedAt"] == nil ||
		got["verification"] != nil || got["lastFailure"] != nil {
		t.Fatalf("verifyDomain = %v", p)
	}
	s := e.orgState(id)
	ev := s.lastEvent(t, "domain.verified")
	if domainChangesOf(ev) != "domains."+d["id"].(string)+".status: PENDING -> VERIFIED" || ev["data"].(map[string]any)["method"] != "DNS_TXT" {
		t.Errorf("domain.verified = %v", ev)
	}
	if s.Domains["dns.example.test"]["status"] != "VERIFIED" {
		t.Errorf("domains = %v", s.Domains)
	}
	// Verifying a verified domain changes nothing.
	e.dns.setTXT(v["dnsRecordName"].(string))
	if p := e.domainOK("verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"}); p["domain"].(map[string]any)["status"] != "VERIFIED" {
		t.Errorf("verifyDomain again = %v", p)
	}
	if e.orgState(id).Sequence != s.Sequence {
		t.Error("verifying a verified domain wrote an event")
	}
}

func TestVerifyDomainDNSFailures(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	id := e.createOK(map[string]any{"name": "DNS Failures"})["id"].(string)
	d := e.addDomainOK(id, "dnsfail.example.test")
	v := d["verification"].(map[string]any)
	name := v["dnsRecordName"].(string)
	verify := func() map[string]any {
		return e.domainMutation(e.key, "verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"})
	}
	seq := e.orgState(id).Sequence

	check := func(what, code, inMessage string) {
		t.Helper()
		p := verify()
		ue := wantDomainError(t, p, "input.domainId", code)
		if !strings.Contains(ue.Message, inMessage) {
			t.Errorf("%s: message %q does not say %q", what, ue.Message, inMessage)
		}
		got := p["domain"].(map[string]any)
		if got["status"] != "FAILED" || got["lastFailure"] != ue.Message || got["verification"] == nil {
			t.Errorf("%s: domain = %v", what, got)
		}
		// The failure is recorded: the domain is FAILED and the attempt is in the log.
		seq++
		s := e.orgState(id)
		ev := s.lastEvent(t, "domain.verification_failed")
		data := ev["data"].(map[string]any)
		if s.Sequence != seq || data["code"] != code || data["reason"] != ue.Message || s.Domains["dnsfail.example.test"]["status"] != "FAILED" {
			t.Errorf("%s: sequence %d (want %d), event %v, domains %v", what, s.Sequence, seq, ev, s.Domains)
		}
	}
	// No such name (NXDOMAIN).
	check("NXDOMAIN", "DNS_RECORD_NOT_FOUND", name)
	// The name exists, without TXT records.
	e.dns.setTXT(name)
	e.dns.setA(name, "192.0.2.10")
	check("no TXT", "DNS_RECORD_NOT_FOUND", name)
	// TXT records, none the right one.
	e.dns.setTXT(name, "orgs-verification=someone-else", "v=spf1 -all")
	check("wrong value", "DNS_RECORD_MISMATCH", "orgs-verification=someone-else")
	if ev := e.orgState(id).lastEvent(t, "domain.verification_failed"); domainChangesOf(ev) != "" {
		t.Errorf("a FAILED domain failing again changed fields: %v", ev)
	}
	// A failed domain can be tried again.
	e.dns.setTXT(name, "  "+v["dnsRecordValue"].(string)+" ")
	p := e.domainOK("verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"})
	if got := p["domain"].(map[string]any); got["status"] != "VERIFIED" || got["lastFailure"] != nil {
		t.Errorf("verified after failures = %v", got)
	}
	if ev := e.orgState(id).lastEvent(t, "domain.verified"); domainChangesOf(ev) != "domains."+d["id"].(string)+".status: FAILED -> VERIFIED" {
		t.Errorf("domain.verified = %v", ev)
	}
}

func TestVerifyDomainByHTTP(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	id := e.createOK(map[string]any{"name": "HTTP Verifiers"})["id"].(string)
	d := e.addDomainOK(id, "web.example.test")
	token := d["verification"].(map[string]any)["httpBody"].(string)
	e.dns.setA("web.example.test", "127.0.0.1")
	e.site.serveToken("web.example.test", token, token+"\n")

	p := e.domainOK("verifyDomain", map[string]any{"domainId": d["id"], "method": "HTTP"})
	if got := p["domain"].(map[string]any); got["status"] != "VERIFIED" || got["verifiedAt"] == nil || got["verification"] != nil {
		t.Fatalf("verifyDomain = %v", p)
	}
	if ev := e.orgState(id).lastEvent(t, "domain.verified"); ev["data"].(map[string]any)["method"] != "HTTP" {
		t.Errorf("domain.verified = %v", ev)
	}
}

func TestVerifyDomainHTTPFailures(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	id := e.createOK(map[string]any{"name": "HTTP Failures"})["id"].(string)
	d := e.addDomainOK(id, "webfail.example.test")
	token := d["verification"].(map[string]any)["httpBody"].(string)
	e.dns.setA("webfail.example.test", "127.0.0.1")
	e.dns.setA("elsewhere.example.test", "127.0.0.1")
	var elsewhere atomic.Int64
	e.site.serve("elsewhere.example.test", func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		fmt.Fprint(w, token)
	})

	for _, c := range []struct {
		what, inMessage string
		answer          http.HandlerFunc
	}{
		{"not found", "HTTP 404", http.NotFound},
		{"server error", "HTTP 500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, token, 500) }},
		{"wrong body", "does not match", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "not the token") }},
		{"redirect", "redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example.test"+domain.ChallengePath+token, http.StatusFound)
		}},
		{"too long", "longer than", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, token+strings.Repeat(" ", 8<<10)) }},
		{"timeout", "no answer within", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
	} {
		e.site.serve("webfail.example.test", c.answer)
		p := e.domainMutation(e.key, "verifyDomain", map[string]any{"domainId": d["id"], "method": "HTTP"})
		ue := wantDomainError(t, p, "input.domainId", "HTTP_CHALLENGE_FAILED")
		if !strings.Contains(ue.Message, c.inMessage) || !strings.Contains(ue.Message, "http://webfail.example.test/.well-known/orgs-challenge/") {
			t.Errorf("%s: message %q does not say %q", c.what, ue.Message, c.inMessage)
		}
		if got := p["domain"].(map[string]any); got["status"] != "FAILED" || got["lastFailure"] != ue.Message {
			t.Errorf("%s: domain = %v", c.what, got)
		}
	}
	if elsewhere.Load() != 0 {
		t.Error("a redirect was followed")
	}
	if s := e.orgState(id); s.Domains["webfail.example.test"]["status"] != "FAILED" || len(s.Events) != 2+6 {
		t.Errorf("after 6 failures: %d events, domains %v", len(s.Events), s.Domains)
	}
}

// TestVerifyDomainHTTPRefusesPrivateAddresses runs the HTTP check without OUTBOUND_ALLOW_PRIVATE: a
// domain that resolves to a loopback or private address is refused, and nothing is requested.
func TestVerifyDomainHTTPRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, false)
	id := e.createOK(map[string]any{"name": "Private Addresses"})["id"].(string)
	for host, kind := range map[string]string{"loop.example.test": "loopback", "lan.example.test": "private", "meta.example.test": "link-local"} {
		d := e.addDomainOK(id, host)
		token := d["verification"].(map[string]any)["httpBody"].(string)
		e.site.serveToken(host, token, token)
		switch kind {
		case "loopback":
			e.dns.setA(host, "127.0.0.1")
		case "private":
			e.dns.setA(host, "10.20.30.40")
		default:
			e.dns.setA(host, "169.254.169.254")
		}
		p := e.domainMutation(e.key, "verifyDomain", map[string]any{"domainId": d["id"], "method": "HTTP"})
		ue := wantDomainError(t, p, "input.domainId", "HTTP_CHALLENGE_FAILED")
		if !strings.Contains(ue.Message, kind+" address, which is refused") {
			t.Errorf("%s: message %q does not say it is a refused %s address", host, ue.Message, kind)
		}
	}
	if n := e.site.hits.Load(); n != 0 {
		t.Errorf("the web server got %d requests", n)
	}
}

func TestVerifyDomainExpired(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	id := e.createOK(map[string]any{"name": "Expired Tokens"})["id"].(string)
	d := e.addDomainOK(id, "late.example.test")
	v := d["verification"].(map[string]any)
	e.dns.setTXT(v["dnsRecordName"].(string), v["dnsRecordValue"].(string))
	if _, err := e.store.DB().Exec(`UPDATE organization_domains SET token_expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND id = $2`,
		e.actor.TenantID, d["id"]); err != nil {
		t.Fatal(err)
	}
	before := e.orgState(id)

	p := e.domainMutation(e.key, "verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"})
	ue := wantDomainError(t, p, "input.domainId", "VERIFICATION_EXPIRED")
	if !strings.Contains(ue.Message, "addDomain") || p["domain"] != nil {
		t.Errorf("expired: %v", p)
	}
	if s := e.orgState(id); s.Sequence != before.Sequence || s.Domains["late.example.test"]["status"] != "PENDING" {
		t.Errorf("an expired token wrote: sequence %d -> %d, %v", before.Sequence, s.Sequence, s.Domains["late.example.test"])
	}

	// Adding the domain again issues a new token for the same domain.
	again := e.addDomainOK(id, "late.example.test")
	nv := again["verification"].(map[string]any)
	if again["id"] != d["id"] || again["status"] != "PENDING" || nv["httpBody"] == v["httpBody"] || nv["expiresAt"] == v["expiresAt"] {
		t.Fatalf("renewed = %v, was %v", again, d)
	}
	ev := e.orgState(id).lastEvent(t, "domain.added")
	if ev["data"].(map[string]any)["renewed"] != true || !strings.Contains(domainChangesOf(ev), ".verification.expiresAt") {
		t.Errorf("renewal event = %v", ev)
	}
	// The old token no longer proves it; the new one does.
	p = e.domainMutation(e.key, "verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"})
	wantDomainError(t, p, "input.domainId", "DNS_RECORD_MISMATCH")
	e.dns.setTXT(nv["dnsRecordName"].(string), nv["dnsRecordValue"].(string))
	if p := e.domainOK("verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"}); p["domain"].(map[string]any)["status"] != "VERIFIED" {
		t.Errorf("verify with the new token = %v", p)
	}
}

// TestCreatedPrimaryDomainIsVerified: the primaryDomain given at creation is PENDING, with a token, until
// verified like any other.
func TestCreatedPrimaryDomainIsVerified(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	org := e.createOK(map[string]any{"name": "Own Domain", "primaryDomain": "own.example.test"})
	id := org["id"].(string)
	d := e.orgState(id).Domains["own.example.test"]
	if d == nil || d["isPrimary"] != true || d["status"] != "PENDING" || d["verification"] == nil {
		t.Fatalf("created primary domain = %v", d)
	}
	v := d["verification"].(map[string]any)
	if exp, _ := time.Parse(time.RFC3339, v["expiresAt"].(string)); time.Until(exp) < domainTestTTL-time.Minute {
		t.Errorf("expiresAt = %v, want about %s from now", v["expiresAt"], domainTestTTL)
	}
	e.dns.setTXT(v["dnsRecordName"].(string), v["dnsRecordValue"].(string))
	p := e.domainOK("verifyDomain", map[string]any{"domainId": d["id"], "method": "DNS_TXT"})
	if got := p["domain"].(map[string]any); got["status"] != "VERIFIED" || got["isPrimary"] != true {
		t.Errorf("verified primary domain = %v", got)
	}
}

func TestSetPrimaryDomain(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	org := e.createOK(map[string]any{"name": "Primary Movers"})
	id := org["id"].(string)
	generated := org["slug"].(string) + ".orgs.test"
	pending := e.addDomainOK(id, "pending.example.test")
	verified := e.addDomainOK(id, "verified.example.test")
	v := verified["verification"].(map[string]any)
	e.dns.setTXT(v["dnsRecordName"].(string), v["dnsRecordValue"].(string))
	e.domainOK("verifyDomain", map[string]any{"domainId": verified["id"], "method": "DNS_TXT"})
	seq := e.orgState(id).Sequence

	// A pending domain cannot be primary; nothing is written.
	p := e.domainMutation(e.key, "setPrimaryDomain", map[string]any{"domainId": pending["id"]})
	wantDomainError(t, p, "input.domainId", "INVALID_STATE")
	if p["organization"] != nil || e.orgState(id).Sequence != seq {
		t.Errorf("refused setPrimaryDomain: %v", p)
	}

	// A verified one can.
	p = e.domainOK("setPrimaryDomain", map[string]any{"clientMutationId": "m", "domainId": verified["id"]})
	o := p["organization"].(map[string]any)
	if p["clientMutationId"] != "m" || o["primaryDomain"] != "verified.example.test" || int(o["details"].(map[string]any)["sequence"].(float64)) != seq+1 {
		t.Fatalf("setPrimaryDomain = %v", p)
	}
	primaries := 0
	for _, d := range o["domains"].([]any) {
		if m := d.(map[string]any); m["isPrimary"] == true {
			primaries++
			if m["id"] != verified["id"] {
				t.Errorf("primary domain = %v", m)
			}
		}
	}
	if primaries != 1 {
		t.Errorf("%d primary domains", primaries)
	}
	s := e.orgState(id)
	ev := s.lastEvent(t, "domain.primary_changed")
	if domainChangesOf(ev) != "primaryDomain: "+generated+" -> verified.example.test" {
		t.Errorf("domain.primary_changed = %v", ev)
	}
	if r := e.post(e.key, `query($id: ID!) { organization(id: $id) { primaryDomain } }`, map[string]any{"id": id}); r.Data["organization"].(map[string]any)["primaryDomain"] != "verified.example.test" {
		t.Errorf("organization.primaryDomain = %s", r.Raw)
	}

	// Again: nothing changes. Back to the generated domain: allowed.
	e.domainOK("setPrimaryDomain", map[string]any{"domainId": verified["id"]})
	if e.orgState(id).Sequence != s.Sequence {
		t.Error("setting the primary domain primary again wrote an event")
	}
	gen := s.Domains[generated]
	o = e.domainOK("setPrimaryDomain", map[string]any{"domainId": gen["id"]})["organization"].(map[string]any)
	if o["primaryDomain"] != generated {
		t.Errorf("back to the generated domain: %v", o)
	}
}

func TestRemoveDomain(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	org := e.createOK(map[string]any{"name": "Domain Removers", "primaryDomain": "main.example.test"})
	id := org["id"].(string)
	s := e.orgState(id)
	primary, generated := s.Domains["main.example.test"], s.Domains[org["slug"].(string)+".orgs.test"]
	extra := e.addDomainOK(id, "extra.example.test")
	seq := s.Sequence + 1

	for what, domainID := range map[string]any{"primary": primary["id"], "generated": generated["id"]} {
		p := e.domainMutation(e.key, "removeDomain", map[string]any{"domainId": domainID})
		wantDomainError(t, p, "input.domainId", "INVALID_STATE")
		if p["removedDomainId"] != nil {
			t.Errorf("%s: %v", what, p)
		}
	}
	if e.orgState(id).Sequence != seq {
		t.Error("a refused removeDomain wrote an event")
	}

	p := e.domainOK("removeDomain", map[string]any{"clientMutationId": "r", "domainId": extra["id"]})
	if p["removedDomainId"] != extra["id"] || p["clientMutationId"] != "r" {
		t.Fatalf("removeDomain = %v", p)
	}
	s = e.orgState(id)
	if _, ok := s.Domains["extra.example.test"]; ok || len(s.Domains) != 2 {
		t.Errorf("domains after remove = %v", s.Domains)
	}
	if ev := s.lastEvent(t, "domain.removed"); domainChangesOf(ev) != "domains."+extra["id"].(string)+": extra.example.test -> <nil>" {
		t.Errorf("domain.removed = %v", ev)
	}
	// Gone: NOT_FOUND; and the domain is free for another organization.
	p = e.domainMutation(e.key, "removeDomain", map[string]any{"domainId": extra["id"]})
	wantDomainError(t, p, "input.domainId", "NOT_FOUND")
	other := e.createOK(map[string]any{"name": "Next Owner"})["id"].(string)
	e.addDomainOK(other, "extra.example.test")
}

// TestDomainsOfOtherTenants: a domain of another tenant, or of a deleted organization, is not found.
func TestDomainsOfOtherTenants(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	foreign := newAPIInOtherTenant(t)
	fid := foreign.createOK(map[string]any{"name": "Foreign Domains"})["id"].(string)
	fd := foreign.addDomainOK(fid, "foreign.example.test")

	id := e.createOK(map[string]any{"name": "Soon Removed"})["id"].(string)
	gone := e.addDomainOK(id, "gone.example.test")
	if _, err := e.store.DB().Exec(`UPDATE organizations SET status = 'REMOVED', removed_at = now() WHERE tenant_id = $1 AND id = $2`,
		e.actor.TenantID, id); err != nil {
		t.Fatal(err)
	}
	for _, domainID := range []any{fd["id"], gone["id"], "nope", "00000000-0000-0000-0000-000000000000"} {
		for _, m := range []string{"verifyDomain", "setPrimaryDomain", "removeDomain"} {
			input := map[string]any{"domainId": domainID}
			if m == "verifyDomain" {
				input["method"] = "DNS_TXT"
			}
			wantDomainError(t, e.domainMutation(e.key, m, input), "input.domainId", "NOT_FOUND")
		}
	}
	if n := foreign.orgState(fid).Sequence; n != 2 {
		t.Errorf("the other tenant's organization changed: sequence %d", n)
	}
}

// TestDomainMutationsNeedOrganizationUpdate: without ORGANIZATION_UPDATE, FORBIDDEN and nothing written.
func TestDomainMutationsNeedOrganizationUpdate(t *testing.T) {
	t.Parallel()
	e := newDomainAPI(t, true)
	id := e.createOK(map[string]any{"name": "Read Only"})["id"].(string)
	d := e.addDomainOK(id, "ro.example.test")
	v := d["verification"].(map[string]any)
	e.dns.setTXT(v["dnsRecordName"].(string), v["dnsRecordValue"].(string))
	reader, _ := e.newKey("reader", domain.PermOrganizationRead, domain.PermOrganizationCreate, domain.PermOrganizationDelete)
	before := e.orgState(id)
	for m, input := range map[string]map[string]any{
		"addDomain":        {"organizationId": id, "domain": "ro2.example.test"},
		"verifyDomain":     {"domainId": d["id"], "method": "DNS_TXT"},
		"setPrimaryDomain": {"domainId": d["id"]},
		"removeDomain":     {"domainId": d["id"]},
	} {
		r := e.post(reader, fmt.Sprintf(`mutation($input: %sInput!) { %s(input: $input) { clientMutationId } }`, strings.ToUpper(m[:1])+m[1:], m),
			map[string]any{"input": input})
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["permission"] != "ORGANIZATION_UPDATE" {
			t.Errorf("%s without ORGANIZATION_UPDATE: %s", m, r.Raw)
		}
	}
	after := e.orgState(id)
	if after.Sequence != before.Sequence || len(after.Domains) != len(before.Domains) || after.Domains["ro.example.test"]["status"] != "PENDING" {
		t.Errorf("forbidden mutations wrote: %v -> %v", before, after)
	}
}
