package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/domain"
)

func TestInsertTemplate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	newTemplate := func(t *testing.T, a *domain.Actor, name string) *domain.Template {
		t.Helper()
		tpl, err := domain.NewTemplateFrom(domain.TemplateInput{Name: name, CountryCode: ptr("FR"),
			Definitions: []domain.AttributeDefinitionInput{
				{Key: "tier", Type: domain.AttrString, Required: ptr(true)},
				{Key: "seats", Type: domain.AttrNumber, DefaultValue: 5},
			}}, []string{"us", "eu"}, nil)
		if err != nil {
			t.Fatalf("invalid test template: %v", err)
		}
		tpl.TenantID, tpl.ID, tpl.CreatedAt = a.TenantID, uuid.NewString(), time.Now().UTC().Truncate(time.Microsecond)
		return tpl
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		tpl := newTemplate(t, a, "Standard")
		if err := store.InsertTemplate(ctx, tpl); err != nil {
			t.Fatalf("InsertTemplate: %v", err)
		}
		got, err := store.Template(ctx, a.TenantID, tpl.ID)
		if err != nil {
			t.Fatalf("Template: %v", err)
		}
		if got.Name != "Standard" || got.CountryCode == nil || *got.CountryCode != "FR" || !got.CreatedAt.Equal(tpl.CreatedAt) ||
			len(got.Definitions) != 2 || got.Definitions[0].Key != "tier" || !got.Definitions[0].Required ||
			got.Definitions[1].Key != "seats" || got.Definitions[1].Type != domain.AttrNumber {
			t.Errorf("stored template = %+v, definitions %+v", got, got.Definitions)
		}
	})

	t.Run("ErrTemplateNameTaken", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		if err := store.InsertTemplate(ctx, newTemplate(t, a, "Standard")); err != nil {
			t.Fatal(err)
		}
		err := store.InsertTemplate(ctx, newTemplate(t, a, "Standard"))
		if !errors.Is(err, db.ErrTemplateNameTaken) {
			t.Fatalf("InsertTemplate = %v, want ErrTemplateNameTaken", err)
		}
		if n := count(t, a.TenantID, "organization_templates"); n != 1 {
			t.Errorf("%d templates, want 1", n)
		}
		if n := count(t, a.TenantID, "template_attribute_definitions"); n != 2 {
			t.Errorf("%d attribute definitions, want the first template's 2", n)
		}
	})

	t.Run("SameNameInAnotherTenant", func(t *testing.T) {
		t.Parallel()
		a, b := newActor(t, "tenant"), newActor(t, "other tenant")
		for _, actor := range []*domain.Actor{a, b} {
			if err := store.InsertTemplate(ctx, newTemplate(t, actor, "Standard")); err != nil {
				t.Fatalf("InsertTemplate: %v", err)
			}
		}
	})
}
