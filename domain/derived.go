package domain

// What the API derives from what is stored, said once for every path that reads it: gqlgen's resolvers
// (graph/convert.go, graph/schema.resolvers.go) and the direct path of lists (graph/direct.go).

// IsActive tells whether the organization is active (Organization.isActive).
func (o *Organization) IsActive() bool { return o.Status == StatusActive }

// IsActive tells whether the project is active (Project.isActive).
func (p *Project) IsActive() bool { return p.Status == ProjectStatusActive }

// IsTest tells whether the project is in test mode (Project.isTest).
func (p *Project) IsTest() bool { return p.Mode == ProjectModeTest }

// IsOwner tells whether the member owns the organization (Organization.owners).
func (m *Member) IsOwner() bool { return m.Role == RoleOwner }

// DefaultProject is the default project among an organization's projects (Organization.defaultProject),
// nil when there is none.
func DefaultProject(projects []Project) *Project {
	for i := range projects {
		if projects[i].IsDefault {
			return &projects[i]
		}
	}
	return nil
}
