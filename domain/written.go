package domain

// Written is what the create of an organization wrote beside the organization's row, exactly as a read
// of the organization's relations would return it, so that the create's answer needs no read.
type Written struct {
	// Projects in the order of a read: the default one first.
	Projects []Project
	// Members in the order of a read; nil when the create does not know them all (it invited a
	// primary administrator, whose user may have existed before).
	Members []Member
	// Domains in the order of a read: the primary one first.
	Domains []Domain
	// Attributes by key.
	Attributes []Attribute
	// Template is the template the organization was made from, if any.
	Template *Template
}
