package domain

import "time"

// Email is a message queued in the transactional outbox and delivered by the mail worker.
type Email struct {
	TenantID string
	ID       string
	// Kind says what the email is for, e.g. EmailKindConfirmation.
	Kind     string
	To       string
	Subject  string
	TextBody string
	HTMLBody string
	// Attempts counts delivery attempts so far.
	Attempts  int
	CreatedAt time.Time
}

// EmailKindConfirmation is the email that asks a new administrator to confirm their address.
const EmailKindConfirmation = "administrator_confirmation"
