package main

import (
	"os"
	"testing"
)

func TestDefaultMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if v, ok := m[name]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	for _, c := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"no cgroup", nil, 1 << 30},
		{"v2 without a limit", map[string]string{v2: "max\n"}, 1 << 30},
		{"v2 with 512 MiB", map[string]string{v2: "536870912\n"}, 402653184},
		{"v2 with 8 GiB", map[string]string{v2: "8589934592\n"}, 1 << 30},
		{"v1 with 256 MiB", map[string]string{v1: "268435456\n"}, 201326592},
		{"v1 without a limit", map[string]string{v1: "9223372036854771712\n"}, 1 << 30},
	} {
		if got := defaultMemoryLimit(files(c.files)); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
