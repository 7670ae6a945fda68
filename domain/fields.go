package domain

import (
	"net"
	"net/mail"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked against the embedded database, not the host's
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/language"
)

// Limits shared by several inputs.
const (
	MaxEmails       = 20
	MaxCoupons      = 20
	AddressMaxLen   = 200
	EmailMaxLen     = 254
	PersonNameMax   = 100
	CouponMaxLen    = 64
	PlanMaxLen      = 100
	IdempotencyMax  = 255
	MaxProjects     = 20
	MaxAttributes   = 50
	MfaMaxMinutes   = 1440
	ProjectNameMax  = 200
	TemplateNameMax = 200
)

// trimmed returns the trimmed value of an optional string, nil when absent or blank.
func trimmed(s *string) *string {
	if s == nil {
		return nil
	}
	return optional(strings.TrimSpace(*s))
}

// storableText records INVALID_FORMAT when s holds U+0000, which PostgreSQL stores in no text or jsonb
// value: refused here, it would fail the statement.
func storableText(v *Violations, path Path, what, s string) bool {
	if strings.ContainsRune(s, 0) {
		v.Add(path, VInvalidFmt, "%s must not contain the character U+0000", what)
		return false
	}
	return true
}

// maxLen records TOO_LONG when s has more than max characters, and refuses U+0000 (storableText).
func maxLen(v *Violations, path Path, what string, s string, max int) bool {
	if !storableText(v, path, what, s) {
		return false
	}
	if n := utf8.RuneCountInString(s); n > max {
		v.Add(path, VTooLong, "%s is too long (%d characters, at most %d)", what, n, max)
		return false
	}
	return true
}

// validateEmail records the violations of one RFC 5322 address (addr-spec, without a display name).
func validateEmail(v *Violations, path Path, addr string) bool {
	if addr == "" {
		v.Add(path, VBlank, "email address can't be blank")
		return false
	}
	if len(addr) > EmailMaxLen {
		v.Add(path, VTooLong, "email address is too long (%d characters, at most %d)", len(addr), EmailMaxLen)
		return false
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		v.Add(path, VInvalidFmt, "%q is not an RFC 5322 email address such as name@example.com", addr)
		return false
	}
	return true
}

// emailList validates a list of addresses and returns it trimmed and de-duplicated case-insensitively,
// keeping the first spelling of each.
func emailList(v *Violations, path Path, in []string) []string {
	if len(in) > MaxEmails {
		v.Add(path, VTooMany, "at most %d email addresses, not %d", MaxEmails, len(in))
		return nil
	}
	out := []string{}
	seen := map[string]bool{}
	for i, e := range in {
		e = strings.TrimSpace(e)
		if !validateEmail(v, path.Index(i), e) {
			continue
		}
		if k := strings.ToLower(e); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// validatePhone checks an E.164 number with libphonenumber's metadata.
func validatePhone(v *Violations, path Path, phone string) {
	if !e164.MatchString(phone) {
		v.Add(path, VInvalidFmt, "phone must be in E.164 format, such as +14155552671")
		return
	}
	num, err := phonenumbers.Parse(phone, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		v.Add(path, VInvalidValue, "%s is not a valid phone number", phone)
	}
}

var bcp47 = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)

// validateLocale checks a BCP 47 language tag.
func validateLocale(v *Violations, path Path, tag string) {
	if !bcp47.MatchString(tag) {
		v.Add(path, VInvalidFmt, "locale must be a BCP 47 language tag, such as en-US")
		return
	}
	if _, err := language.Parse(tag); err != nil {
		v.Add(path, VInvalidValue, "%q is not a known BCP 47 language tag", tag)
	}
}

// validateTimezone checks an IANA time zone name against the embedded tz database.
func validateTimezone(v *Violations, path Path, tz string) {
	if tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		v.Add(path, VInvalidValue, "%q is not an IANA time zone name", tz)
		return
	}
	if _, err := time.LoadLocation(tz); err != nil {
		v.Add(path, VInvalidValue, "%q is not an IANA time zone name, such as Europe/Paris", tz)
	}
}

// hostProfile is IDNA's lookup profile: what browsers do with a typed host name.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.ValidateLabels(true),
	idna.StrictDomainName(true), idna.VerifyDNSLength(true))

// NormalizeDomain returns the ASCII (punycode) form of a host name, or the canonical form of an IP
// literal (brackets removed), or a violation.
func NormalizeDomain(v *Violations, path Path, host string) (string, bool) {
	h := strings.TrimSuffix(strings.TrimSpace(host), ".")
	if h == "" {
		v.Add(path, VBlank, "domain can't be blank")
		return "", false
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
		return ip.String(), true
	}
	ascii, err := hostProfile.ToASCII(h)
	// One final dot was trimmed above; another (example.com..), or one mapped from a full stop
	// (example．), is a host name that normalises differently twice: refused.
	if err != nil || !utf8.ValidString(h) || strings.HasSuffix(ascii, ".") || strings.Trim(ascii, "0123456789.") == "" {
		v.Add(path, VInvalidFmt, "%q is not a host name or IP address", host)
		return "", false
	}
	return strings.ToLower(ascii), true
}

var couponPattern = regexp.MustCompile(`^[A-Z0-9_-]{1,64}$`)

func validateCoupons(v *Violations, path Path, coupons []string) []string {
	if len(coupons) > MaxCoupons {
		v.Add(path, VTooMany, "at most %d coupons, not %d", MaxCoupons, len(coupons))
		return nil
	}
	out := []string{}
	for i, c := range coupons {
		switch {
		case c == "":
			v.Add(path.Index(i), VBlank, "coupon can't be blank")
		case len(c) > CouponMaxLen:
			v.Add(path.Index(i), VTooLong, "coupon is too long (%d characters, at most %d)", len(c), CouponMaxLen)
		case !couponPattern.MatchString(c):
			v.Add(path.Index(i), VInvalidFmt, "coupon may contain only A-Z, 0-9, '_' and '-'")
		default:
			out = append(out, c)
		}
	}
	return out
}

// Address is a postal address.
type Address struct {
	CountryCode *string `json:"countryCode,omitempty"`
	State       *string `json:"state,omitempty"`
	City        *string `json:"city,omitempty"`
	ZipCode     *string `json:"zipCode,omitempty"`
	Address1    *string `json:"address1,omitempty"`
	Address2    *string `json:"address2,omitempty"`
}

// normalizeAddress trims an address and records its violations; nil when every part is empty.
func normalizeAddress(v *Violations, path Path, in *Address) *Address {
	if in == nil {
		return nil
	}
	out := &Address{
		CountryCode: trimmed(in.CountryCode), State: trimmed(in.State), City: trimmed(in.City),
		ZipCode: trimmed(in.ZipCode), Address1: trimmed(in.Address1), Address2: trimmed(in.Address2),
	}
	if out.CountryCode != nil {
		validateCountryCode(v, path.Field("countryCode"), *out.CountryCode)
	}
	for _, f := range []struct {
		name string
		s    *string
	}{{"state", out.State}, {"city", out.City}, {"zipCode", out.ZipCode}, {"address1", out.Address1}, {"address2", out.Address2}} {
		if f.s != nil {
			maxLen(v, path.Field(f.name), f.name, *f.s, AddressMaxLen)
		}
	}
	if *out == (Address{}) {
		return nil
	}
	return out
}

func validateIdempotencyKey(v *Violations, path Path, key string) {
	if key == "" {
		v.Add(path, VBlank, "idempotency key can't be blank")
		return
	}
	if len(key) > IdempotencyMax {
		v.Add(path, VTooLong, "idempotency key is too long (%d characters, at most %d)", len(key), IdempotencyMax)
		return
	}
	for _, r := range key {
		if r < 0x20 || r > 0x7e {
			v.Add(path, VInvalidFmt, "idempotency key must be printable ASCII")
			return
		}
	}
}

// ValidateIdempotencyKey returns the violations of an idempotency key at path.
func ValidateIdempotencyKey(path Path, key string) Violations {
	var v Violations
	validateIdempotencyKey(&v, path, key)
	return v
}
