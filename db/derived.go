package db

import "orgs/domain"

// SQL fragments that say what the API derives from the tables, once for every read that needs them:
// gqlgen's reads (organizations.go, lists.go) and the selected reads of the direct path (selected.go).
// Their Go-side counterparts are in domain/derived.go.

// primaryDomainSQL is the primary domain of an organization o, ” when it has none.
const primaryDomainSQL = `coalesce((SELECT d.domain FROM organization_domains d
          WHERE d.tenant_id = o.tenant_id AND d.organization_id = o.id AND d.is_primary), '')`

// projectOrderSQL orders the projects of organizations: by organization, then the default project
// first, then as created.
const projectOrderSQL = `organization_id, is_default DESC, created_at, position, id`

// memberOrderSQL orders the members m of organizations: by organization, then owners, admins and
// members, then as they joined.
const memberOrderSQL = `m.organization_id, array_position(ARRAY['` + string(domain.RoleOwner) + `', '` +
	string(domain.RoleAdmin) + `', '` + string(domain.RoleMember) + `'], m.role), m.created_at, m.id`

// ownersSQL keeps the owners among members m (domain.Member.IsOwner).
const ownersSQL = `m.role = '` + string(domain.RoleOwner) + `'`

// membersWithUsersSQL is the memberships m with their users u.
const membersWithUsersSQL = `memberships m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id`

// emailVerifiedSQL tells whether the user u has confirmed their email address.
const emailVerifiedSQL = `u.email_verified_at IS NOT NULL`
