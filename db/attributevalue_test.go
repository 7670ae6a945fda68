package db

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// decodeWithDecoder is what decodeAttributeValue must return for every input: json.Decoder's value,
// numbers as json.Number.
func decodeWithDecoder(raw []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	err := dec.Decode(&v)
	return v, err
}

// An attribute's value reads the same with or without the decoder, for any bytes: the ones read
// without it (numbers, plain strings, booleans, null) and the ones that go through it.
func FuzzDecodeAttributeValue(f *testing.F) {
	for _, s := range []string{
		`0`, `-0`, `7`, `-12.5e+3`, `1E9`, `01`, `1.`, `.5`, `-`, `1e`, `1 `, ` 1`, `1x`, `+1`,
		`"tier"`, `""`, `"a\"b"`, `"a\\b"`, `"\u00e9"`, `"é"`, "\"a\tb\"", "\"\xff\"", `"a`, `a"`, `"`,
		`true`, `false`, `null`, `nul`, `truex`, `[1,"a"]`, `{"k": 1}`, ``, ` `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotErr := decodeAttributeValue(raw)
		want, wantErr := decodeWithDecoder(raw)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, the decoder's %v", raw, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %#v, the decoder's %#v", raw, got, want)
		}
	})
}

// The usual values are read without a decoder.
func TestAttributeValuesWithoutDecoder(t *testing.T) {
	for _, s := range []string{`2`, `-1.5e3`, `"gold"`, `true`, `false`, `null`} {
		raw := []byte(s)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := decodeAttributeValue(raw); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 2 { // the value's string and its interface; a decoder takes a dozen
			t.Errorf("%s: %v allocations", raw, allocs)
		}
	}
}

func BenchmarkDecodeAttributeValue(b *testing.B) {
	raw := []byte(`2`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeAttributeValue(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeWithDecoder(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
