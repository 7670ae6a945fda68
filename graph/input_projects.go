package graph

import (
	"github.com/99designs/gqlgen/graphql"

	"orgs/domain"
	"orgs/graph/model"
)

// Conversions of the inputs of the project and custom attribute mutations.

func toAttributeInputs(in []model.CustomAttributeInput) []domain.AttributeInput {
	out := make([]domain.AttributeInput, len(in))
	for i, a := range in {
		out[i] = domain.AttributeInput{Key: a.Key, Value: a.Value}
	}
	return out
}

func toCreateProjectInput(in model.CreateProjectInput) domain.ProjectInput {
	return toProjectInput(model.ProjectInput{Name: &in.Name, Type: in.Type, Mode: in.Mode, ContactEmails: in.ContactEmails,
		SendFromEmail: in.SendFromEmail, Settings: in.Settings})
}

// given records in patch that an omittable field was sent, and returns its value.
func given[T any](patch *domain.ProjectPatch, name string, o graphql.Omittable[T]) T {
	v, ok := o.ValueOK()
	if ok {
		patch.Given[name] = true
	}
	return v
}

func toProjectPatch(in model.UpdateProjectInput) domain.ProjectPatch {
	p := domain.ProjectPatch{Given: map[string]bool{}}
	p.Name = given(&p, "name", in.Name)
	p.Type = strPtr(given(&p, "type", in.Type))
	p.Mode = strPtr(given(&p, "mode", in.Mode))
	p.Status = strPtr(given(&p, "status", in.Status))
	p.ContactEmails = given(&p, "contactEmails", in.ContactEmails)
	if s := given(&p, "sendFromEmail", in.SendFromEmail); s != nil {
		p.SendFromEmail = &domain.SenderEmail{Email: s.Email, Name: s.Name}
	}
	if s := given(&p, "settings", in.Settings); s != nil && s.Trackers != nil {
		p.DeepScan, p.RealTimeScan = s.Trackers.DeepScan, s.Trackers.RealTimeScan
	}
	p.IsDefault = given(&p, "isDefault", in.IsDefault)
	return p
}
