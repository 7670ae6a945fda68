package graph

import (
	"context"
	"testing"
)

// DirectFields are the fields the direct path writes, by type (the tables of direct.go).
func DirectFields() map[string][]string { return directFields() }

// SetDirectHook runs hook after each read of the direct path, before its data is written, until the
// test ends. Only one test at a time may set it.
func SetDirectHook(t testing.TB, hook func(context.Context)) {
	if !directHook.CompareAndSwap(nil, &hook) {
		t.Fatal("the direct path's hook is set already")
	}
	t.Cleanup(func() { directHook.Store(nil) })
}

// SetCreatedHook runs hook after each create the direct path ran, before its answer is written, until
// the test ends. Only one test at a time may set it.
func SetCreatedHook(t testing.TB, hook func(context.Context)) {
	if !createdHook.CompareAndSwap(nil, &hook) {
		t.Fatal("the direct create's hook is set already")
	}
	t.Cleanup(func() { createdHook.Store(nil) })
}
