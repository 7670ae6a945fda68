package service_test

import (
	"context"
	"testing"

	"orgs/domain"
	"orgs/service"
)

func TestCreateTemplate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(service.Config{})
	a := newActor(t, "tenant")
	tpl, err := s.CreateTemplate(ctx, a, domain.TemplateInput{Name: "Standard"})
	if err != nil {
		t.Fatalf("CreateTemplate: %v", err)
	}
	if got, err := store.Template(ctx, a.TenantID, tpl.ID); err != nil || got.Name != "Standard" {
		t.Errorf("stored template = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		in   domain.TemplateInput
		want string
	}{
		{"ErrNameTaken", domain.TemplateInput{Name: "Standard"}, "name TAKEN"},
		{"ErrNameBlank", domain.TemplateInput{Name: ""}, "name BLANK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateTemplate(ctx, a, tc.in)
			vs := violationsOf(t, err)
			if len(vs) != 1 || pathCode(vs[0]) != tc.want {
				t.Errorf("violations = %+v, want %s", vs, tc.want)
			}
		})
	}
	if n := count(t, a.TenantID, "organization_templates"); n != 1 {
		t.Errorf("%d templates, want 1", n)
	}
}

func pathCode(v domain.Violation) string {
	path := ""
	for i, f := range v.Field {
		if i > 0 {
			path += "."
		}
		path += f
	}
	return path + " " + string(v.Code)
}
