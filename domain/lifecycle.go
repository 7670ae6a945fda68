package domain

// An organization's life: ACTIVE and INACTIVE (suspended) organizations can be deleted (REMOVED); a
// deleted organization can be restored, to the status it had, until its retention ends; then it is
// purged: its rows are deleted, its audit events kept.

// ReasonMaxLen bounds a deactivation's reason, in characters.
const ReasonMaxLen = 500

// EventOrganizationPurged is the last event of a purged organization, recorded by the system.
const EventOrganizationPurged = "organization.purged"

// ValidateReason checks a deactivation's reason, at path.
func ValidateReason(path Path, reason *string) error {
	var v Violations
	if reason != nil {
		maxLen(&v, path, "reason", *reason, ReasonMaxLen)
	}
	return v.Err()
}

// ValidateRestoreSlug checks the new slug a restore asks for, at path, as a create's slug is checked.
func ValidateRestoreSlug(path Path, slug *string) error {
	var v Violations
	if slug != nil {
		ValidateSlug(&v, path, *slug)
	}
	return v.Err()
}
