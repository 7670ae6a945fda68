package outbound_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"orgs/outbound"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1":        "loopback",
		"127.255.0.9":      "loopback",
		"::1":              "loopback",
		"::ffff:127.0.0.1": "loopback",
		"10.0.0.1":         "private",
		"10.255.255.255":   "private",
		"172.16.0.1":       "private",
		"172.31.255.254":   "private",
		"192.168.1.1":      "private",
		"fc00::1":          "private",
		"fdff:ffff::1":     "private",
		"::ffff:10.1.2.3":  "private",
		"64:ff9b::a01:203": "private", // NAT64 of 10.1.2.3
		"169.254.169.254":  "link-local",
		"fe80::1":          "link-local",
		"febf::1":          "link-local",
		"0.0.0.0":          "unspecified",
		"::":               "unspecified",
		"224.0.0.1":        "multicast",
		"ff02::1":          "multicast",
		"100.64.0.1":       "reserved",
		"255.255.255.255":  "reserved",
		"0.1.2.3":          "reserved",
		"192.0.2.1":        "reserved",
		"2001:db8::1":      "reserved",
		"172.15.255.255":   "",
		"172.32.0.1":       "",
		"192.169.0.1":      "",
		"11.0.0.1":         "",
		"8.8.8.8":          "",
		"93.184.215.14":    "",
		"2606:4700::1111":  "",
		"fec0::1":          "",
	} {
		if got := outbound.Classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Classify(%s) = %q, want %q", addr, got, want)
		}
	}
}

// TestDialRefusesPrivateAddresses: the dialer refuses a non-public address (names resolved to one are
// tested with a DNS server in graph/domains_test.go), and connects only when private addresses are allowed.
func TestDialRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	refusing := outbound.NewDialer(outbound.Options{})
	for _, addr := range []string{net.JoinHostPort("127.0.0.1", port), "[::1]:" + port, "[::ffff:127.0.0.1]:" + port} {
		_, err := refusing.DialContext(context.Background(), "tcp", addr)
		if r, ok := outbound.IsRefused(err); !ok || r.Kind != "loopback" {
			t.Errorf("dial %s: %v, want a refused loopback address", addr, err)
		}
	}
	allowing := outbound.NewHTTPClient(outbound.Options{AllowPrivate: true, DialPorts: map[string]string{"80": port}})
	res, err := allowing.Get("http://127.0.0.1/")
	if err != nil {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("status %d", res.StatusCode)
	}
	refusingClient := outbound.NewHTTPClient(outbound.Options{DialPorts: map[string]string{"80": port}})
	if _, err := refusingClient.Get("http://127.0.0.1/"); err == nil {
		t.Error("the refusing client reached 127.0.0.1")
	} else if _, ok := outbound.IsRefused(err); !ok {
		t.Errorf("refusing client: %v, want a refused address", err)
	}
}
