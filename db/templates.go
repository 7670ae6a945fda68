package db

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// ErrTemplateNameTaken reports a template name the tenant already uses.
var ErrTemplateNameTaken = errors.New("template name taken")

// InsertTemplate stores the validated template t (its tenant, id and creation time set) with its
// attribute definitions. A name the tenant already uses is ErrTemplateNameTaken.
func (s *Store) InsertTemplate(ctx context.Context, t *domain.Template) error {
	project, err := jsonOrNil(t.DefaultProject)
	if err != nil {
		return err
	}
	defs, err := json.Marshal(t.Definitions)
	if err != nil {
		return fmt.Errorf("encode definitions: %w", err)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		const q = `
INSERT INTO organization_templates (tenant_id, id, name, description, country_code, language_code, locale,
    timezone, is_private, region_template, default_project, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT ON CONSTRAINT organization_templates_name_key DO NOTHING`
		inserted, err := execInserted(ctx, tx, q, t.TenantID, t.ID, t.Name, t.Description, t.CountryCode,
			t.LanguageCode, t.Locale, t.Timezone, t.IsPrivate, t.RegionTemplate, project, t.CreatedAt)
		if err != nil {
			return err
		}
		if !inserted {
			return ErrTemplateNameTaken
		}
		const qDefs = `
INSERT INTO template_attribute_definitions (tenant_id, template_id, key, position, type, required, default_value)
SELECT $1, $2, e.value->>'key', e.ordinality, e.value->>'type', (e.value->>'required')::boolean, e.value->'defaultValue'
FROM jsonb_array_elements($3) WITH ORDINALITY AS e(value, ordinality)`
		if _, err := tx.ExecContext(ctx, qDefs, t.TenantID, t.ID, string(defs)); err != nil {
			return fmt.Errorf("insert attribute definitions: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	return nil
}

type templateRow struct {
	TenantID       string    `db:"tenant_id"`
	ID             string    `db:"id"`
	Name           string    `db:"name"`
	Description    *string   `db:"description"`
	CountryCode    *string   `db:"country_code"`
	LanguageCode   *string   `db:"language_code"`
	Locale         *string   `db:"locale"`
	Timezone       *string   `db:"timezone"`
	IsPrivate      *bool     `db:"is_private"`
	RegionTemplate *string   `db:"region_template"`
	DefaultProject []byte    `db:"default_project"`
	CreatedAt      time.Time `db:"created_at"`
	Definitions    []byte    `db:"definitions"`
}

const templateSelect = `
SELECT t.tenant_id, t.id, t.name, t.description, t.country_code, t.language_code, t.locale, t.timezone,
       t.is_private, t.region_template, t.default_project, t.created_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('key', d.key, 'type', d.type, 'required', d.required,
                                                     'defaultValue', d.default_value) ORDER BY d.position)
                 FROM template_attribute_definitions d
                 WHERE d.tenant_id = t.tenant_id AND d.template_id = t.id), '[]') AS definitions
FROM organization_templates t`

func (r templateRow) template() (*domain.Template, error) {
	t := &domain.Template{
		TenantID: r.TenantID, ID: r.ID, Name: r.Name, Description: r.Description, CountryCode: r.CountryCode,
		LanguageCode: r.LanguageCode, Locale: r.Locale, Timezone: r.Timezone, IsPrivate: r.IsPrivate,
		RegionTemplate: r.RegionTemplate, CreatedAt: r.CreatedAt.UTC(),
	}
	if len(r.DefaultProject) > 0 {
		if err := json.Unmarshal(r.DefaultProject, &t.DefaultProject); err != nil {
			return nil, fmt.Errorf("decode template project: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(r.Definitions))
	dec.UseNumber()
	if err := dec.Decode(&t.Definitions); err != nil {
		return nil, fmt.Errorf("decode attribute definitions: %w", err)
	}
	return t, nil
}

// Template returns a template of the tenant, or an ENOTFOUND error.
func (s *Store) Template(ctx context.Context, tenantID, id string) (*domain.Template, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, domain.Errorf(domain.ENOTFOUND, "template not found")
	}
	var r templateRow
	err := s.db.GetContext(ctx, &r, templateSelect+` WHERE t.tenant_id = $1 AND t.id = $2`, tenantID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "template not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	return r.template()
}

// Templates returns the tenant's templates by name; with ids, only those.
func (s *Store) Templates(ctx context.Context, tenantID string, ids ...string) ([]*domain.Template, error) {
	var rows []templateRow
	q := templateSelect + ` WHERE t.tenant_id = $1 ORDER BY t.name`
	args := []any{tenantID}
	if ids != nil {
		q, args = templatesOfSQL, append(args, pq.Array(ids))
	}
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	return templatesOf(rows)
}

// templatesOfSQL reads the templates $2 of tenant $1.
const templatesOfSQL = templateSelect + ` WHERE t.tenant_id = $1 AND t.id = ANY($2) ORDER BY t.name`

func templatesOf(rows []templateRow) ([]*domain.Template, error) {
	out := make([]*domain.Template, len(rows))
	for i, r := range rows {
		t, err := r.template()
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// TemplatesSelected is Templates of ids, through a prepared statement, by id.
func (s *Store) TemplatesSelected(ctx context.Context, tenantID string, ids []string) (map[string]*domain.Template, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	idArray, err := s.idArray(ids)
	if err != nil {
		return nil, err
	}
	var rows []templateRow
	if err := s.readPrepared(ctx, nil, func(r *sqlx.Rows) error { return sqlx.StructScan(r, &rows) }, templatesOfSQL, tenantID, idArray); err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	ts, err := templatesOf(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*domain.Template, len(ts))
	for _, t := range ts {
		out[t.ID] = t
	}
	return out, nil
}
