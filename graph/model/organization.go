package model

// Organization is bound by hand (gqlgen.yml) so that it can carry what its field resolvers need but the
// API does not show: the ids of its template and primary administrator. Fields absent here (projects,
// members, template, ...) are resolved by graph's organizationResolver, through the request's loaders.
type Organization struct {
	ID                string                    `json:"id"`
	Name              string                    `json:"name"`
	Slug              string                    `json:"slug"`
	Description       *string                   `json:"description,omitempty"`
	AvatarURL         *string                   `json:"avatarUrl,omitempty"`
	CountryCode       *string                   `json:"countryCode,omitempty"`
	LanguageCode      *string                   `json:"languageCode,omitempty"`
	Locale            *string                   `json:"locale,omitempty"`
	Timezone          *string                   `json:"timezone,omitempty"`
	Phone             *string                   `json:"phone,omitempty"`
	Headquarters      *Address                  `json:"headquarters,omitempty"`
	ContactEmails     []string                  `json:"contactEmails"`
	BillingEmails     []string                  `json:"billingEmails"`
	PrivacyPolicyURL  *string                   `json:"privacyPolicyUrl,omitempty"`
	TermsOfServiceURL *string                   `json:"termsOfServiceUrl,omitempty"`
	Coupons           []string                  `json:"coupons"`
	RegionTemplate    *string                   `json:"regionTemplate,omitempty"`
	Subscription      *OrganizationSubscription `json:"subscription,omitempty"`
	PrimaryDomain     string                    `json:"primaryDomain"`
	IsPrivate         bool                      `json:"isPrivate"`
	IsDefault         bool                      `json:"isDefault"`
	IsSystem          bool                      `json:"isSystem"`
	Status            OrganizationStatus        `json:"status"`
	StatusChangedAt   DateTime                  `json:"statusChangedAt"`
	IsActive          bool                      `json:"isActive"`
	TotalMembers      int                       `json:"totalMembers"`
	CreatedBy         string                    `json:"createdBy"`
	CreatedAt         DateTime                  `json:"createdAt"`
	UpdatedAt         DateTime                  `json:"updatedAt"`
	Details           *ObjectDetails            `json:"details"`
	RemovedAt         *DateTime                 `json:"removedAt,omitempty"`

	TemplateID             *string `json:"-"`
	PrimaryAdministratorID *string `json:"-"`
}

// OrganizationConnection is a page of organizations; its totalCount is counted only when asked for.
type OrganizationConnection struct {
	Edges    []OrganizationEdge `json:"edges"`
	PageInfo *PageInfo          `json:"pageInfo"`
	// Count counts every organization that matches, on all pages.
	Count func() (int, error) `json:"-"`
}

// MemberConnection is a page of members; its totalCount is counted only when asked for.
type MemberConnection struct {
	Edges    []MemberEdge        `json:"edges"`
	PageInfo *PageInfo           `json:"pageInfo"`
	Count    func() (int, error) `json:"-"`
}

// ProjectConnection is a page of projects; its totalCount is counted only when asked for.
type ProjectConnection struct {
	Edges    []ProjectEdge       `json:"edges"`
	PageInfo *PageInfo           `json:"pageInfo"`
	Count    func() (int, error) `json:"-"`
}

// OrganizationEventConnection is a page of an organization's events; its totalCount is counted only
// when asked for.
type OrganizationEventConnection struct {
	Edges    []OrganizationEventEdge `json:"edges"`
	PageInfo *PageInfo               `json:"pageInfo"`
	Count    func() (int, error)     `json:"-"`
}

// InvitationConnection is a page of an organization's invitations; its totalCount is counted only when
// asked for.
type InvitationConnection struct {
	Edges    []InvitationEdge    `json:"edges"`
	PageInfo *PageInfo           `json:"pageInfo"`
	Count    func() (int, error) `json:"-"`
}

// APIKeyConnection is a page of the tenant's API keys; its totalCount is counted only when asked for.
type APIKeyConnection struct {
	Edges    []APIKeyEdge        `json:"edges"`
	PageInfo *PageInfo           `json:"pageInfo"`
	Count    func() (int, error) `json:"-"`
}

// WebhookEndpointConnection is a page of the tenant's webhook endpoints; its totalCount is counted only
// when asked for.
type WebhookEndpointConnection struct {
	Edges    []WebhookEndpointEdge `json:"edges"`
	PageInfo *PageInfo             `json:"pageInfo"`
	Count    func() (int, error)   `json:"-"`
}

// WebhookDeliveryConnection is a page of an endpoint's deliveries; its totalCount is counted only when
// asked for.
type WebhookDeliveryConnection struct {
	Edges    []WebhookDeliveryEdge `json:"edges"`
	PageInfo *PageInfo             `json:"pageInfo"`
	Count    func() (int, error)   `json:"-"`
}
