// Package domain holds the organization model and its rules: validation, slugs, domains, actors and
// permissions, and the small set of error codes the rest of the service speaks. It knows nothing of SQL
// or GraphQL.
package domain

import (
	"errors"
	"fmt"
)

// ErrorCode classifies an error for the API layer.
type ErrorCode string

const (
	EINVALID         ErrorCode = "BAD_USER_INPUT"
	ENOTFOUND        ErrorCode = "NOT_FOUND"
	ECONFLICT        ErrorCode = "CONFLICT"
	EUNAUTHENTICATED ErrorCode = "UNAUTHENTICATED"
	EFORBIDDEN       ErrorCode = "FORBIDDEN"
	EINTERNAL        ErrorCode = "INTERNAL_SERVER_ERROR"

	// Codes of the HTTP layer: requests refused before any GraphQL runs.
	EBADREQUEST           ErrorCode = "BAD_REQUEST"            // 400: not a GraphQL request (body, parameters)
	EQUERYTOOCOMPLEX      ErrorCode = "QUERY_TOO_COMPLEX"      // 400: a document over the size and shape limits
	EMETHODNOTALLOWED     ErrorCode = "METHOD_NOT_ALLOWED"     // 405
	ENOTACCEPTABLE        ErrorCode = "NOT_ACCEPTABLE"         // 406: no acceptable response media type
	EPAYLOADTOOLARGE      ErrorCode = "PAYLOAD_TOO_LARGE"      // 413
	EUNSUPPORTEDMEDIATYPE ErrorCode = "UNSUPPORTED_MEDIA_TYPE" // 415
	ERATELIMITED          ErrorCode = "RATE_LIMITED"           // 429
	EUNAVAILABLE          ErrorCode = "UNAVAILABLE"            // 503: a dependency (the database) is not ready
)

// Error is an error whose message is safe to show to the caller.
type Error struct {
	Code    ErrorCode
	Message string
	// Permission names the missing permission of an EFORBIDDEN error.
	Permission Permission
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of the first *Error in err's chain, EINTERNAL for any other error,
// and "" for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ViolationCode says what is wrong with one input value. The names are the API's UserErrorCode values.
type ViolationCode string

const (
	VRequired     ViolationCode = "REQUIRED"
	VBlank        ViolationCode = "BLANK"
	VTooShort     ViolationCode = "TOO_SHORT"
	VTooLong      ViolationCode = "TOO_LONG"
	VInvalidFmt   ViolationCode = "INVALID_FORMAT"
	VInvalidValue ViolationCode = "INVALID_VALUE"
	VTaken        ViolationCode = "TAKEN"
	VNotFound     ViolationCode = "NOT_FOUND"
	VTooMany      ViolationCode = "TOO_MANY"

	VIdempotencyReused ViolationCode = "IDEMPOTENCY_KEY_REUSED"
	VIdempotencyInUse  ViolationCode = "IDEMPOTENCY_KEY_IN_USE"

	// VStale is an expectedSequence that is not the organization's current one.
	VStale ViolationCode = "STALE_OBJECT"
	// VInvalidState is a change the object's state forbids (reactivating an active organization).
	VInvalidState ViolationCode = "INVALID_STATE"
	// VLastOwner is a change that would leave an organization without an active OWNER.
	VLastOwner ViolationCode = "LAST_OWNER"

	VDNSRecordNotFound   ViolationCode = "DNS_RECORD_NOT_FOUND"
	VDNSRecordMismatch   ViolationCode = "DNS_RECORD_MISMATCH"
	VHTTPChallengeFailed ViolationCode = "HTTP_CHALLENGE_FAILED"
	VVerificationExpired ViolationCode = "VERIFICATION_EXPIRED"
)

// Violation is one broken rule of the input, at its path from the argument.
type Violation struct {
	Field       []string
	Message     string
	Code        ViolationCode
	Suggestions []string
}

// Violations collects every broken rule of an input, so that all are reported at once.
type Violations []Violation

// Add records a violation at path.
func (v *Violations) Add(path Path, code ViolationCode, format string, args ...any) {
	*v = append(*v, Violation{Field: path, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Err returns the violations as a *ValidationError, or nil when there are none.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	return &ValidationError{Violations: v}
}

// ValidationError carries the violations of an input; the API reports them as userErrors.
type ValidationError struct {
	Violations Violations
}

func (e *ValidationError) Error() string {
	if len(e.Violations) == 1 {
		return fmt.Sprintf("invalid input: %v: %s", e.Violations[0].Field, e.Violations[0].Message)
	}
	return fmt.Sprintf("invalid input: %d violations", len(e.Violations))
}

// Path is a path from a GraphQL argument into its value, such as ["input", "slug"].
type Path []string

// Field returns a new path one field deeper.
func (p Path) Field(name string) Path {
	out := make(Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, name)
}

// Index returns a new path one list element deeper.
func (p Path) Index(i int) Path { return p.Field(fmt.Sprint(i)) }
