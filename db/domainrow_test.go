package db

import (
	"reflect"
	"strings"
	"testing"
)

// The positional scan of a domain row reads each column of domainColumns into the field its db tag
// names.
func TestDomainRowDests(t *testing.T) {
	var r domainRow
	dests := r.dests()
	cols := strings.Split(domainColumns, ",")
	if len(dests) != len(cols) {
		t.Fatalf("%d destinations for %d columns", len(dests), len(cols))
	}
	v := reflect.ValueOf(&r).Elem()
	for i, c := range cols {
		name := strings.TrimPrefix(strings.TrimSpace(c), "d.")
		var field reflect.Value
		for j := range v.NumField() {
			if v.Type().Field(j).Tag.Get("db") == name {
				field = v.Field(j)
			}
		}
		if !field.IsValid() {
			t.Fatalf("no field of domainRow is tagged %q", name)
		}
		if got := reflect.ValueOf(dests[i]).Pointer(); got != field.Addr().Pointer() {
			t.Errorf("column %d (%s) is scanned into another field", i, name)
		}
	}
}
