package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// The fault tests run the server against a PostgreSQL cluster of their own, started in a temporary
// directory on a free port (never a shared server, which they crash): PostgreSQL stopped in immediate
// mode and started again under load, and a rolling restart of two replicas under load. Each prints its
// figures (go test -v -run TestFaults, or make faults); docs/operations.md records them.

// privateCluster is a throw-away PostgreSQL cluster.
type privateCluster struct {
	t       *testing.T
	bin     string // the directory of initdb, pg_ctl
	dir     string
	data    string
	port    int
	osUser  string // the account that runs it when the tests run as root ("" otherwise)
	logFile string
}

// findPostgres returns the directory of initdb and pg_ctl: on PATH, else the newest of
// /usr/lib/postgresql/*/bin.
func findPostgres() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// startPrivateCluster initialises and starts a cluster; it is stopped and removed when the test ends.
// initdb refuses to run as root: as root the cluster belongs to the "postgres" account, as
// scripts/localpg.sh does it.
func startPrivateCluster(t *testing.T) *privateCluster {
	t.Helper()
	bin := findPostgres()
	if bin == "" {
		t.Skip("fault tests skipped: PostgreSQL's server programs (initdb, pg_ctl) are neither on PATH nor under /usr/lib/postgresql/*/bin")
	}
	c := &privateCluster{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Skip("fault tests skipped: running as root and no postgres account to run the cluster as")
		}
		c.osUser = "postgres"
	}
	dir, err := os.MkdirTemp("", "orgs-faults-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data, c.logFile = dir, filepath.Join(dir, "data"), filepath.Join(dir, "log")
	t.Cleanup(func() {
		c.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if c.osUser != "" {
		u, _ := user.Lookup(c.osUser)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if out, err := c.command("initdb", "-D", c.data, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A crash of the server (not of the machine) loses nothing written to the kernel: fsync can be off,
	// but commits must be written before they are acknowledged (synchronous_commit on, the default).
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = ''\nmax_connections = 200\n"+
		"fsync = off\nfull_page_writes = off\n", c.port)
	if out, err := c.command("sh", "-c", `cat >> "$1/postgresql.conf"`, "sh", c.data).CombinedOutputWithStdin(conf); err != nil {
		t.Fatalf("configure: %v\n%s", err, out)
	}
	c.start()
	admin, err := sqlx.Connect("postgres", c.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	admin.MustExec(`CREATE DATABASE orgs`)
	return c
}

// clusterCommand is a command run as the cluster's account.
type clusterCommand struct{ *exec.Cmd }

func (c *privateCluster) command(name string, args ...string) clusterCommand {
	if filepath.Base(name) == name && name != "sh" {
		name = filepath.Join(c.bin, name)
	}
	var cmd *exec.Cmd
	if c.osUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.osUser, "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = c.dir
	return clusterCommand{cmd}
}

func (c clusterCommand) CombinedOutputWithStdin(stdin string) ([]byte, error) {
	c.Stdin = strings.NewReader(stdin)
	return c.CombinedOutput()
}

func (c *privateCluster) pgctl(args ...string) error {
	out, err := c.command("pg_ctl", append([]string{"-D", c.data, "-l", c.logFile, "-w", "-t", "60"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (c *privateCluster) start() {
	c.t.Helper()
	if err := c.pgctl("start"); err != nil {
		log, _ := os.ReadFile(c.logFile)
		c.t.Fatalf("%v\n%s", err, log)
	}
}

// crash stops the server at once, as a crash would: no checkpoint, connections dropped.
func (c *privateCluster) crash() {
	c.t.Helper()
	if err := c.pgctl("stop", "-m", "immediate"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *privateCluster) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// createAnswer is what a client made of one createOrganization request.
type createAnswer int

const (
	answerCreated     createAnswer = iota
	answerUnavailable              // 503 UNAVAILABLE: retry
	answerInUse                    // IDEMPOTENCY_KEY_IN_USE: retry
	answerRefused                  // no connection: retry
	answerFailed                   // anything else: a failure
)

const faultCreate = `mutation($name: String!) { createOrganization(input: {name: $name}) { organization { id name } userErrors { code message } } }`

// postCreate sends one create of name with idempotency key key (none when ""), and classifies the answer.
func postCreate(client *http.Client, base, apiKey, name, key string) (createAnswer, string, string) {
	body, _ := json.Marshal(map[string]any{"query": faultCreate, "variables": map[string]any{"name": name}})
	req, _ := http.NewRequest(http.MethodPost, base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return answerRefused, "", err.Error()
		}
		return answerFailed, "", err.Error()
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		Data struct {
			CreateOrganization *struct {
				Organization *struct{ ID string }
				UserErrors   []struct{ Code string }
			}
		}
		Errors []struct {
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return answerFailed, "", fmt.Sprintf("%d %s", res.StatusCode, raw)
	}
	switch p := out.Data.CreateOrganization; {
	case res.StatusCode == http.StatusServiceUnavailable && len(out.Errors) == 1 && out.Errors[0].Extensions.Code == "UNAVAILABLE" &&
		res.Header.Get("Retry-After") != "":
		return answerUnavailable, "", ""
	case res.StatusCode == http.StatusOK && len(out.Errors) == 0 && p != nil && p.Organization != nil:
		return answerCreated, p.Organization.ID, ""
	case res.StatusCode == http.StatusOK && len(out.Errors) == 0 && p != nil && len(p.UserErrors) == 1 && p.UserErrors[0].Code == "IDEMPOTENCY_KEY_IN_USE":
		return answerInUse, "", ""
	}
	return answerFailed, "", fmt.Sprintf("%d %s", res.StatusCode, raw)
}

// TestFaults runs the fault tests one after the other on one private cluster (the first crashes it).
func TestFaults(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fault tests skipped in -short mode")
	}
	cluster := startPrivateCluster(t)
	t.Run("DatabaseCrashUnderLoad", func(t *testing.T) { testDatabaseCrash(t, cluster) })
	t.Run("RollingRestartUnderLoad", func(t *testing.T) { testRollingRestart(t, cluster) })
}

// testDatabaseCrash: clients create with an Idempotency-Key and retry on 503 UNAVAILABLE, IN_USE and
// refused connections while PostgreSQL is stopped in immediate mode and started again 3 s later. Every
// acknowledged create is there, none twice, every key is acknowledged within 5 s of the database's
// return, and the outage was answered UNAVAILABLE (never INTERNAL_SERVER_ERROR).
func testDatabaseCrash(t *testing.T, cluster *privateCluster) {
	vars := map[string]string{"DATABASE_URL": cluster.url("orgs"), "LISTEN_ADDR": freeAddr(t), "SHUTDOWN_DELAY": "0s",
		"RATE_LIMIT_PER_MINUTE": "0"}
	srv := startServer(t, vars)
	apiKey := newServerKey(t, vars, "crash")
	client := &http.Client{Timeout: 10 * time.Second}

	const clients = 8
	type ack struct {
		key, id    string
		first, ack time.Time
	}
	var (
		stop                            atomic.Bool
		mu                              sync.Mutex
		acks                            []ack
		failures                        []string
		unavailable, inUse, refused, ok atomic.Int64
		wg                              sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				key := fmt.Sprintf("client-%d-%d", c, n)
				first := time.Now()
				for attempt := 0; ; attempt++ {
					a, id, detail := postCreate(client, srv.base, apiKey, key, key)
					switch a {
					case answerCreated:
						ok.Add(1)
						mu.Lock()
						acks = append(acks, ack{key, id, first, time.Now()})
						mu.Unlock()
					case answerUnavailable:
						unavailable.Add(1)
					case answerInUse:
						inUse.Add(1)
					case answerRefused:
						refused.Add(1)
					default:
						mu.Lock()
						failures = append(failures, key+": "+detail)
						mu.Unlock()
					}
					if a == answerCreated || a == answerFailed || time.Since(first) > 30*time.Second {
						break
					}
					time.Sleep(100 * time.Millisecond) // a client's pause between retries
				}
			}
		})
	}
	time.Sleep(time.Second)
	crashed := time.Now()
	cluster.crash()
	time.Sleep(3 * time.Second)
	cluster.start()
	back := time.Now()
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	outage := back.Sub(crashed)

	// Every acknowledged create is there, once; nothing else was created.
	conn, err := sqlx.Connect("postgres", cluster.url("orgs"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows []struct {
		ID   string `db:"id"`
		Name string `db:"name"`
	}
	if err := conn.Select(&rows, `SELECT id, name FROM organizations`); err != nil {
		t.Fatal(err)
	}
	stored := map[string][]string{}
	for _, r := range rows {
		stored[r.Name] = append(stored[r.Name], r.ID)
	}
	lost, duplicated, late := 0, 0, 0
	var recovery, slowest time.Duration
	for _, a := range acks {
		ids := stored[a.key]
		if !slices.Contains(ids, a.id) {
			lost++
		}
		if len(ids) > 1 {
			duplicated += len(ids) - 1
		}
		if a.first.Before(back) && a.ack.After(back) {
			wait := a.ack.Sub(back)
			slowest = max(slowest, wait)
			if wait > 5*time.Second {
				late++
			}
		}
		if a.ack.After(back) && (recovery == 0 || a.ack.Sub(back) < recovery) {
			recovery = a.ack.Sub(back)
		}
	}
	// Every key was acknowledged (or counted as a failure): an organization of no acknowledged create
	// would be a create the client never heard of.
	unacknowledged := len(rows) - len(acks) - duplicated
	t.Logf("database crash under load: %d clients, outage %s; %d creates acknowledged, %d lost, %d duplicated; "+
		"answers during the outage: %d UNAVAILABLE (503), %d IDEMPOTENCY_KEY_IN_USE, %d refused, %d other failures; "+
		"first create %s after the database's return, every key acknowledged within %s of it",
		clients, outage.Round(time.Millisecond), len(acks), lost, duplicated, unavailable.Load(), inUse.Load(), refused.Load(), len(failures),
		recovery.Round(time.Millisecond), slowest.Round(time.Millisecond))
	if lost != 0 || duplicated != 0 || unacknowledged != 0 {
		t.Errorf("%d acknowledged creates lost, %d duplicated, %d organizations never acknowledged", lost, duplicated, unacknowledged)
	}
	if len(failures) > 0 {
		t.Errorf("%d answers neither a create, UNAVAILABLE nor IN_USE, such as %s", len(failures), failures[0])
	}
	if late > 0 {
		t.Errorf("%d keys acknowledged more than 5s after the database's return (the slowest %s)", late, slowest)
	}
	if unavailable.Load() == 0 {
		t.Error("no UNAVAILABLE answer while the database was away")
	}
	// One line per request (the access log), and the outage logged once, never as internal errors.
	logs := srv.logs.String()
	lines, answers := strings.Count(logs, "\n"), int(ok.Load()+unavailable.Load()+inUse.Load())+len(failures)
	t.Logf("server log: %d lines for %d answers, %d \"database unavailable\", %d \"database back\"", lines, answers,
		strings.Count(logs, `"msg":"database unavailable"`), strings.Count(logs, `"msg":"database back"`))
	if strings.Contains(logs, "internal error") || strings.Count(logs, `"msg":"database unavailable"`) != 1 ||
		strings.Count(logs, `"msg":"database back"`) != 1 || lines > answers+20 {
		t.Errorf("server log of %d lines for %d answers, want one line per request, the outage and the return once, no internal error:\n%s",
			lines, answers, logs[:min(len(logs), 20000)])
	}
}

// testRollingRestart: two replicas on one database behind a round-robin proxy that sends only to the
// replicas whose /readyz answers 200, as load balancers do; clients create and read, and retry only when
// a connection is refused. Each replica in turn is stopped as SIGTERM does (SHUTDOWN_DELAY 1s) and
// started again: no request fails.
func testRollingRestart(t *testing.T, cluster *privateCluster) {
	common := map[string]string{"DATABASE_URL": cluster.url("orgs"), "SHUTDOWN_DELAY": "1s", "RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "warn"}
	replica := func(addr string) map[string]string {
		vars := map[string]string{"LISTEN_ADDR": addr}
		for k, v := range common {
			vars[k] = v
		}
		return vars
	}
	addrs := freeAddrs(t, 2)
	servers := []*testServer{startServer(t, replica(addrs[0])), startServer(t, replica(addrs[1]))}
	apiKey := newServerKey(t, replica(addrs[0]), "rolling")
	lb := newReadyProxy(t, addrs)

	client := &http.Client{Timeout: 10 * time.Second}
	const clients = 8
	var (
		stop                     atomic.Bool
		mu                       sync.Mutex
		failures                 []string
		requests, retries, ok    atomic.Int64
		wg                       sync.WaitGroup
		readQuery, readBody, err = `{ organizations(first: 5) { nodes { id name } } }`, []byte(nil), error(nil)
	)
	readBody, err = json.Marshal(map[string]any{"query": readQuery})
	if err != nil {
		t.Fatal(err)
	}
	for c := range clients {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				name := fmt.Sprintf("rolling-%d-%d", c, n)
				for {
					requests.Add(1)
					var a createAnswer
					var detail string
					if n%2 == 0 {
						a, _, detail = postCreate(client, lb.url, apiKey, name, "")
					} else {
						a, detail = postRead(client, lb.url, apiKey, readBody)
					}
					if a == answerRefused {
						retries.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					}
					if a == answerCreated {
						ok.Add(1)
					} else {
						mu.Lock()
						failures = append(failures, detail)
						mu.Unlock()
					}
					break
				}
			}
		})
	}
	start := time.Now()
	time.Sleep(time.Second)
	for i := range servers {
		servers[i].stop()
		if err := servers[i].wait(t, 30*time.Second); err != nil {
			t.Errorf("replica %d stopped with %v", i, err)
		}
		servers[i] = startServer(t, replica(addrs[i]))
		time.Sleep(time.Second)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("rolling restart of 2 replicas under load: %d clients, %s; %d requests, %d answered, %d failed, %d retried after a refused connection",
		clients, time.Since(start).Round(time.Millisecond), requests.Load(), ok.Load(), len(failures), retries.Load())
	if len(failures) > 0 {
		t.Errorf("%d requests failed during the rolling restart, such as %s", len(failures), failures[0])
	}
	if ok.Load() == 0 {
		t.Error("no request answered")
	}
}

// postRead sends a list of organizations.
func postRead(client *http.Client, base, apiKey string, body []byte) (createAnswer, string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return answerRefused, err.Error()
		}
		return answerFailed, err.Error()
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
		return answerFailed, fmt.Sprintf("%d %s", res.StatusCode, raw)
	}
	return answerCreated, ""
}

// readyProxy is a tiny load balancer: round robin over the backends whose /readyz answered 200 at its
// last check (every 100 ms). A backend that refuses the connection is skipped for the next one, as load
// balancers do (nothing was sent); a request that found no backend is refused.
type readyProxy struct {
	url      string
	backends []string
	ready    []atomic.Bool
	next     atomic.Uint64
}

func newReadyProxy(t *testing.T, backends []string) *readyProxy {
	p := &readyProxy{backends: backends, ready: make([]atomic.Bool, len(backends))}
	ctx, cancel := context.WithCancel(context.Background())
	check := func() {
		for i, b := range backends {
			res, err := http.Get("http://" + b + "/readyz")
			p.ready[i].Store(err == nil && res.StatusCode == http.StatusOK)
			if err == nil {
				res.Body.Close()
			}
		}
	}
	check()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				check()
			}
		}
	}()
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := p.next.Add(1)
		for i := range backends {
			b := int(n+uint64(i)) % len(backends)
			if !p.ready[b].Load() {
				continue
			}
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+backends[b]+r.URL.RequestURI(), bytes.NewReader(body))
			req.Header = r.Header.Clone()
			res, err := transport.RoundTrip(req)
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // nothing was sent: the next one
			}
			if err != nil {
				http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
				return
			}
			for k, v := range res.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(res.StatusCode)
			io.Copy(w, res.Body)
			res.Body.Close()
			return
		}
		// No backend: refuse, as a load balancer without one would close the connection.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				return
			}
		}
		http.Error(w, "no backend", http.StatusServiceUnavailable)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { cancel(); srv.Close(); transport.CloseIdleConnections() })
	p.url = "http://" + ln.Addr().String()
	return p
}

// freeAddrs returns n distinct free addresses (freeAddr twice may return the same one).
func freeAddrs(t *testing.T, n int) []string {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}
