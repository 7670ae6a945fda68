package mail

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/db/dbtest"
)

// store is the package's database: fresh, cloned from the migrated template.
//
// A worker claims due emails of every tenant, so the tests that run workers or claim emails do not run
// in parallel with one another (each leaves no pending email behind); the others do.
var store *db.Store

func TestMain(m *testing.M) {
	dbtest.Main(m, "mail", db.Options{MaxOpenConns: 20}, func(url string, s *db.Store) {
		store = s
	})
}

// newTenant inserts a tenant for the test and returns its id.
func newTenant(t *testing.T) string {
	t.Helper()
	id := uuid.NewString()
	if _, err := store.DB().Exec(`INSERT INTO tenants (id, name) VALUES ($1, $2)`, id, t.Name()+" "+id); err != nil {
		t.Fatalf("insert tenant: %v", err)
	}
	return id
}

// outboxRow is what the tests check of an email in the outbox.
type outboxRow struct {
	MessageID string     `db:"message_id"`
	Attempts  int        `db:"attempts"`
	SentAt    *time.Time `db:"sent_at"`
	FailedAt  *time.Time `db:"failed_at"`
	LastError *string    `db:"last_error"`
}

func outboxState(t *testing.T, tenantID, id string) outboxRow {
	t.Helper()
	var r outboxRow
	const q = `SELECT message_id, attempts, sent_at, failed_at, last_error FROM email_outbox WHERE tenant_id = $1 AND id = $2`
	if err := store.DB().Get(&r, q, tenantID, id); err != nil {
		t.Fatalf("read outbox row %s: %v", id, err)
	}
	return r
}

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second) // a bound for a loaded machine, not a timing assertion
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// syncBuffer collects log output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// newCert returns a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func newCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// newSMTPSender returns the sender of url, trusting pool when it is not nil.
func newSMTPSender(t *testing.T, url string, pool *x509.CertPool) *smtpSender {
	t.Helper()
	logger, _ := newLogger()
	s, err := NewSender(url, logger)
	if err != nil {
		t.Fatalf("NewSender(%q): %v", url, err)
	}
	ss, ok := s.(*smtpSender)
	if !ok {
		t.Fatalf("NewSender(%q) = %T, want *smtpSender", url, s)
	}
	if pool != nil {
		ss.tlsConfig = &tls.Config{RootCAs: pool}
	}
	return ss
}
