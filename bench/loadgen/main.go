// Command loadgen is the load generator of bench/run.sh: it drives the orgs server over HTTP with a
// fixed number of connections for a fixed time, summarises pgbench's per-transaction logs the same way,
// and prints the table of a run (or the medians of several).
//
//	loadgen run -url URL -key KEY -workload create|create-nested|list|list-full -conns N [-warmup 2s]
//	            [-duration 10s] [-pid PID]
//	            [-profile URL -profile-out FILE]
//	loadgen soak -url URL -key KEY -list-key KEY -pid PID [-duration 10m] [-conns 8] [-samples FILE]
//	loadgen seed -url URL -key KEY -n 60          create organizations to list
//	loadgen wait -url URL/readyz [-pid PID]       wait until the server answers 200
//	loadgen freeport                              print a free TCP port of 127.0.0.1
//	loadgen pgbench -logs GLOB -summary FILE -conns N [-warmup 2s] [-duration 10s] [-cpu FILE]
//	loadgen cpu [-warmup 2s] [-duration 10s]      the machine's CPU use over a window (for pgbench)
//	loadgen report RESULTS.jsonl...               the table (medians when given several files)
//
// run and pgbench print one JSON line each (see result): requests and latencies count only what
// completed inside the measured window, which starts after the warm-up; errors count the whole run.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "run":
		err = cmdRun(args)
	case "soak":
		err = cmdSoak(args)
	case "seed":
		err = cmdSeed(args)
	case "wait":
		err = cmdWait(args)
	case "freeport":
		err = cmdFreePort()
	case "pgbench":
		err = cmdPgbench(args)
	case "cpu":
		err = cmdCPU(args)
	case "report":
		err = cmdReport(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loadgen run|soak|seed|wait|freeport|pgbench|cpu|report [flags]  (see the package comment)")
	os.Exit(2)
}

// result is one measured run, one JSON line.
type result struct {
	Source   string  `json:"source"`   // "server" (HTTP through loadgen) or "pgbench" (the SQL alone)
	Workload string  `json:"workload"` // see workloads; pgbench: "create", "create-extended" or "gauge"
	Conns    int     `json:"conns"`
	Seconds  float64 `json:"seconds"`  // length of the measured window
	Requests int     `json:"requests"` // completed in the window
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Errors   int     `json:"errors"` // over the whole run, warm-up included
	// RSSPeakKB is the server's peak resident set size during the run (VmHWM, reset at its start when
	// the kernel allows it, else the peak since the server started).
	RSSPeakKB  int64  `json:"rss_peak_kb,omitempty"`
	RSSReset   bool   `json:"rss_reset,omitempty"`
	FirstError string `json:"first_error,omitempty"`
	// CPU used during the window, in cores: the whole machine, the server process and loadgen itself
	// (the rest is mostly PostgreSQL: the machine is expected to run nothing else).
	CPUMachine float64 `json:"cpu_machine"`
	CPUServer  float64 `json:"cpu_server,omitempty"`
	CPULoadgen float64 `json:"cpu_loadgen,omitempty"`
}

// percentile is the nearest-rank percentile of sorted values (p in 0..100).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// summarise fills the request count and latency percentiles of r from the window's latencies.
func summarise(r *result, lat []time.Duration, window time.Duration) {
	slices.Sort(lat)
	r.Seconds = window.Seconds()
	r.Requests = len(lat)
	r.RPS = float64(len(lat)) / window.Seconds()
	r.P50, r.P90, r.P99 = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
}

// ---------------------------------------------------------------------------------------------------
// HTTP workloads

const createQuery = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id slug } userErrors { field code message } } }`

// createNestedQuery is the create as users, the seeds and the peers of the issue ask for it: the
// organization with its details, default project, projects and owners.
const createNestedQuery = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id name slug description details { sequence creationDate changeDate resourceOwner } defaultProject { id name slug isDefault createdAt } projects { id name slug isDefault createdAt } owners { userId role joinedAt } } userErrors { field code message } } }`

const listQuery = `{ organizations(first: 50) { edges { node { id name slug defaultProject { id name } projects { id name } owners { id email } } } } }`

// listFullQuery is the list with every relation of an organization: the usual shape, and its domains,
// custom attributes, template and both connections.
const listFullQuery = `{ organizations(first: 50) { edges { node { id name slug defaultProject { id name } projects { id name } owners { id email }
  domains { domain isPrimary } customAttributes { key value } template { name }
  membersConnection(first: 10) { totalCount nodes { email role } } projectsConnection { totalCount nodes { id name } } } } } }`

// workloads are the workloads of run, by name.
var workloads = map[string]struct {
	body  func(*mrand.Rand, []byte) []byte
	check func([]byte) error
	label string
}{
	"create":        {createBody(createQuery), checkCreate, "createOrganization { id slug } (server)"},
	"create-nested": {createBody(createNestedQuery), checkCreate, "createOrganization, nested answer (server)"},
	"list":          {fixedBody(listQuery), checkList, "organizations(first: 50) nested (server)"},
	"list-full":     {fixedBody(listFullQuery), checkList, "organizations(first: 50), every relation (server)"},
}

// listSize is what the list workload must read back each time.
const listSize = 50

type client struct {
	url, key string
	http     *http.Client
}

func newClient(url, key string, conns int) *client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{url: url, key: key, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// post sends a GraphQL body and returns the answer's body, or an error for a transport failure or a
// status other than 200.
func (c *client) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return b, fmt.Errorf("HTTP %d: %.200s", res.StatusCode, b)
	}
	return b, nil
}

// conn is one keep-alive HTTP/1.1 connection of run, used by one goroutine: it writes each request
// itself and reads the answer with http.ReadResponse into a buffer it keeps. net/http's client hands
// every request and answer between goroutines (its read and write loops); on a 2-core machine shared
// with the server and PostgreSQL, that CPU is taken from what is measured.
type conn struct {
	addr, host, path, key string
	timeout               time.Duration
	c                     net.Conn
	r                     *bufio.Reader
	req, answer           bytes.Buffer
}

func newConn(rawURL, key string) (*conn, error) {
	u, err := neturl.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-url must be an http:// URL, not %q", rawURL)
	}
	return &conn{addr: u.Host, host: u.Host, path: u.RequestURI(), key: key, timeout: 30 * time.Second}, nil
}

// post sends body and returns the answer's body (valid until the next post), or an error for a transport
// failure or a status other than 200. A failed connection is dialled again by the next post.
func (c *conn) post(body []byte) ([]byte, error) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		c.c, c.r = nc, bufio.NewReaderSize(nc, 64<<10)
	}
	b, err := c.roundTrip(body)
	if err != nil {
		c.c.Close()
		c.c = nil
	}
	return b, err
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
	}
}

func (c *conn) roundTrip(body []byte) ([]byte, error) {
	c.c.SetDeadline(time.Now().Add(c.timeout))
	c.req.Reset()
	fmt.Fprintf(&c.req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		c.path, c.host, c.key, len(body))
	c.req.Write(body)
	if _, err := c.c.Write(c.req.Bytes()); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	c.answer.Reset()
	_, err = c.answer.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	if res.Close {
		return nil, errors.New("the server closed the connection")
	}
	b := c.answer.Bytes()
	if res.StatusCode != http.StatusOK {
		return b, fmt.Errorf("HTTP %d: %.200s", res.StatusCode, b)
	}
	return b, nil
}

// createBody makes the bodies of query, a createOrganization of a unique name ("bench" and 16 hex
// digits).
func createBody(query string) func(*mrand.Rand, []byte) []byte {
	return func(rnd *mrand.Rand, buf []byte) []byte {
		var id [8]byte
		binary.BigEndian.PutUint64(id[:], rnd.Uint64())
		buf = append(buf[:0], `{"query":`...)
		buf = strconv.AppendQuote(buf, query)
		buf = append(buf, `,"variables":{"input":{"name":"bench `...)
		buf = hex.AppendEncode(buf, id[:])
		return append(buf, `"}}}`...)
	}
}

// fixedBody makes the one body of query.
func fixedBody(query string) func(*mrand.Rand, []byte) []byte {
	b, _ := json.Marshal(map[string]string{"query": query})
	return func(*mrand.Rand, []byte) []byte { return b }
}

// checkCreate accepts an answer with an organization, no userErrors and no GraphQL errors.
func checkCreate(b []byte) error {
	if bytes.Contains(b, []byte(`"errors":`)) || !bytes.Contains(b, []byte(`"userErrors":[]`)) ||
		!bytes.Contains(b, []byte(`"organization":{"id":`)) {
		return fmt.Errorf("unexpected answer: %.300s", b)
	}
	return nil
}

// checkList accepts an answer with listSize organizations and no GraphQL errors.
func checkList(b []byte) error {
	if bytes.Contains(b, []byte(`"errors":`)) {
		return fmt.Errorf("GraphQL errors: %.300s", b)
	}
	if n := bytes.Count(b, []byte(`"node":`)); n != listSize {
		return fmt.Errorf("%d organizations instead of %d: %.300s", n, listSize, b)
	}
	return nil
}

func seed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	url := fs.String("url", "", "GraphQL endpoint, e.g. http://127.0.0.1:8080/query")
	key := fs.String("key", "", "API key")
	workload := fs.String("workload", "create", "create, create-nested, list or list-full")
	conns := fs.Int("conns", 1, "concurrent connections, each sending one request after the other")
	warmup := fs.Duration("warmup", 2*time.Second, "load before the measured window")
	duration := fs.Duration("duration", 10*time.Second, "measured window")
	pid := fs.Int("pid", 0, "server process id, for its peak RSS (0: not measured)")
	profileURL := fs.String("profile", "", "pprof CPU profile URL to fetch during the measured window (?seconds= is added)")
	profileOut := fs.String("profile-out", "", "where to write the profile")
	fs.Parse(args)
	if *url == "" || *key == "" || *conns < 1 || *duration <= 0 {
		return errors.New("run needs -url, -key, -conns >= 1 and -duration > 0")
	}
	w, ok := workloads[*workload]
	if !ok {
		return fmt.Errorf("unknown workload %q (create, create-nested, list, list-full)", *workload)
	}
	body, check := w.body, w.check
	if _, err := newConn(*url, *key); err != nil {
		return err
	}
	r := result{Source: "server", Workload: *workload, Conns: *conns}
	if *pid > 0 {
		// Writing 5 to clear_refs resets VmHWM, so that the peak is this run's.
		r.RSSReset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", *pid), []byte("5"), 0) == nil
	}

	start := time.Now()
	winStart, winEnd := start.Add(*warmup), start.Add(*warmup+*duration)
	var (
		mu       sync.Mutex
		all      []time.Duration
		errCount int
		firstErr string
		wg       sync.WaitGroup
	)
	for range *conns {
		wg.Go(func() {
			rnd := mrand.New(mrand.NewPCG(seed(), seed()))
			lat := make([]time.Duration, 0, 4096)
			var buf []byte
			hc, err := newConn(*url, *key)
			if err != nil {
				panic(err) // checked before the goroutines start
			}
			defer hc.close()
			errs, first := 0, ""
			for {
				t0 := time.Now()
				if !t0.Before(winEnd) {
					break
				}
				buf = body(rnd, buf)
				b, err := hc.post(buf)
				if err == nil {
					err = check(b)
				}
				t1 := time.Now()
				if err != nil {
					if errs++; first == "" {
						first = err.Error()
					}
				}
				if !t1.Before(winStart) && t1.Before(winEnd) {
					lat = append(lat, t1.Sub(t0))
				}
			}
			mu.Lock()
			all = append(all, lat...)
			if errCount += errs; firstErr == "" {
				firstErr = first
			}
			mu.Unlock()
		})
	}

	var cpu cpuWindow
	var cpuDone sync.WaitGroup
	cpuDone.Go(func() { cpu = sampleCPU(winStart, winEnd, *pid) })

	var profileErr error
	var profileDone sync.WaitGroup
	if *profileURL != "" && *profileOut != "" {
		profileDone.Go(func() {
			time.Sleep(time.Until(winStart))
			profileErr = fetchProfile(*profileURL, int(duration.Seconds()), *profileOut)
		})
	}
	wg.Wait()
	profileDone.Wait()
	cpuDone.Wait()
	if profileErr != nil {
		return fmt.Errorf("CPU profile: %w", profileErr)
	}
	summarise(&r, all, *duration)
	r.Errors, r.FirstError = errCount, firstErr
	r.CPUMachine, r.CPUServer, r.CPULoadgen = cpu.machine, cpu.process, cpu.self
	if *pid > 0 {
		kb, err := peakRSS(*pid)
		if err != nil {
			return err
		}
		r.RSSPeakKB = kb
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func fetchProfile(url string, seconds int, out string) error {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	res, err := (&http.Client{Timeout: time.Duration(seconds+30) * time.Second}).Get(fmt.Sprintf("%s%sseconds=%d", url, sep, max(seconds, 1)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", res.StatusCode, b)
	}
	return os.WriteFile(out, b, 0o644)
}

// peakRSS reads VmHWM (kB) from /proc/<pid>/status.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server status: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

// cpuWindow is the CPU used between two instants, in cores.
type cpuWindow struct{ machine, process, self float64 }

// sampleCPU waits for from, reads the CPU counters, waits for to and reads them again: the machine's
// (/proc/stat), process pid's (0: none) and its own.
func sampleCPU(from, to time.Time, pid int) cpuWindow {
	time.Sleep(time.Until(from))
	m0, p0, s0 := machineTicks(), processTicks(pid), processTicks(os.Getpid())
	t0 := time.Now()
	time.Sleep(time.Until(to))
	m1, p1, s1 := machineTicks(), processTicks(pid), processTicks(os.Getpid())
	secs := time.Since(t0).Seconds() * clockTicks
	return cpuWindow{float64(m1-m0) / secs, float64(p1-p0) / secs, float64(s1-s0) / secs}
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux architecture Go supports.
const clockTicks = 100

// machineTicks is the busy time of all CPUs (/proc/stat: all but idle and iowait), in ticks.
func machineTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return busy
}

// processTicks is the user and system time of process pid (/proc/<pid>/stat), in ticks.
func processTicks(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid ... utime(12) stime(13)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// cmdCPU prints the machine's CPU use over a window that starts after a warm-up, as a JSON object, for
// runs loadgen does not drive (pgbench).
func cmdCPU(args []string) error {
	fs := flag.NewFlagSet("cpu", flag.ExitOnError)
	warmup := fs.Duration("warmup", 2*time.Second, "wait before the window")
	duration := fs.Duration("duration", 10*time.Second, "window")
	fs.Parse(args)
	start := time.Now().Add(*warmup)
	c := sampleCPU(start, start.Add(*duration), 0)
	return json.NewEncoder(os.Stdout).Encode(map[string]float64{"cpu_machine": c.machine})
}

func cmdSeed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	url := fs.String("url", "", "GraphQL endpoint")
	key := fs.String("key", "", "API key of the tenant to fill")
	n := fs.Int("n", 60, "organizations to create")
	fs.Parse(args)
	c := newClient(*url, *key, 1)
	for i := range *n {
		// Each with its default project and one more, and a custom attribute, so that the nested lists
		// are not trivial.
		b, _ := json.Marshal(map[string]any{"query": createQuery, "variables": map[string]any{
			"input": map[string]any{"name": fmt.Sprintf("Seeded %03d", i), "projects": []map[string]any{{"name": "Extra"}},
				"customAttributes": []map[string]any{{"key": "tier", "value": i % 3}}}}})
		res, err := c.post(context.Background(), b)
		if err == nil {
			err = checkCreate(res)
		}
		if err != nil {
			return fmt.Errorf("seed %d: %w", i, err)
		}
	}
	return nil
}

func cmdWait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("url", "", "URL that answers 200 when ready")
	pid := fs.Int("pid", 0, "fail as soon as this process is gone")
	timeout := fs.Duration("timeout", time.Minute, "give up after")
	fs.Parse(args)
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(*timeout)
	for {
		if res, err := hc.Get(*url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if *pid > 0 {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", *pid)); err != nil {
				return fmt.Errorf("process %d exited", *pid)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s", *url, *timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func cmdFreePort() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}

// ---------------------------------------------------------------------------------------------------
// pgbench

// cmdPgbench summarises the per-transaction logs of one pgbench run (--log) like a run of the server:
// the window starts warm-up after the first transaction started. A log line is
// "client_id transaction_no time script_no time_epoch time_us", time being the latency in µs and
// time_epoch.time_us the end of the transaction.
func cmdPgbench(args []string) error {
	fs := flag.NewFlagSet("pgbench", flag.ExitOnError)
	logs := fs.String("logs", "", "glob of the per-transaction log files")
	summary := fs.String("summary", "", "pgbench's standard output (for the failed transactions)")
	cpuFile := fs.String("cpu", "", "output of loadgen cpu run alongside pgbench")
	conns := fs.Int("conns", 1, "clients of the run")
	workload := fs.String("workload", "create", "label of the workload")
	warmup := fs.Duration("warmup", 2*time.Second, "load before the measured window")
	duration := fs.Duration("duration", 10*time.Second, "measured window")
	fs.Parse(args)
	files, err := filepath.Glob(*logs)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no pgbench log matches %q", *logs)
	}
	type tx struct{ start, end, lat time.Duration } // from the epoch
	var txs []tx
	failed := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 6 {
				continue
			}
			lat, err1 := strconv.ParseInt(fields[2], 10, 64)
			sec, err2 := strconv.ParseInt(fields[4], 10, 64)
			us, err3 := strconv.ParseInt(fields[5], 10, 64)
			if err2 != nil || err3 != nil {
				continue
			}
			if err1 != nil { // "failed" or "skipped"
				failed++
				continue
			}
			end := time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond
			l := time.Duration(lat) * time.Microsecond
			txs = append(txs, tx{end - l, end, l})
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	}
	if len(txs) == 0 {
		return errors.New("pgbench logged no transaction")
	}
	first := txs[0].start
	for _, t := range txs {
		first = min(first, t.start)
	}
	winStart, winEnd := first+*warmup, first+*warmup+*duration
	var lat []time.Duration
	for _, t := range txs {
		if t.end >= winStart && t.end < winEnd {
			lat = append(lat, t.lat)
		}
	}
	r := result{Source: "pgbench", Workload: *workload, Conns: *conns}
	summarise(&r, lat, *duration)
	r.Errors = failed
	if *summary != "" {
		b, err := os.ReadFile(*summary)
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "number of failed transactions: "); ok {
				if n, err := strconv.Atoi(strings.Fields(v)[0]); err == nil {
					r.Errors = max(r.Errors, n)
				}
			}
		}
	}
	if *cpuFile != "" {
		b, err := os.ReadFile(*cpuFile)
		if err != nil {
			return err
		}
		var c struct {
			Machine float64 `json:"cpu_machine"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s: %w", *cpuFile, err)
		}
		r.CPUMachine = c.Machine
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// ---------------------------------------------------------------------------------------------------
// report

// Targets of the issue.
const (
	targetThroughputRatio = 0.5  // create at 32 connections: at least half of pgbench's tps
	targetP99Ratio        = 2.0  // and a p99 at most twice pgbench's
	targetListRPS         = 1000 // nested lists of 50 organizations a second
	targetConns           = 32
	targetGaugeRatio      = 0.6 // nested create at 32 connections: at least 0.6 of the gauge's tps
	targetFullListRatio   = 0.5 // the list with every relation: at least half the usual list's rate
)

// rowRank orders the table: the creates, the pgbench rows, then the lists.
var rowRank = map[key]int{
	{"server", "create", 0}: 0, {"server", "create-nested", 0}: 1, {"pgbench", "create", 0}: 2,
	{"pgbench", "create-extended", 0}: 3, {"pgbench", "gauge", 0}: 4, {"server", "list", 0}: 5, {"server", "list-full", 0}: 6,
}

// pgbenchLabels name the pgbench rows.
var pgbenchLabels = map[string]string{
	"create":          "the create statement alone (pgbench -M prepared, the limit)",
	"create-extended": "the create statement, parsed and planned each time (pgbench -M extended)",
	"gauge":           "4 inserts as one server-side call (pgbench, the gauge)",
}

// ratio formats a / b, or "" when b is not known.
func ratio(a, b float64) string {
	if b <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", a/b)
}

type key struct {
	source, workload string
	conns            int
}

func cmdReport(files []string) error {
	if len(files) == 0 {
		return errors.New("report needs at least one results file")
	}
	runs := map[key][]result{}
	var order []key
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(b)) {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var r result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			k := key{r.Source, r.Workload, r.Conns}
			if _, ok := runs[k]; !ok {
				order = append(order, k)
			}
			runs[k] = append(runs[k], r)
		}
	}
	med := map[key]result{}
	for k, rs := range runs {
		med[k] = median(rs)
	}
	slices.SortStableFunc(order, func(a, b key) int {
		rank := func(k key) int {
			if r, ok := rowRank[key{k.source, k.workload, 0}]; ok {
				return r
			}
			return len(rowRank)
		}
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		return a.conns - b.conns
	})

	if len(files) > 1 {
		fmt.Printf("Medians of %d runs.\n\n", len(files))
	}
	fmt.Println("| workload | conns | req/s | p50 ms | p90 ms | p99 ms | errors | server peak RSS | req/s ÷ limit | p99 ÷ limit p99 | req/s ÷ gauge | p99 ÷ gauge p99 | CPU cores: server + loadgen + rest = machine |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, k := range order {
		r := med[k]
		name := k.workload
		if w, ok := workloads[k.workload]; ok && k.source == "server" {
			name = w.label
		} else if l, ok := pgbenchLabels[k.workload]; ok && k.source == "pgbench" {
			name = l
		}
		rss, thr, p99, gthr, gp99 := "", "", "", "", ""
		if r.RSSPeakKB > 0 {
			rss = fmt.Sprintf("%.0f MiB", float64(r.RSSPeakKB)/1024)
		}
		if k.source == "server" && strings.HasPrefix(k.workload, "create") {
			lim, gauge := med[key{"pgbench", "create", k.conns}], med[key{"pgbench", "gauge", k.conns}]
			thr, p99, gthr, gp99 = ratio(r.RPS, lim.RPS), ratio(r.P99, lim.P99), ratio(r.RPS, gauge.RPS), ratio(r.P99, gauge.P99)
		}
		cpu := fmt.Sprintf("%.2f + %.2f + %.2f = %.2f", r.CPUServer, r.CPULoadgen, r.CPUMachine-r.CPUServer-r.CPULoadgen, r.CPUMachine)
		if k.source == "pgbench" {
			cpu = fmt.Sprintf("pgbench and PostgreSQL: %.2f", r.CPUMachine)
		}
		fmt.Printf("| %s | %d | %.0f | %.2f | %.2f | %.2f | %d | %s | %s | %s | %s | %s | %s |\n",
			name, k.conns, r.RPS, r.P50, r.P90, r.P99, r.Errors, rss, thr, p99, gthr, gp99, cpu)
	}
	fmt.Println()

	if s, ok := med[key{"server", "create", targetConns}]; ok {
		if lim, ok := med[key{"pgbench", "create", targetConns}]; ok && lim.RPS > 0 && lim.P99 > 0 {
			tr, pr := s.RPS/lim.RPS, s.P99/lim.P99
			fmt.Printf("target: create at %d connections >= %.1f x the limit's throughput: %.2f x (%.0f vs %.0f req/s): %s\n",
				targetConns, targetThroughputRatio, tr, s.RPS, lim.RPS, verdict(tr >= targetThroughputRatio))
			fmt.Printf("target: create at %d connections p99 <= %.1f x the limit's p99: %.2f x (%.2f vs %.2f ms): %s\n",
				targetConns, targetP99Ratio, pr, s.P99, lim.P99, verdict(pr <= targetP99Ratio))
		}
	}
	if s, ok := med[key{"server", "create-nested", targetConns}]; ok {
		if g, ok := med[key{"pgbench", "gauge", targetConns}]; ok && g.RPS > 0 && g.P99 > 0 {
			tr, pr := s.RPS/g.RPS, s.P99/g.P99
			fmt.Printf("target: nested create at %d connections >= %.1f x the gauge's throughput: %.2f x (%.0f vs %.0f req/s): %s\n",
				targetConns, targetGaugeRatio, tr, s.RPS, g.RPS, verdict(tr >= targetGaugeRatio))
			fmt.Printf("target: nested create at %d connections p99 <= %.1f x the gauge's p99: %.2f x (%.2f vs %.2f ms): %s\n",
				targetConns, targetP99Ratio, pr, s.P99, g.P99, verdict(pr <= targetP99Ratio))
		}
		if lim, ok := med[key{"pgbench", "create", targetConns}]; ok && lim.RPS > 0 {
			fmt.Printf("nested create at %d connections: %.2f x the limit of its own statement (%.0f vs %.0f req/s)\n",
				targetConns, s.RPS/lim.RPS, s.RPS, lim.RPS)
		}
	}
	if p, ok := med[key{"pgbench", "create", 8}]; ok {
		if e, ok := med[key{"pgbench", "create-extended", 8}]; ok && e.RPS > 0 {
			fmt.Printf("the create statement prepared: %.2f x its rate when parsed and planned each time, at 8 clients (%.0f vs %.0f tps)\n",
				p.RPS/e.RPS, p.RPS, e.RPS)
		}
	}
	for _, k := range order {
		full := med[k]
		if k.source != "server" || k.workload != "list-full" {
			continue
		}
		if usual, ok := med[key{"server", "list", k.conns}]; ok && usual.RPS > 0 {
			tr := full.RPS / usual.RPS
			fmt.Printf("target: list with every relation >= %.1f x the usual list, at %d connections: %.2f x (%.0f vs %.0f reads/s): %s\n",
				targetFullListRatio, k.conns, tr, full.RPS, usual.RPS, verdict(tr >= targetFullListRatio))
		}
	}
	best := result{}
	for k, r := range med {
		if k.source == "server" && k.workload == "list" && r.RPS > best.RPS {
			best = r
		}
	}
	if best.Requests > 0 {
		fmt.Printf("target: nested list of %d >= %d reads/s: best %.0f reads/s at %d connections: %s\n",
			listSize, targetListRPS, best.RPS, best.Conns, verdict(best.RPS >= targetListRPS))
	}
	errs := 0
	for _, r := range med {
		errs += r.Errors
	}
	for _, rs := range runs {
		for _, r := range rs {
			if r.FirstError != "" {
				fmt.Printf("first error (%s %s, %d conns): %s\n", r.Source, r.Workload, r.Conns, r.FirstError)
				break
			}
		}
	}
	if errs > 0 {
		fmt.Printf("warning: %d errors in the runs above\n", errs)
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// median is a run whose values are each the median of rs's (the lower middle for an even count), but
// for the errors: the most of any run.
func median(rs []result) result {
	pick := func(get func(result) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = get(r)
		}
		slices.Sort(vs)
		return vs[(len(vs)-1)/2]
	}
	m := rs[0]
	m.RPS = pick(func(r result) float64 { return r.RPS })
	m.P50 = pick(func(r result) float64 { return r.P50 })
	m.P90 = pick(func(r result) float64 { return r.P90 })
	m.P99 = pick(func(r result) float64 { return r.P99 })
	m.Requests = int(pick(func(r result) float64 { return float64(r.Requests) }))
	for _, r := range rs {
		m.Errors = max(m.Errors, r.Errors) // errors are not averaged away
	}
	m.RSSPeakKB = int64(pick(func(r result) float64 { return float64(r.RSSPeakKB) }))
	m.CPUMachine = pick(func(r result) float64 { return r.CPUMachine })
	m.CPUServer = pick(func(r result) float64 { return r.CPUServer })
	m.CPULoadgen = pick(func(r result) float64 { return r.CPULoadgen })
	m.FirstError = ""
	return m
}
