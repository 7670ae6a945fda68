package db

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/lib/pq"

	"orgs/domain"
)

// The SQL of setCustomAttributes and removeCustomAttributes, inside ChangeOrganization.

// Attributes returns the organization's custom attributes, by key.
func (t *OrganizationTx) Attributes(ctx context.Context) ([]domain.Attribute, error) {
	const q = `SELECT key, type, value FROM organization_attributes WHERE tenant_id = $1 AND organization_id = $2 ORDER BY key`
	rows, err := t.tx.QueryContext(ctx, q, t.Organization.TenantID, t.Organization.ID)
	if err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	defer rows.Close()
	var out []domain.Attribute
	for rows.Next() {
		var a domain.Attribute
		var raw []byte
		if err := rows.Scan(&a.Key, &a.Type, &raw); err != nil {
			return nil, fmt.Errorf("scan attribute: %w", err)
		}
		if a.Value, err = decodeAttributeValue(raw); err != nil {
			return nil, fmt.Errorf("decode attribute %s: %w", a.Key, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	return out, nil
}

// Template returns the template the organization was made from, or nil when none.
func (t *OrganizationTx) Template(ctx context.Context) (*domain.Template, error) {
	if t.Organization.TemplateID == nil {
		return nil, nil
	}
	var r templateRow
	err := t.tx.GetContext(ctx, &r, templateSelect+` WHERE t.tenant_id = $1 AND t.id = $2`, t.Organization.TenantID, *t.Organization.TemplateID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	return r.template()
}

// UpsertAttributes inserts the attributes, or replaces the type and value of those whose key is set.
func (t *OrganizationTx) UpsertAttributes(ctx context.Context, as []domain.Attribute) error {
	if len(as) == 0 {
		return nil
	}
	records := make([]attributeRecord, len(as))
	for i, a := range as {
		v, err := json.Marshal(a.Value)
		if err != nil {
			return fmt.Errorf("encode attribute %s: %w", a.Key, err)
		}
		records[i] = attributeRecord{Key: a.Key, Type: string(a.Type), Value: v}
	}
	encoded, err := json.Marshal(records)
	if err != nil {
		return fmt.Errorf("encode attributes: %w", err)
	}
	const q = `
INSERT INTO organization_attributes (tenant_id, organization_id, key, type, value)
SELECT $1, $2, a.key, a.type, a.value FROM jsonb_to_recordset($3) AS a(key text, type text, value jsonb)
ON CONFLICT (tenant_id, organization_id, key) DO UPDATE SET type = excluded.type, value = excluded.value`
	if _, err := t.tx.ExecContext(ctx, q, t.Organization.TenantID, t.Organization.ID, string(encoded)); err != nil {
		return fmt.Errorf("set attributes: %w", err)
	}
	return nil
}

// DeleteAttributes removes the organization's attributes with the given keys.
func (t *OrganizationTx) DeleteAttributes(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	const q = `DELETE FROM organization_attributes WHERE tenant_id = $1 AND organization_id = $2 AND key = ANY($3)`
	if _, err := t.tx.ExecContext(ctx, q, t.Organization.TenantID, t.Organization.ID, pq.Array(keys)); err != nil {
		return fmt.Errorf("remove attributes: %w", err)
	}
	return nil
}

// decodeAttributeValue decodes a custom attribute's value as stored (jsonb's text), numbers as
// json.Number, as json.Decoder with UseNumber does. The values most attributes hold, a number, a
// plain string, a boolean or null, are read without a decoder: a list of 50 organizations decodes 50 of
// them or more, and a decoder each was a tenth of the server's CPU for such a list. Anything else,
// objects, arrays and strings with escapes, goes through the decoder.
func decodeAttributeValue(raw []byte) (any, error) {
	switch {
	case string(raw) == "true":
		return true, nil
	case string(raw) == "false":
		return false, nil
	case string(raw) == "null":
		return nil, nil
	case isJSONNumber(raw):
		return json.Number(raw), nil
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && plainJSONString(raw[1:len(raw)-1]):
		return string(raw[1 : len(raw)-1]), nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// isJSONNumber tells whether b is one JSON number and nothing else: valid JSON that starts with a minus
// or a digit is a number, and ending with a digit it has no space around it.
func isJSONNumber(b []byte) bool {
	return len(b) > 0 && (b[0] == '-' || isDigit(b[0])) && isDigit(b[len(b)-1]) && json.Valid(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// plainJSONString tells whether s, the inside of a JSON string, decodes to itself: valid UTF-8, with no
// escape, no quote and no control character.
func plainJSONString(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(s)
}
