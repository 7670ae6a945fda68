package domain

import (
	"html"
	"strconv"
	"time"
)

var (
	itoa       = strconv.Itoa
	htmlEscape = html.EscapeString
)

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

// ConfirmationEmail writes the email that asks a new primary administrator to confirm their address by
// following link.
func ConfirmationEmail(orgName, firstName, link string, ttl time.Duration) (subject, text, html string) {
	subject = "Confirm your email address for " + orgName
	hours := int(ttl.Hours())
	text = "Hello " + firstName + ",\r\n\r\n" +
		"You are the administrator of " + orgName + ". Please confirm your email address by opening this link:\r\n\r\n" +
		link + "\r\n\r\n" +
		"The link works once and expires in " + itoa(hours) + " hours. If you did not expect this email, ignore it.\r\n"
	html = "<p>Hello " + htmlEscape(firstName) + ",</p>" +
		"<p>You are the administrator of <strong>" + htmlEscape(orgName) + "</strong>. Please confirm your email address:</p>" +
		`<p><a href="` + htmlEscape(link) + `">Confirm my email address</a></p>` +
		"<p>The link works once and expires in " + itoa(hours) + " hours. If you did not expect this email, ignore it.</p>"
	return subject, text, html
}
