package domain

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Custom attributes changed after creation: setCustomAttributes inserts or replaces attributes by key,
// removeCustomAttributes removes them. Both keep the rules of the create (keys, types, the template's
// definitions and required keys, at most MaxAttributes) and record each changed key as a field
// "customAttributes.<key>" of one organization.attributes_changed event.

// AttributeValueMaxBytes caps a custom attribute's value, as compact JSON.
const AttributeValueMaxBytes = 8 << 10

// AttributeField is the field name an event gives a custom attribute.
func AttributeField(key string) string { return "customAttributes." + key }

// valueType is inferType with objects and arrays typed JSON.
func valueType(value any) (AttributeType, any, bool) {
	switch value.(type) {
	case map[string]any, []any:
		return AttrJSON, value, true
	}
	return inferType(value)
}

// freeValue types the value of an attribute no template defines, or records why it cannot be stored.
func freeValue(v *Violations, path Path, value any) (AttributeType, any, bool) {
	typ, val, ok := valueType(value)
	if !ok {
		v.Add(path, VInvalidValue, "value must be a string, a number, a boolean, an object or an array")
		return "", nil, false
	}
	if !valueWithinLimits(v, path, val) {
		return "", nil, false
	}
	return typ, val, true
}

// valueWithinLimits records TOO_LONG for a STRING longer than AttributeStringMax characters and for any
// value longer than AttributeValueMaxBytes as JSON.
func valueWithinLimits(v *Violations, path Path, value any) bool {
	if s, isString := value.(string); isString && !maxLen(v, path, "value", s, AttributeStringMax) {
		return false
	}
	if !storableJSON(v, path, value) {
		return false
	}
	if n := jsonSize(value); n > AttributeValueMaxBytes {
		v.Add(path, VTooLong, "value is too long (%d bytes as JSON, at most %d)", n, AttributeValueMaxBytes)
		return false
	}
	return true
}

// storableJSON refuses, as storableText, a value with U+0000 in a string or an object's key.
func storableJSON(v *Violations, path Path, value any) bool {
	switch x := value.(type) {
	case string:
		return storableText(v, path, "value", x)
	case map[string]any:
		for k, e := range x {
			if !storableText(v, path, "value", k) || !storableJSON(v, path, e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !storableJSON(v, path, e) {
				return false
			}
		}
	}
	return true
}

// jsonSize is the length of value as compact JSON, as stored: HTML characters unescaped, and numbers in
// plain decimal notation, as jsonb keeps and returns them (1e3 as 1000), so that a short exponent cannot
// stand for a long number (PostgreSQL refuses numbers of more than 131072 digits, or 16383 decimals).
func jsonSize(value any) int {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		return AttributeValueMaxBytes + 1 // not encodable: refused
	}
	return b.Len() - 1 + plainExtra(value) // Encode ends with a newline
}

// plainExtra is how many more bytes value's numbers take in plain decimal notation than as encoded.
func plainExtra(value any) int {
	switch x := value.(type) {
	case json.Number:
		return plainLen(string(x)) - len(x)
	case float64:
		b, _ := json.Marshal(x)
		return plainLen(string(b)) - len(b)
	case map[string]any:
		n := 0
		for _, e := range x {
			n += plainExtra(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += plainExtra(e)
		}
		return n
	}
	return 0
}

// plainLen is the length of the JSON number s written without an exponent (at least the limit when the
// exponent is huge).
func plainLen(s string) int {
	mantissa, exponent, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(exponent)
		if err != nil || e > AttributeValueMaxBytes || e < -AttributeValueMaxBytes {
			return AttributeValueMaxBytes + 1 + len(s)
		}
		exp = e
	}
	sign := 0
	if strings.HasPrefix(mantissa, "-") {
		sign, mantissa = 1, mantissa[1:]
	}
	intPart, frac, _ := strings.Cut(mantissa, ".")
	n := sign + max(1, len(intPart)+exp)
	if decimals := len(frac) - exp; decimals > 0 {
		n += 1 + decimals
	}
	return n
}

// definitions returns the template's definitions by key (none without a template).
func (t *Template) definitions() map[string]AttributeDefinition {
	defs := map[string]AttributeDefinition{}
	if t != nil {
		for _, d := range t.Definitions {
			defs[d.Key] = d
		}
	}
	return defs
}

// attributeOf types one attribute whose key is valid: as the template defines it (a key it does not
// define is INVALID_VALUE), else by its JSON value.
func attributeOf(v *Violations, p Path, key string, value any, defs map[string]AttributeDefinition, t *Template) (Attribute, bool) {
	if t != nil {
		def, ok := defs[key]
		if !ok {
			v.Add(p.Field("key"), VInvalidValue, "key %q is not defined by the template %q", key, t.Name)
			return Attribute{}, false
		}
		val := typedValue(v, p.Field("value"), def.Type, value)
		if val == nil {
			return Attribute{}, false
		}
		return Attribute{Key: key, Type: def.Type, Value: val}, true
	}
	typ, val, ok := freeValue(v, p.Field("value"), value)
	if !ok {
		return Attribute{}, false
	}
	return Attribute{Key: key, Type: typ, Value: val}, true
}

// SetAttributes validates setCustomAttributes' attributes against the organization's current ones and
// its template (nil when none). It returns the attributes to insert or replace (only those whose value
// changes) and the changes to record; every violation at once, at paths below ["attributes"]: a key
// given twice is INVALID_VALUE, more than MaxAttributes attributes after the change TOO_MANY.
func SetAttributes(current []Attribute, in []AttributeInput, t *Template) ([]Attribute, Changes, error) {
	var v Violations
	path := Path{"attributes"}
	if len(in) > MaxAttributes {
		v.Add(path, VTooMany, "at most %d custom attributes, not %d", MaxAttributes, len(in))
		return nil, nil, v.Err()
	}
	byKey := make(map[string]Attribute, len(current))
	for _, a := range current {
		byKey[a.Key] = a
	}
	defs := t.definitions()
	seen := map[string]bool{}
	var upsert []Attribute
	var changes Changes
	total := len(current)
	for i, a := range in {
		p := path.Index(i)
		key := strings.TrimSpace(a.Key)
		if !validateAttributeKey(&v, p.Field("key"), key) {
			continue
		}
		if seen[key] {
			v.Add(p.Field("key"), VInvalidValue, "key %q is given twice", key)
			continue
		}
		seen[key] = true
		at, ok := attributeOf(&v, p, key, a.Value, defs, t)
		if !ok {
			continue
		}
		old, exists := byKey[key]
		if !exists {
			total++
		}
		var before any
		if exists {
			before = old.Value
		}
		if changes.Add(AttributeField(key), before, at.Value) {
			upsert = append(upsert, at)
		}
	}
	if total > MaxAttributes {
		v.Add(path, VTooMany, "an organization has at most %d custom attributes: this would make %d", MaxAttributes, total)
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	return upsert, changes, nil
}

// RemoveAttributes validates removeCustomAttributes' keys: a key the template requires cannot be
// removed (REQUIRED at ["keys", i]); keys that are not set are ignored. It returns the keys to delete
// and the changes to record.
func RemoveAttributes(current []Attribute, keys []string, t *Template) ([]string, Changes, error) {
	var v Violations
	path := Path{"keys"}
	byKey := make(map[string]Attribute, len(current))
	for _, a := range current {
		byKey[a.Key] = a
	}
	defs := t.definitions()
	seen := map[string]bool{}
	var remove []string
	var changes Changes
	for i, key := range keys {
		p := path.Index(i)
		key = strings.TrimSpace(key)
		if !validateAttributeKey(&v, p, key) {
			continue
		}
		if seen[key] {
			v.Add(p, VInvalidValue, "key %q is given twice", key)
			continue
		}
		seen[key] = true
		if d, ok := defs[key]; ok && d.Required {
			v.Add(p, VRequired, "custom attribute %q is required by the template %q: it can be changed, not removed", key, t.Name)
			continue
		}
		if old, ok := byKey[key]; ok {
			changes.Add(AttributeField(key), old.Value, nil)
			remove = append(remove, key)
		}
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	return remove, changes, nil
}
