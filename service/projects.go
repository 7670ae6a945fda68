package service

import (
	"context"

	"orgs/db"
	"orgs/domain"
)

// Projects of existing organizations. Each change runs in the transaction of its organization
// (changeOrganization), which serialises the project changes of one organization: an organization has
// exactly one default project at every moment, also under concurrent changes. Making a project the
// default takes the flag from the previous default, and both projects record their change.

// CreateProject adds a project to the organization orgID under the rules of the create's projects; a
// name the organization already uses is TAKEN at ["name"]; isDefault moves the default flag to it.
func (s *Service) CreateProject(ctx context.Context, a *domain.Actor, orgID string, in domain.ProjectInput, isDefault bool, expected *int) (*domain.Project, error) {
	var created *domain.Project
	_, err := s.changeOrganization(ctx, a, orgID, "organizationId", db.ChangeOptions{ExpectedSequence: sequence(expected)},
		func(ctx context.Context, tx *db.OrganizationTx) error {
			projects, err := tx.Projects(ctx)
			if err != nil {
				return err
			}
			np, err := domain.NewProjectIn(in, isDefault, tx.Organization.ContactEmails, projects)
			if err != nil {
				return err
			}
			var demoted []domain.FieldChange
			if isDefault {
				if demoted, err = demoteDefaultProject(ctx, tx, projects); err != nil {
					return err
				}
			}
			p := domain.Project{
				TenantID: tx.Organization.TenantID, ID: domain.NewID(), OrganizationID: tx.Organization.ID,
				Name: np.Name, Slug: np.Slug, Type: np.Type, Mode: np.Mode, Status: domain.ProjectStatusActive,
				IsDefault: np.IsDefault, ContactEmails: np.ContactEmails, SendFromEmail: np.SendFromEmail,
				DeepScan: np.DeepScan, RealTimeScan: np.RealTimeScan, CreatedAt: tx.Now, UpdatedAt: tx.Now,
			}
			if err := tx.InsertProject(ctx, p); err != nil {
				return err
			}
			tx.Record(domain.Change{Type: domain.EventProjectCreated, Changes: demoted,
				Data: map[string]any{"projectId": p.ID, "name": p.Name, "slug": p.Slug, "isDefault": p.IsDefault}})
			created = &p
			return nil
		})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// UpdateProject changes the fields of project id that patch gives. A change that changes nothing
// writes nothing.
func (s *Service) UpdateProject(ctx context.Context, a *domain.Actor, id string, patch domain.ProjectPatch, expected *int) (*domain.Project, error) {
	var updated *domain.Project
	err := s.changeProject(ctx, a, id, expected, func(ctx context.Context, tx *db.OrganizationTx, p domain.Project, projects []domain.Project) error {
		out, changes, err := domain.UpdateProject(p, patch, projects)
		if err != nil {
			return err
		}
		updated = &out
		if len(changes) == 0 {
			return nil
		}
		if out.IsDefault && !p.IsDefault {
			demoted, err := demoteDefaultProject(ctx, tx, projects)
			if err != nil {
				return err
			}
			changes = append(changes, demoted...)
		}
		out.UpdatedAt = tx.Now
		if err := tx.UpdateProject(ctx, out); err != nil {
			return err
		}
		tx.Record(domain.Change{Type: domain.EventProjectUpdated, Changes: changes, Data: map[string]any{"projectId": p.ID}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return updated, nil
}

// DeleteProject deletes project id; the default project cannot be deleted (INVALID_STATE).
func (s *Service) DeleteProject(ctx context.Context, a *domain.Actor, id string, expected *int) error {
	return s.changeProject(ctx, a, id, expected, func(ctx context.Context, tx *db.OrganizationTx, p domain.Project, _ []domain.Project) error {
		if err := domain.DeleteProjectCheck(p); err != nil {
			return err
		}
		if err := tx.DeleteProject(ctx, p.ID); err != nil {
			return err
		}
		tx.Record(domain.Change{Type: domain.EventProjectDeleted, Data: map[string]any{"projectId": p.ID, "name": p.Name, "slug": p.Slug}})
		return nil
	})
}

// changeProject runs fn on project id in the transaction of its organization, with the project and
// all the organization's projects as they are under the organization's lock. A project of another
// tenant, of a deleted organization or deleted meanwhile is NOT_FOUND at ["id"].
func (s *Service) changeProject(ctx context.Context, a *domain.Actor, id string, expected *int,
	fn func(context.Context, *db.OrganizationTx, domain.Project, []domain.Project) error) error {
	if err := requireActor(a); err != nil {
		return err
	}
	notFound := violation(domain.Path{"id"}, domain.VNotFound, "project not found")
	orgID, err := s.store.ProjectOrganizationID(ctx, a.TenantID, id)
	if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
		return notFound
	}
	if err != nil {
		return err
	}
	_, err = s.changeOrganization(ctx, a, orgID, "id", db.ChangeOptions{ExpectedSequence: sequence(expected)},
		func(ctx context.Context, tx *db.OrganizationTx) error {
			projects, err := tx.Projects(ctx)
			if err != nil {
				return err
			}
			for _, p := range projects {
				if p.ID == id {
					return fn(ctx, tx, p, projects)
				}
			}
			return notFound
		})
	return err
}

// demoteDefaultProject takes the default flag from the organization's default project and returns
// that change, as projects.<id>.isDefault, for the event of the mutation that gives the flag to another
// project in the same transaction (one mutation, one event).
func demoteDefaultProject(ctx context.Context, tx *db.OrganizationTx, projects []domain.Project) ([]domain.FieldChange, error) {
	old := domain.DefaultProjectOf(projects)
	if old == nil {
		return nil, nil
	}
	p := *old
	p.IsDefault, p.UpdatedAt = false, tx.Now
	if err := tx.UpdateProject(ctx, p); err != nil {
		return nil, err
	}
	return []domain.FieldChange{{Field: "projects." + p.ID + ".isDefault", From: true, To: false}}, nil
}
