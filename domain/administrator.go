package domain

import (
	"strings"
	"time"
	"unicode/utf8"
)

// AdministratorInput is the primary administrator as the caller describes them.
type AdministratorInput struct {
	FirstName   string
	LastName    string
	Email       string
	Description *string
	Phone       *string
	Locale      *string
	Gender      *string
	DateOfBirth *string
	Address     *Address
	MFA         *MFAInput
}

// MFAInput sets the administrator's multi-factor authentication.
type MFAInput struct {
	Enabled             bool
	ExpirationInMinutes *int
}

// NewAdministrator is a validated primary administrator.
type NewAdministrator struct {
	FirstName            string
	LastName             string
	Email                string
	Description          *string
	Phone                *string
	Locale               *string
	Gender               *string
	DateOfBirth          *time.Time
	Address              *Address
	MFAEnabled           bool
	MFAExpirationMinutes *int
}

// FullName is "First Last".
func (a *NewAdministrator) FullName() string { return a.FirstName + " " + a.LastName }

var genders = []string{"MALE", "FEMALE", "UNDISCLOSED"}

func newAdministrator(v *Violations, path Path, in *AdministratorInput, now time.Time) *NewAdministrator {
	a := &NewAdministrator{
		FirstName: strings.TrimSpace(in.FirstName), LastName: strings.TrimSpace(in.LastName),
		Email: strings.TrimSpace(in.Email), Description: trimmed(in.Description), Phone: trimmed(in.Phone),
		Locale: trimmed(in.Locale), Gender: in.Gender,
	}
	for _, f := range []struct{ field, s string }{{"firstName", a.FirstName}, {"lastName", a.LastName}} {
		field, s := f.field, f.s
		switch n := utf8.RuneCountInString(s); {
		case n == 0:
			v.Add(path.Field(field), VBlank, "%s can't be blank", field)
		default:
			maxLen(v, path.Field(field), field, s, PersonNameMax)
		}
	}
	validateEmail(v, path.Field("email"), a.Email)
	if a.Description != nil {
		maxLen(v, path.Field("description"), "description", *a.Description, DescriptionMaxLen)
	}
	if a.Phone != nil {
		validatePhone(v, path.Field("phone"), *a.Phone)
	}
	if a.Locale != nil {
		validateLocale(v, path.Field("locale"), *a.Locale)
	}
	if a.Gender != nil && !oneOf(*a.Gender, genders) {
		v.Add(path.Field("gender"), VInvalidValue, "gender must be one of %v", genders)
	}
	if in.DateOfBirth != nil {
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(*in.DateOfBirth))
		switch {
		case err != nil:
			v.Add(path.Field("dateOfBirth"), VInvalidFmt, "dateOfBirth must be an ISO 8601 date, such as 1990-04-25")
		case !d.Before(now.UTC().Truncate(24 * time.Hour)):
			v.Add(path.Field("dateOfBirth"), VInvalidValue, "dateOfBirth must be in the past")
		default:
			a.DateOfBirth = &d
		}
	}
	a.Address = normalizeAddress(v, path.Field("address"), in.Address)
	if in.MFA != nil {
		a.MFAEnabled = in.MFA.Enabled
		if m := in.MFA.ExpirationInMinutes; m != nil {
			if *m < 1 || *m > MfaMaxMinutes {
				v.Add(path.Field("mfa").Field("expirationInMinutes"), VInvalidValue, "expirationInMinutes must be between 1 and %d", MfaMaxMinutes)
			}
			a.MFAExpirationMinutes = m
		}
	}
	return a
}
