package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakResult is the summary of a soak, one JSON line in the samples file's companion (see cmdSoak).
type soakResult struct {
	Seconds      float64 `json:"seconds"`
	Conns        int     `json:"conns"`
	Creates      int64   `json:"creates"`
	Lists        int64   `json:"lists"`
	CreateRPS    float64 `json:"create_rps"`
	ListRPS      float64 `json:"list_rps"`
	Errors       int64   `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
	Window       float64 `json:"rss_window_seconds"`
	EarlyRSSKB   int64   `json:"rss_second_window_median_kb"`
	LastRSSKB    int64   `json:"rss_last_window_median_kb"`
	PeakRSSKB    int64   `json:"rss_peak_kb"`
	RSSChange    float64 `json:"rss_change"` // last ÷ second window, minus one
	Flat         bool    `json:"rss_flat"`
	Samples      int     `json:"rss_samples"`
	StoppedEarly bool    `json:"stopped_early,omitempty"` // the request bound was reached first
}

// rssFlatTolerance is how far the last window's median RSS may be from the second window's.
const rssFlatTolerance = 0.10

// cmdSoak drives the server with creates (the nested answer) and lists (the usual shape) mixed, each
// connection alternating the two, for a duration, sampling the server's resident set (VmRSS) each
// second. It prints what it found: whether the last window's median RSS is within 10% of the second
// window's (a window is a minute, or a quarter of the duration when that is shorter, so that a short
// soak compares two distinct windows after the first), the errors (transport failures, statuses other
// than 200, GraphQL errors or userErrors) and the rates. Every connection stops at the end of the
// duration or after -max-requests requests in all, whichever comes first.
func cmdSoak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	url := fs.String("url", "", "GraphQL endpoint, e.g. http://127.0.0.1:8080/query")
	key := fs.String("key", "", "API key of the creates")
	listKey := fs.String("list-key", "", "API key of the lists (a tenant with at least 50 organizations)")
	conns := fs.Int("conns", 8, "concurrent connections, each alternating a create and a list")
	duration := fs.Duration("duration", 10*time.Minute, "length of the soak")
	maxRequests := fs.Int64("max-requests", 0, "stop after this many requests in all (0: 5,000 a second of the duration)")
	pid := fs.Int("pid", 0, "server process id, whose VmRSS is sampled each second")
	samplesOut := fs.String("samples", "", "file to write the per-second samples to (seconds, VmRSS kB, creates, lists, errors)")
	fs.Parse(args)
	if *url == "" || *key == "" || *listKey == "" || *pid <= 0 || *conns < 1 || *duration < 8*time.Second {
		return errors.New("soak needs -url, -key, -list-key, -pid, -conns >= 1 and -duration >= 8s")
	}
	if *maxRequests <= 0 {
		*maxRequests = int64(duration.Seconds() * 5000)
	}
	if _, err := newConn(*url, *key); err != nil {
		return err
	}
	if _, err := vmRSS(*pid); err != nil {
		return err
	}

	var (
		creates, lists, errCount, sent atomic.Int64
		firstErr                       atomic.Value
		wg                             sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(*duration)
	create := workloads["create-nested"]
	list := workloads["list"]
	for range *conns {
		wg.Go(func() {
			rnd := mrand.New(mrand.NewPCG(seed(), seed()))
			cc, _ := newConn(*url, *key)
			lc, _ := newConn(*url, *listKey)
			defer cc.close()
			defer lc.close()
			var buf []byte
			for i := 0; time.Now().Before(end) && sent.Add(1) <= *maxRequests; i++ {
				c, w, n := cc, create, &creates
				if i%2 == 1 {
					c, w, n = lc, list, &lists
				}
				buf = w.body(rnd, buf)
				b, err := c.post(buf)
				if err == nil {
					err = w.check(b)
				}
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				n.Add(1)
			}
		})
	}

	type sample struct {
		at                     float64
		rss                    int64
		creates, lists, errors int64
	}
	var samples []sample
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var sampleErr error
loop:
	for {
		select {
		case <-done:
			break loop
		case t := <-tick.C:
			kb, err := vmRSS(*pid)
			if err != nil {
				sampleErr = err // the server is gone: the requests fail too, and stop at the end
				continue
			}
			samples = append(samples, sample{t.Sub(start).Seconds(), kb, creates.Load(), lists.Load(), errCount.Load()})
		}
	}
	elapsed := time.Since(start)
	if sampleErr != nil {
		return fmt.Errorf("sampling the server's RSS: %w", sampleErr)
	}

	r := soakResult{Seconds: elapsed.Seconds(), Conns: *conns, Creates: creates.Load(), Lists: lists.Load(),
		Errors: errCount.Load(), Samples: len(samples), StoppedEarly: elapsed < *duration-time.Second}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	r.CreateRPS = float64(r.Creates) / elapsed.Seconds()
	r.ListRPS = float64(r.Lists) / elapsed.Seconds()
	window := min(time.Minute, *duration/4)
	r.Window = window.Seconds()
	medianIn := func(from, to float64) int64 {
		var vs []int64
		for _, s := range samples {
			if s.at >= from && s.at < to {
				vs = append(vs, s.rss)
			}
		}
		if len(vs) == 0 {
			return 0
		}
		slices.Sort(vs)
		return vs[(len(vs)-1)/2]
	}
	w, d := window.Seconds(), elapsed.Seconds()
	r.EarlyRSSKB, r.LastRSSKB = medianIn(w, 2*w), medianIn(d-w, d+1)
	for _, s := range samples {
		r.PeakRSSKB = max(r.PeakRSSKB, s.rss)
	}
	if r.EarlyRSSKB > 0 {
		r.RSSChange = float64(r.LastRSSKB)/float64(r.EarlyRSSKB) - 1
		r.Flat = r.RSSChange <= rssFlatTolerance && r.RSSChange >= -rssFlatTolerance
	}

	if *samplesOut != "" {
		var sb strings.Builder
		sb.WriteString("seconds\tvmrss_kb\tcreates\tlists\terrors\n")
		for _, s := range samples {
			fmt.Fprintf(&sb, "%.1f\t%d\t%d\t%d\t%d\n", s.at, s.rss, s.creates, s.lists, s.errors)
		}
		if err := os.WriteFile(*samplesOut, []byte(sb.String()), 0o644); err != nil {
			return err
		}
	}

	// The rates and median RSS of each window, then the verdicts.
	fmt.Printf("| from s | to s | creates/s | lists/s | errors | median VmRSS |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var prev sample
	for from := 0.0; from < d; from += w {
		to := min(from+w, d)
		last := prev
		for _, s := range samples {
			if s.at < to+0.5 {
				last = s
			}
		}
		span := last.at - prev.at
		if span <= 0 {
			continue
		}
		fmt.Printf("| %.0f | %.0f | %.0f | %.0f | %d | %.1f MiB |\n", from, to, float64(last.creates-prev.creates)/span,
			float64(last.lists-prev.lists)/span, last.errors-prev.errors, float64(medianIn(from, to))/1024)
		prev = last
	}
	fmt.Println()
	fmt.Printf("soak: %.0fs at %d connections: %d creates (%.1f/s) and %d lists of 50 (%.1f/s)\n",
		r.Seconds, r.Conns, r.Creates, r.CreateRPS, r.Lists, r.ListRPS)
	fmt.Printf("soak: server RSS, median of the last %.0fs %.1f MiB vs %.1f MiB in the second %.0fs (%+.1f%%, peak %.1f MiB): %s\n",
		w, float64(r.LastRSSKB)/1024, float64(r.EarlyRSSKB)/1024, w, 100*r.RSSChange, float64(r.PeakRSSKB)/1024,
		verdict(r.Flat))
	fmt.Printf("soak: errors: %d: %s\n", r.Errors, verdict(r.Errors == 0))
	if r.FirstError != "" {
		fmt.Printf("soak: first error: %s\n", r.FirstError)
	}
	if r.StoppedEarly {
		fmt.Printf("soak: stopped after %d requests, before the end of the duration\n", *maxRequests)
	}
	line, _ := json.Marshal(r)
	fmt.Printf("soak: %s\n", line)
	return nil
}

// vmRSS reads VmRSS (kB) from /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server status: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}
