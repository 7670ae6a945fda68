package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultGCPercent replaces Go's default of 100 unless GOGC is set: the server's live heap is small
// (tens of MiB), and collecting it less often spends less CPU per request (BENCHMARKS.md: 400 gave +57%
// nested list reads at 8 connections over 100, 1000 another 8 to 10%) for some tens of MiB more memory.
const defaultGCPercent = 1000

// maxDefaultMemoryLimit caps the soft memory limit set unless GOMEMLIMIT is: as the heap nears it, the
// collector runs as often as it must, whatever GOGC says.
const maxDefaultMemoryLimit = 1 << 30

// tuneGC sets the collector's defaults of the server, GOGC and GOMEMLIMIT unless the environment sets
// them.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit(os.ReadFile))
	}
}

// defaultMemoryLimit is 1 GiB, or three quarters of the memory of the process's cgroup (a container's
// limit, cgroup v2 or v1) when that is less, so that GOGC=1000 cannot grow the heap into the kernel's
// out-of-memory killer.
func defaultMemoryLimit(readFile func(string) ([]byte, error)) int64 {
	limit := int64(maxDefaultMemoryLimit)
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			limit = min(limit, n/4*3)
		}
		break // "max" (no limit) or a number: the first file found says it
	}
	return limit
}
