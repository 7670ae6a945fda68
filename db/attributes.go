package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

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
		if err := decodeJSON(raw, &a.Value); err != nil {
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
