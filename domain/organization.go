package domain

import (
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// OrganizationStatus is ACTIVE or INACTIVE.
type OrganizationStatus string

const (
	StatusActive   OrganizationStatus = "ACTIVE"
	StatusInactive OrganizationStatus = "INACTIVE"
	// StatusRemoved is a deleted organization: hidden from reads, restorable until it is purged.
	StatusRemoved OrganizationStatus = "REMOVED"
)

// Subscription is the plan an organization is on; no payment provider is involved.
type Subscription struct {
	Plan         string `json:"plan"`
	BillingCycle string `json:"billingCycle"`
}

// Organization is an organization as stored.
type Organization struct {
	TenantID                   string
	ID                         string
	Name                       string
	Slug                       string
	Description                *string
	AvatarURL                  *string
	CountryCode                *string
	LanguageCode               *string
	Locale                     *string
	Timezone                   *string
	Phone                      *string
	Headquarters               *Address
	ContactEmails              []string
	BillingEmails              []string
	PrivacyPolicyURL           *string
	TermsOfServiceURL          *string
	Coupons                    []string
	RegionTemplate             *string
	Subscription               *Subscription
	TemplateID                 *string
	PrimaryAdministratorUserID *string
	PrimaryDomain              string
	IsPrivate                  bool
	IsDefault                  bool
	IsSystem                   bool
	Status                     OrganizationStatus
	StatusChangedAt            time.Time
	TotalMembers               int
	CreatedBy                  string
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
	// Sequence counts the organization's recorded events.
	Sequence      int64
	ResourceOwner string
	// RemovedAt is when the organization was deleted; nil unless its status is StatusRemoved.
	RemovedAt *time.Time
}

// CreateOrganizationInput is the input of createOrganization as the caller sent it. Nil means absent.
type CreateOrganizationInput struct {
	Name                         string
	Slug                         *string
	Description                  *string
	AvatarURL                    *string
	CountryCode                  *string
	LanguageCode                 *string
	Locale                       *string
	Timezone                     *string
	Phone                        *string
	Headquarters                 *Address
	ContactEmails                []string
	BillingEmails                []string
	PrimaryDomain                *string
	PrivacyPolicyURL             *string
	TermsOfServiceURL            *string
	Coupons                      []string
	RegionTemplate               *string
	Subscription                 *Subscription
	IsPrivate                    *bool
	IsDefault                    *bool
	Status                       *OrganizationStatus
	TemplateID                   *string
	CustomAttributes             []AttributeInput
	PrimaryAdministrator         *AdministratorInput
	EmailConfirmationLandingPage *string
	DefaultProject               *ProjectInput
	Projects                     []ProjectInput
}

// NewOrganization is a validated, normalised organization ready to be created.
type NewOrganization struct {
	Name string
	// Slug is the requested slug; empty when it is to be generated from the name.
	Slug              string
	Description       *string
	AvatarURL         *string
	CountryCode       *string
	LanguageCode      *string
	Locale            *string
	Timezone          *string
	Phone             *string
	Headquarters      *Address
	ContactEmails     []string
	BillingEmails     []string
	PrimaryDomain     *string // the given one, in ASCII; nil when only the generated one is wanted
	PrivacyPolicyURL  *string
	TermsOfServiceURL *string
	Coupons           []string
	RegionTemplate    *string
	Subscription      *Subscription
	IsPrivate         bool
	IsDefault         bool
	Status            OrganizationStatus
	TemplateID        *string
	CustomAttributes  []Attribute
	Administrator     *NewAdministrator
	LandingPage       *string
	// Projects holds the default project first.
	Projects []NewProject
}

// Rules are what validation needs beyond the input: the configured regions, the template the input
// names (nil when none, or when it does not exist), and the time.
type Rules struct {
	Regions []string
	// DomainSuffix is reserved for generated domains: <slug>.<DomainSuffix>.
	DomainSuffix string
	Template     *Template
	Now          time.Time
}

// Limits of the organization's fields.
const (
	NameMaxLen        = 200
	SlugMinLen        = 2
	SlugMaxLen        = 63
	DescriptionMaxLen = 2000
	URLMaxLen         = 2048
)

// applyTemplate fills what the input leaves out with the template's defaults.
func applyTemplate(in *CreateOrganizationInput, t *Template) {
	if t == nil {
		return
	}
	fill := func(dst **string, src *string) {
		if *dst == nil && src != nil {
			v := *src
			*dst = &v
		}
	}
	fill(&in.CountryCode, t.CountryCode)
	fill(&in.LanguageCode, t.LanguageCode)
	fill(&in.Locale, t.Locale)
	fill(&in.Timezone, t.Timezone)
	fill(&in.RegionTemplate, t.RegionTemplate)
	if in.IsPrivate == nil && t.IsPrivate != nil {
		v := *t.IsPrivate
		in.IsPrivate = &v
	}
	if d := t.DefaultProject; d != nil {
		p := ProjectInput{}
		if in.DefaultProject != nil {
			p = *in.DefaultProject
		}
		fill(&p.Name, d.Name)
		fill(&p.Type, d.Type)
		fill(&p.Mode, d.Mode)
		if p.ContactEmails == nil && d.ContactEmails != nil {
			p.ContactEmails = d.ContactEmails
		}
		in.DefaultProject = &p
	}
}

// NewOrganizationFrom validates in and returns the normalised organization, or a *ValidationError with
// every violation, each at its path below base (for example ["input"]).
func NewOrganizationFrom(in CreateOrganizationInput, rules Rules, base Path) (*NewOrganization, error) {
	var v Violations
	if rules.Now.IsZero() {
		rules.Now = time.Now()
	}
	applyTemplate(&in, rules.Template)
	o := &NewOrganization{Status: StatusActive, TemplateID: in.TemplateID}

	o.Name = normalizeName(&v, base.Field("name"), in.Name)
	if in.Slug != nil {
		o.Slug = *in.Slug
		ValidateSlug(&v, base.Field("slug"), o.Slug)
	}
	o.Description = normalizeDescription(&v, base.Field("description"), in.Description)
	o.AvatarURL = normalizeURL(&v, base.Field("avatarUrl"), in.AvatarURL)
	o.PrivacyPolicyURL = normalizeURL(&v, base.Field("privacyPolicyUrl"), in.PrivacyPolicyURL)
	o.TermsOfServiceURL = normalizeURL(&v, base.Field("termsOfServiceUrl"), in.TermsOfServiceURL)
	o.LandingPage = normalizeURL(&v, base.Field("emailConfirmationLandingPage"), in.EmailConfirmationLandingPage)
	o.CountryCode, o.LanguageCode = trimmed(in.CountryCode), trimmed(in.LanguageCode)
	o.Locale, o.Timezone, o.RegionTemplate = trimmed(in.Locale), trimmed(in.Timezone), trimmed(in.RegionTemplate)
	validateLocation(&v, base, o.CountryCode, o.LanguageCode, o.Locale, o.Timezone, o.RegionTemplate, rules.Regions)
	o.Phone = normalizePhone(&v, base.Field("phone"), in.Phone)
	o.Headquarters = normalizeAddress(&v, base.Field("headquarters"), in.Headquarters)
	o.ContactEmails = emailList(&v, base.Field("contactEmails"), in.ContactEmails)
	o.BillingEmails = emailList(&v, base.Field("billingEmails"), in.BillingEmails)
	if in.PrimaryDomain != nil {
		if d, ok := NormalizeDomain(&v, base.Field("primaryDomain"), *in.PrimaryDomain); ok {
			suffix := strings.Trim(strings.ToLower(rules.DomainSuffix), ".")
			if suffix != "" && (d == suffix || strings.HasSuffix(d, "."+suffix)) {
				v.Add(base.Field("primaryDomain"), VInvalidValue, "domains under %s are generated from slugs; leave primaryDomain out to get one", suffix)
			}
			o.PrimaryDomain = &d
		}
	}
	o.Coupons = validateCoupons(&v, base.Field("coupons"), in.Coupons)
	o.Subscription = normalizeSubscription(&v, base.Field("subscription"), in.Subscription)
	if in.IsPrivate != nil {
		o.IsPrivate = *in.IsPrivate
	}
	if in.IsDefault != nil {
		o.IsDefault = *in.IsDefault
	}
	if in.Status != nil {
		switch *in.Status {
		case StatusActive, StatusInactive:
			o.Status = *in.Status
		default:
			v.Add(base.Field("status"), VInvalidValue, "status must be ACTIVE or INACTIVE")
		}
	}
	o.CustomAttributes = customAttributes(&v, base.Field("customAttributes"), in.CustomAttributes, rules.Template)
	if in.PrimaryAdministrator != nil {
		o.Administrator = newAdministrator(&v, base.Field("primaryAdministrator"), in.PrimaryAdministrator, rules.Now)
		if o.LandingPage == nil {
			v.Add(base.Field("emailConfirmationLandingPage"), VRequired, "emailConfirmationLandingPage is required with a primaryAdministrator: the confirmation email links to it")
		}
	}
	o.Projects = newProjects(&v, base, in.DefaultProject, in.Projects, o.ContactEmails)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return o, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// The rules of the organization's descriptive fields, shared by createOrganization and
// updateOrganization: each normalises one value (nil stays nil: absent, or cleared) and records its
// violations at path.

// normalizeName trims a name and records its violations.
func normalizeName(v *Violations, path Path, raw string) string {
	name := strings.TrimSpace(raw)
	validateName(v, path, name)
	return name
}

func normalizeDescription(v *Violations, path Path, in *string) *string {
	d := trimmed(in)
	if d != nil {
		maxLen(v, path, "description", *d, DescriptionMaxLen)
	}
	return d
}

// normalizeURL trims an absolute http(s) URL and records its violations.
func normalizeURL(v *Violations, path Path, in *string) *string {
	u := trimmed(in)
	if u != nil {
		validateHTTPURL(v, path, *u)
	}
	return u
}

func normalizePhone(v *Violations, path Path, in *string) *string {
	p := trimmed(in)
	if p != nil {
		validatePhone(v, path, *p)
	}
	return p
}

func normalizeSubscription(v *Violations, path Path, in *Subscription) *Subscription {
	if in == nil {
		return nil
	}
	plan := strings.TrimSpace(in.Plan)
	if plan == "" {
		v.Add(path.Field("plan"), VBlank, "plan can't be blank")
	} else {
		maxLen(v, path.Field("plan"), "plan", plan, PlanMaxLen)
	}
	if in.BillingCycle != "MONTHLY" && in.BillingCycle != "YEARLY" {
		v.Add(path.Field("billingCycle"), VInvalidValue, "billingCycle must be MONTHLY or YEARLY")
	}
	return &Subscription{Plan: plan, BillingCycle: in.BillingCycle}
}

func validateName(v *Violations, path Path, name string) {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		v.Add(path, VBlank, "name can't be blank")
	case n > NameMaxLen:
		v.Add(path, VTooLong, "name is too long (%d characters, at most %d)", n, NameMaxLen)
	}
	if !utf8.ValidString(name) {
		v.Add(path, VInvalidFmt, "name is not valid UTF-8")
		return
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			v.Add(path, VInvalidFmt, "name must not contain control characters")
			return
		}
	}
}

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidateSlug records the violations of a requested slug.
func ValidateSlug(v *Violations, path Path, slug string) {
	switch n := len(slug); {
	case strings.TrimSpace(slug) == "":
		v.Add(path, VBlank, "slug can't be blank")
		return
	case n < SlugMinLen:
		v.Add(path, VTooShort, "slug is too short (%d characters, at least %d)", n, SlugMinLen)
	case n > SlugMaxLen:
		v.Add(path, VTooLong, "slug is too long (%d characters, at most %d)", utf8.RuneCountInString(slug), SlugMaxLen)
	}
	if !slugPattern.MatchString(slug) {
		msg := "slug may contain only lowercase letters a-z, digits and '-', and must not start or end with '-'"
		if s := Slugify(slug); s != "" && s != slug {
			msg += "; try \"" + s + "\""
		}
		v.Add(path, VInvalidFmt, "%s", msg)
	}
}

func validateHTTPURL(v *Violations, path Path, raw string) {
	if n := len(raw); n > URLMaxLen {
		v.Add(path, VTooLong, "URL is too long (%d characters, at most %d)", n, URLMaxLen)
		return
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		v.Add(path, VInvalidFmt, "must be an absolute http or https URL")
	}
}

var upperAlpha2 = regexp.MustCompile(`^[A-Z]{2}$`)

func validateCountryCode(v *Violations, path Path, code string) {
	if !upperAlpha2.MatchString(code) {
		v.Add(path, VInvalidFmt, "countryCode must be an ISO 3166-1 alpha-2 code in upper case, such as US")
		return
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() || r.String() != code {
		v.Add(path, VInvalidValue, "%q is not an ISO 3166-1 country code", code)
	}
}

var lowerAlpha2 = regexp.MustCompile(`^[a-z]{2}$`)

func validateLanguageCode(v *Violations, path Path, code string) {
	if !lowerAlpha2.MatchString(code) {
		v.Add(path, VInvalidFmt, "languageCode must be an ISO 639-1 code in lower case, such as en")
		return
	}
	b, err := language.ParseBase(code)
	if err != nil || b.String() != code {
		v.Add(path, VInvalidValue, "%q is not an ISO 639-1 language code", code)
	}
}

// Domain is one of an organization's domains (see domains.go for verification).
type Domain struct {
	ID             string
	OrganizationID string
	Domain         string
	IsPrimary      bool
	IsVerified     bool
	IsGenerated    bool
	Status         DomainStatus
	VerifiedAt     *time.Time
	// Token is the verification token, published in DNS or over HTTP to prove the domain.
	Token string
	// ExpiresAt is when Token stops working; nil once verified.
	ExpiresAt *time.Time
	// LastFailure says why the last verification attempt failed, when Status is FAILED.
	LastFailure *string
}

// Project is a project of an organization; every organization has one default project.
type Project struct {
	TenantID         string
	ID               string
	OrganizationID   string
	Name             string
	Slug             string
	Type             string
	Mode             string
	Status           string
	IsDefault        bool
	ContactEmails    []string
	SendFromEmail    *SenderEmail
	DeepScan         bool
	RealTimeScan     bool
	LastRealTimeScan *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Project types, modes and statuses.
const (
	ProjectTypeWebsite  = "WEBSITE"
	ProjectModeLive     = "LIVE"
	ProjectModeTest     = "TEST"
	ProjectStatusActive = "ACTIVE"
)

// DefaultProjectName names the default project created with every organization.
const DefaultProjectName = "Default project"

// MemberRole is a member's role in an organization.
type MemberRole string

const (
	RoleOwner  MemberRole = "OWNER"
	RoleAdmin  MemberRole = "ADMIN"
	RoleMember MemberRole = "MEMBER"
)

// MemberStatus is ACTIVE, or INVITED until the member confirms.
type MemberStatus string

const (
	MemberActive  MemberStatus = "ACTIVE"
	MemberInvited MemberStatus = "INVITED"
)

// Member is a user's membership of an organization.
type Member struct {
	ID             string
	OrganizationID string
	UserID         string
	Email          string
	Name           *string
	Role           MemberRole
	Status         MemberStatus
	JoinedAt       *time.Time
	// EmailVerified is true once the member confirmed the address.
	EmailVerified bool
	Profile       UserProfile
}

// UserProfile is what is known of a person beyond their email and name.
type UserProfile struct {
	FirstName            *string
	LastName             *string
	Description          *string
	Phone                *string
	Locale               *string
	Gender               *string
	DateOfBirth          *time.Time
	Address              *Address
	MFAEnabled           bool
	MFAExpirationMinutes *int
}

// Audit event types.
const (
	EventOrganizationCreated        = "organization.created"
	EventOrganizationUpdated        = "organization.updated"
	EventOrganizationDeactivated    = "organization.deactivated"
	EventOrganizationReactivated    = "organization.reactivated"
	EventOrganizationDeleted        = "organization.deleted"
	EventOrganizationRestored       = "organization.restored"
	EventOrganizationAttributes     = "organization.attributes_changed"
	EventOrganizationDefaultRevoked = "organization.default_revoked"
	EventProjectCreated             = "project.created"
	EventProjectUpdated             = "project.updated"
	EventProjectDeleted             = "project.deleted"
	// EventMemberJoined is recorded when a member becomes ACTIVE: an administrator who confirmed their
	// address, or an invitation accepted.
	EventMemberJoined = "member.joined"
)
