package graph_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/graph"
)

// startStreamingReplica starts a throw-away private cluster and its streaming replica with
// scripts/localpg.sh (in a directory and on ports of their own, never the server DATABASE_URL names)
// and returns their URLs; it skips the test when they cannot be started here.
func startStreamingReplica(t *testing.T) (primaryURL, replicaURL string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL clusters")
	}
	base, err := os.MkdirTemp("", "orgs-replica-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755) // the cluster may run as another user (localpg.sh refuses root)
	script, err := filepath.Abs(filepath.Join("..", "scripts", "localpg.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// Never DATABASE_URL (localpg.sh would print it as it is): the private cluster of the test alone.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "LOCALPG_") {
			env = append(env, kv)
		}
	}
	port, replicaPort := freePort(t), freePort(t)
	env = append(env, "LOCALPG_BASE="+filepath.Join(base, "pg"), "LOCALPG_PROBE_PORT=1",
		fmt.Sprintf("LOCALPG_PORT=%d", port), fmt.Sprintf("LOCALPG_REPLICA_PORT=%d", replicaPort))
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			return "", fmt.Errorf("localpg.sh %s: %w: %s", strings.Join(args, " "), err, lines[len(lines)-1])
		}
		return strings.TrimSpace(string(out)), nil
	}
	t.Cleanup(func() { run("stop") })
	if replicaURL, err = run("replica"); err != nil {
		t.Skipf("no streaming replica here: %v", err)
	}
	if primaryURL, err = run(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(primaryURL, fmt.Sprintf("@127.0.0.1:%d/", port)) || !strings.Contains(replicaURL, fmt.Sprintf("@127.0.0.1:%d/", replicaPort)) {
		t.Fatalf("localpg.sh gave %s and %s, not the test's own cluster on ports %d and %d", primaryURL, replicaURL, port, replicaPort)
	}
	return primaryURL, replicaURL
}

func TestListsReadFromAStreamingReplica(t *testing.T) {
	t.Parallel()
	primaryURL, replicaURL := startStreamingReplica(t)
	ctx := context.Background()
	p := dbtest.Open(t, primaryURL, db.Options{MaxOpenConns: 10})
	if _, err := p.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	const maxLag = 300 * time.Millisecond
	rep, err := p.OpenReadReplica(ctx, replicaURL, db.ReplicaOptions{MaxLag: maxLag, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// Right after the migrations the replica may not have replayed them yet.
	for deadline := time.Now().Add(10 * time.Second); !rep.InUse(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a replica following the primary is not in use: up %v, lag %v\n%s", rep.Up(), rep.Lag(), logs)
		}
		rep.Check(ctx)
	}
	// On a busy machine the replica may also have lagged while replaying the migrations, and said so: the
	// lines that count are the ones from now on.
	const inUse, lags = "read replica in use", "read replica lags"
	if strings.Count(logs.String(), inUse) == 0 {
		t.Fatalf("no line %q once in use:\n%s", inUse, logs)
	}
	before := map[string]int{inUse: strings.Count(logs.String(), inUse), lags: strings.Count(logs.String(), lags)}
	a := newAPIWith(t, p, "tenant "+t.Name(), graph.DefaultHandlerOptions)

	// What the primary writes reaches the replica's lists within moments.
	a.createOK(map[string]any{"name": "Streamed"})
	names := func() string {
		t.Helper()
		r := a.post(a.key, replicaListQuery, nil)
		if len(r.Errors) > 0 { // the cause is in the server's log
			t.Fatalf("list: %+v\nserver log:\n%s\nreplica log:\n%s", r.Errors, a.logs, logs)
		}
		got, _ := listed(t, r)
		return strings.Join(got, "; ")
	}
	deadline := time.Now().Add(10 * time.Second)
	for names() != "Streamed / Default project" {
		if time.Now().After(deadline) {
			t.Fatalf("the replica lists %q, want the organization the primary created", names())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rep.ReadsBy(db.PoolReplica) == 0 {
		t.Fatal("no list was read from the replica")
	}

	// Replay paused: the replica falls behind, its lag is measured, and lists read from the primary.
	admin, err := sql.Open("postgres", replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	a.createOK(map[string]any{"name": "While paused"})
	time.Sleep(maxLag + 100*time.Millisecond)
	rep.Check(ctx)
	if rep.InUse() || rep.Lag() <= maxLag {
		t.Fatalf("replay paused: in use %v, lag %v; want not in use, a lag over %v", rep.InUse(), rep.Lag(), maxLag)
	}
	if got := names(); got != "Streamed / Default project; While paused / Default project" {
		t.Errorf("lists while the replica lags: %q, want the primary's", got)
	}

	// Replay resumed: the replica catches up and lists read from it again.
	if _, err := admin.Exec(`SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !rep.InUse(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the replica is not in use again after replay resumed: lag %v", rep.Lag())
		}
		rep.Check(ctx)
	}
	if rep.Lag() > maxLag {
		t.Errorf("lag %v once caught up, want at most %v", rep.Lag(), maxLag)
	}
	reads := rep.ReadsBy(db.PoolReplica)
	if got := names(); got != "Streamed / Default project; While paused / Default project" || rep.ReadsBy(db.PoolReplica) != reads+1 {
		t.Errorf("lists once caught up: %q, read from the replica %d times, want both organizations from the replica once",
			got, rep.ReadsBy(db.PoolReplica)-reads)
	}
	// Each change of state said once: lagging when replay paused, in use again once caught up.
	for _, line := range []string{inUse, lags} {
		if got := strings.Count(logs.String(), line) - before[line]; got != 1 {
			t.Errorf("%d new lines %q, want 1:\n%s", got, line, logs)
		}
	}
}
