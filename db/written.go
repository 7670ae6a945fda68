package db

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"orgs/domain"
)

// What a create wrote beside the organization's row, as a read returns it (domain.Written): the
// projects from what was sent, the rest from the create statement's one row (qInsertOrganization): the
// owner's membership with their user, the ids and tokens PostgreSQL gave the domains, and the custom
// attributes as jsonb stored them.

// readWritten reads the row of qInsertOrganization for o, which was written with projects and the
// domains of names (primary and generated say which).
func readWritten(rows *sqlx.Rows, o *domain.Organization, projects []projectRecord, names []string, primary, generated []bool, domainExpires, now time.Time) (*domain.Written, error) {
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("the create returned no row")
	}
	var domainsJSON, attributesJSON []byte
	owner, err := scanMember(rows, &domainsJSON, &attributesJSON)
	if err != nil {
		return nil, err
	}
	for rows.Next() { // read to the end: an error may follow the row (a constraint checked at its end)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	w := &domain.Written{Members: []domain.Member{owner}}
	if w.Domains, err = writtenDomains(o.ID, domainsJSON, names, primary, generated, domainExpires, now); err != nil {
		return nil, err
	}
	if w.Attributes, err = writtenAttributes(attributesJSON); err != nil {
		return nil, err
	}
	w.Projects = make([]domain.Project, len(projects))
	for i, p := range projects {
		w.Projects[i] = domain.Project{
			TenantID: o.TenantID, ID: p.ID, OrganizationID: o.ID, Name: p.Name, Slug: p.Slug, Type: p.Type, Mode: p.Mode,
			Status: domain.ProjectStatusActive, IsDefault: p.IsDefault, ContactEmails: p.Emails, DeepScan: p.DeepScan,
			RealTimeScan: p.RealTimeScan, CreatedAt: now, UpdatedAt: now,
		}
		if p.SendFromEmail != nil {
			w.Projects[i].SendFromEmail = &domain.SenderEmail{Email: *p.SendFromEmail, Name: p.SendFromName}
		}
	}
	// projectOrderSQL: the default first, then by position (they share created_at)
	slices.SortStableFunc(w.Projects, func(a, b domain.Project) int {
		switch {
		case a.IsDefault == b.IsDefault:
			return 0
		case a.IsDefault:
			return -1
		}
		return 1
	})
	return w, nil
}

// writtenDomains are the domains of names as the create stored them, given their ids and tokens as
// [id, domain, token] triples, in the order of DomainsOf: the primary first (there is one).
func writtenDomains(orgID string, triples []byte, names []string, primary, generated []bool, domainExpires, now time.Time) ([]domain.Domain, error) {
	var rows [][3]string
	if err := json.Unmarshal(triples, &rows); err != nil {
		return nil, fmt.Errorf("decode created domains: %w", err)
	}
	byName := make(map[string][3]string, len(rows))
	for _, r := range rows {
		byName[r[1]] = r
	}
	out := make([]domain.Domain, 0, len(names))
	for i, name := range names {
		r, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("created domain %s not returned", name)
		}
		d := domain.Domain{ID: r[0], OrganizationID: orgID, Domain: name, IsPrimary: primary[i], IsVerified: generated[i],
			IsGenerated: generated[i], Status: domain.DomainPending, Token: r[2]}
		if generated[i] {
			at := now
			d.Status, d.VerifiedAt = domain.DomainVerified, &at
		} else {
			at := domainExpires.UTC()
			d.ExpiresAt = &at
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b domain.Domain) int {
		switch {
		case a.IsPrimary == b.IsPrimary:
			return 0
		case a.IsPrimary:
			return -1
		}
		return 1
	})
	return out, nil
}

// writtenAttributes decodes [key, type, value] triples, ordered by key, as scanAttributes decodes
// each value.
func writtenAttributes(triples []byte) ([]domain.Attribute, error) {
	out := []domain.Attribute{}
	if len(triples) == 0 { // no attribute: NULL
		return out, nil
	}
	var rows [][3]json.RawMessage
	if err := json.Unmarshal(triples, &rows); err != nil {
		return nil, fmt.Errorf("decode created attributes: %w", err)
	}
	for _, r := range rows {
		var a domain.Attribute
		if err := json.Unmarshal(r[0], &a.Key); err != nil {
			return nil, fmt.Errorf("decode created attribute: %w", err)
		}
		if err := json.Unmarshal(r[1], &a.Type); err != nil {
			return nil, fmt.Errorf("decode created attribute %s: %w", a.Key, err)
		}
		var err error
		if a.Value, err = decodeAttributeValue(r[2]); err != nil {
			return nil, fmt.Errorf("decode created attribute %s: %w", a.Key, err)
		}
		out = append(out, a)
	}
	return out, nil
}
