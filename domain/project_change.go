package domain

import (
	"strings"
)

// Projects changed after creation: createProject, updateProject and deleteProject keep the rules of
// the create's projects (newProject), names unique within the organization (case-insensitively) and
// slugs derived from names, unique within the organization. The default flag moves, it is never
// cleared: exactly one project of an organization is its default.

// ProjectStatusInactive is a project that is switched off.
const ProjectStatusInactive = "INACTIVE"

var projectStatuses = []string{ProjectStatusActive, ProjectStatusInactive}

// ProjectPatch is updateProject's input. A field is changed when Given holds its API name (name, type,
// mode, status, contactEmails, sendFromEmail, settings, isDefault); a given nil clears contactEmails and
// sendFromEmail, and is REQUIRED for the others.
type ProjectPatch struct {
	Given         map[string]bool
	Name          *string
	Type          *string
	Mode          *string
	Status        *string
	ContactEmails []string
	SendFromEmail *SenderEmail
	// DeepScan and RealTimeScan are settings.trackers' fields: nil leaves one unchanged.
	DeepScan     *bool
	RealTimeScan *bool
	IsDefault    *bool
}

// NewProjectIn validates createProject's project for an organization with the given contact emails (the
// project's default) and projects. Violations are at the input's fields (["name"], ...).
func NewProjectIn(in ProjectInput, isDefault bool, orgEmails []string, projects []Project) (NewProject, error) {
	var v Violations
	p := newProject(&v, nil, in, "", orgEmails)
	p.IsDefault = isDefault
	if p.Name != "" {
		uniqueProjectName(&v, p.Name, "", projects)
	}
	p.Slug = freeProjectSlug(p.Slug, "", projects)
	return p, v.Err()
}

// UpdateProject validates patch on p, one of the organization's projects, and returns the project as
// it would be after the change and its changes (fields by their API name; none when nothing changes).
// isDefault: false on the default project is INVALID_STATE: the flag moves to another project, it is
// never cleared. A new name gives a new slug, unique within the organization.
func UpdateProject(p Project, patch ProjectPatch, projects []Project) (Project, Changes, error) {
	var v Violations
	given := patch.Given
	for _, f := range []struct {
		name  string
		isNil bool
	}{{"name", patch.Name == nil}, {"type", patch.Type == nil}, {"mode", patch.Mode == nil},
		{"status", patch.Status == nil}, {"isDefault", patch.IsDefault == nil}} {
		if given[f.name] && f.isNil {
			v.Add(Path{f.name}, VRequired, "%s can't be null: leave it out to keep it", f.name)
		}
	}
	// The project as the create would make it from its current fields and the given ones: the same
	// rules, at the same paths.
	in := ProjectInput{Name: &p.Name, Type: &p.Type, Mode: &p.Mode, ContactEmails: nonNilStrings(p.ContactEmails),
		SendFromEmail: p.SendFromEmail, DeepScan: &p.DeepScan, RealTimeScan: &p.RealTimeScan}
	if given["name"] && patch.Name != nil {
		in.Name = patch.Name
	}
	if given["type"] && patch.Type != nil {
		in.Type = patch.Type
	}
	if given["mode"] && patch.Mode != nil {
		in.Mode = patch.Mode
	}
	if given["contactEmails"] {
		in.ContactEmails = nonNilStrings(patch.ContactEmails)
	}
	if given["sendFromEmail"] {
		in.SendFromEmail = patch.SendFromEmail
	}
	if given["settings"] {
		if patch.DeepScan != nil {
			in.DeepScan = patch.DeepScan
		}
		if patch.RealTimeScan != nil {
			in.RealTimeScan = patch.RealTimeScan
		}
	}
	np := newProject(&v, nil, in, "", nil)
	out := p
	out.Name, out.Type, out.Mode, out.ContactEmails = np.Name, np.Type, np.Mode, np.ContactEmails
	out.SendFromEmail, out.DeepScan, out.RealTimeScan = np.SendFromEmail, np.DeepScan, np.RealTimeScan
	if given["status"] && patch.Status != nil {
		out.Status = *patch.Status
		if !oneOf(out.Status, projectStatuses) {
			v.Add(Path{"status"}, VInvalidValue, "project status must be ACTIVE or INACTIVE")
		}
	}
	if given["isDefault"] && patch.IsDefault != nil {
		switch {
		case *patch.IsDefault:
			out.IsDefault = true
		case p.IsDefault:
			v.Add(Path{"isDefault"}, VInvalidState, "an organization always has a default project: make another project the default instead")
		}
	}
	if out.Name != p.Name && out.Name != "" {
		uniqueProjectName(&v, out.Name, p.ID, projects)
		out.Slug = freeProjectSlug(SlugBase(out.Name), p.ID, projects)
	}
	if err := v.Err(); err != nil {
		return p, nil, err
	}
	var c Changes
	c.Add("name", p.Name, out.Name)
	c.Add("slug", p.Slug, out.Slug)
	c.Add("type", p.Type, out.Type)
	c.Add("mode", p.Mode, out.Mode)
	c.Add("status", p.Status, out.Status)
	c.Add("contactEmails", nonNilStrings(p.ContactEmails), out.ContactEmails)
	c.Add("sendFromEmail", p.SendFromEmail, out.SendFromEmail)
	c.Add("settings.trackers.deepScan", p.DeepScan, out.DeepScan)
	c.Add("settings.trackers.realTimeScan", p.RealTimeScan, out.RealTimeScan)
	c.Add("isDefault", p.IsDefault, out.IsDefault)
	return out, c, nil
}

// DeleteProjectCheck refuses to delete the default project (INVALID_STATE at ["id"]).
func DeleteProjectCheck(p Project) error {
	if p.IsDefault {
		var v Violations
		v.Add(Path{"id"}, VInvalidState, "the default project cannot be deleted: make another project the default first")
		return v.Err()
	}
	return nil
}

// DefaultProjectOf returns the organization's default project among projects, or nil.
func DefaultProjectOf(projects []Project) *Project {
	for i := range projects {
		if projects[i].IsDefault {
			return &projects[i]
		}
	}
	return nil
}

// uniqueProjectName records TAKEN at ["name"] when another project than except has the name (case
// is ignored, as in the create).
func uniqueProjectName(v *Violations, name, except string, projects []Project) {
	for _, o := range projects {
		if o.ID != except && strings.EqualFold(o.Name, name) {
			v.Add(Path{"name"}, VTaken, "project name %q is already used in this organization", name)
			return
		}
	}
}

// freeProjectSlug returns base, or base-2, base-3, ..., the first that no other project than except uses.
func freeProjectSlug(base, except string, projects []Project) string {
	used := map[string]bool{}
	for _, o := range projects {
		if o.ID != except {
			used[o.Slug] = true
		}
	}
	slug := base
	for n := 2; used[slug]; n++ {
		slug = SlugWithSuffix(base, n)
	}
	return slug
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
