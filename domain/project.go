package domain

import (
	"strings"
)

// SenderEmail is the address a project's emails are sent from.
type SenderEmail struct {
	Email string  `json:"email"`
	Name  *string `json:"name,omitempty"`
}

// ProjectInput is a project as the caller describes it; nil fields take their defaults.
type ProjectInput struct {
	Name          *string
	Type          *string
	Mode          *string
	ContactEmails []string // nil when absent
	SendFromEmail *SenderEmail
	DeepScan      *bool
	RealTimeScan  *bool
}

// NewProject is a validated project ready to be created.
type NewProject struct {
	Name          string
	Slug          string
	Type          string
	Mode          string
	IsDefault     bool
	ContactEmails []string
	SendFromEmail *SenderEmail
	DeepScan      bool
	RealTimeScan  bool
}

var projectTypes = []string{ProjectTypeWebsite, "MOBILE_APP", "BACKEND", "OTHER"}

func oneOf(s string, allowed []string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// newProject validates one project. Its name is required unless def (the default project's name) is given.
func newProject(v *Violations, path Path, in ProjectInput, defaultName string, orgEmails []string) NewProject {
	p := NewProject{Type: ProjectTypeWebsite, Mode: ProjectModeLive, ContactEmails: orgEmails}
	switch {
	case in.Name == nil && defaultName != "":
		p.Name = defaultName
	case in.Name == nil:
		v.Add(path.Field("name"), VRequired, "project name is required")
	default:
		p.Name = strings.TrimSpace(*in.Name)
		if p.Name == "" {
			v.Add(path.Field("name"), VBlank, "project name can't be blank")
		} else {
			maxLen(v, path.Field("name"), "project name", p.Name, ProjectNameMax)
		}
	}
	p.Slug = SlugBase(p.Name)
	if in.Type != nil {
		p.Type = *in.Type
		if !oneOf(p.Type, projectTypes) {
			v.Add(path.Field("type"), VInvalidValue, "project type must be one of %v", projectTypes)
		}
	}
	if in.Mode != nil {
		p.Mode = *in.Mode
		if p.Mode != ProjectModeLive && p.Mode != ProjectModeTest {
			v.Add(path.Field("mode"), VInvalidValue, "project mode must be LIVE or TEST")
		}
	}
	if in.ContactEmails != nil {
		p.ContactEmails = emailList(v, path.Field("contactEmails"), in.ContactEmails)
	}
	if p.ContactEmails == nil {
		p.ContactEmails = []string{}
	}
	if in.SendFromEmail != nil {
		s := &SenderEmail{Email: strings.TrimSpace(in.SendFromEmail.Email), Name: trimmed(in.SendFromEmail.Name)}
		validateEmail(v, path.Field("sendFromEmail").Field("email"), s.Email)
		if s.Name != nil {
			maxLen(v, path.Field("sendFromEmail").Field("name"), "sender name", *s.Name, PersonNameMax)
		}
		p.SendFromEmail = s
	}
	if in.DeepScan != nil {
		p.DeepScan = *in.DeepScan
	}
	if in.RealTimeScan != nil {
		p.RealTimeScan = *in.RealTimeScan
	}
	return p
}

// newProjects validates the default project and the extra ones: names unique within the organization
// (case-insensitively), slugs made unique with a suffix.
func newProjects(v *Violations, path Path, def *ProjectInput, extra []ProjectInput, orgEmails []string) []NewProject {
	var d ProjectInput
	if def != nil {
		d = *def
	}
	dp := newProject(v, path.Field("defaultProject"), d, DefaultProjectName, orgEmails)
	dp.IsDefault = true
	projects := []NewProject{dp}
	if len(extra) > MaxProjects {
		v.Add(path.Field("projects"), VTooMany, "at most %d projects, not %d", MaxProjects, len(extra))
		return projects
	}
	names := map[string]bool{strings.ToLower(dp.Name): true}
	slugs := map[string]bool{dp.Slug: true}
	for i, in := range extra {
		p := newProject(v, path.Field("projects").Index(i), in, "", orgEmails)
		if p.Name != "" {
			if names[strings.ToLower(p.Name)] {
				v.Add(path.Field("projects").Index(i).Field("name"), VTaken, "project name %q is used twice in this organization", p.Name)
			}
			names[strings.ToLower(p.Name)] = true
		}
		base := p.Slug
		for n := 2; slugs[p.Slug]; n++ {
			p.Slug = SlugWithSuffix(base, n)
		}
		slugs[p.Slug] = true
		projects = append(projects, p)
	}
	return projects
}
