package domain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// AttributeType is the type of a custom attribute's value.
type AttributeType string

const (
	AttrString  AttributeType = "STRING"
	AttrNumber  AttributeType = "NUMBER"
	AttrBoolean AttributeType = "BOOLEAN"
	AttrDate    AttributeType = "DATE"
	// AttrJSON is an object or an array.
	AttrJSON AttributeType = "JSON"
)

// AttributeStringMax caps a STRING attribute's length.
const AttributeStringMax = 2000

// Attribute is a typed custom attribute of an organization. Value is a string, a json.Number or a bool;
// DATE values are YYYY-MM-DD strings; JSON values are objects (map[string]any) or arrays ([]any).
type Attribute struct {
	Key   string
	Type  AttributeType
	Value any
}

// AttributeInput is a custom attribute as sent: any JSON value.
type AttributeInput struct {
	Key   string
	Value any
}

// AttributeDefinition is a template's definition of a custom attribute.
type AttributeDefinition struct {
	Key          string        `json:"key"`
	Type         AttributeType `json:"type"`
	Required     bool          `json:"required"`
	DefaultValue any           `json:"defaultValue,omitempty"`
}

// ProjectDefaults is the default project a template gives.
type ProjectDefaults struct {
	Name          *string  `json:"name,omitempty"`
	Type          *string  `json:"type,omitempty"`
	Mode          *string  `json:"mode,omitempty"`
	ContactEmails []string `json:"contactEmails,omitempty"`
}

// Template holds defaults and custom attribute definitions for new organizations.
type Template struct {
	TenantID       string
	ID             string
	Name           string
	Description    *string
	CountryCode    *string
	LanguageCode   *string
	Locale         *string
	Timezone       *string
	IsPrivate      *bool
	RegionTemplate *string
	DefaultProject *ProjectDefaults
	Definitions    []AttributeDefinition
	CreatedAt      time.Time
}

// TemplateInput is createOrganizationTemplate's input.
type TemplateInput struct {
	Name           string
	Description    *string
	CountryCode    *string
	LanguageCode   *string
	Locale         *string
	Timezone       *string
	IsPrivate      *bool
	RegionTemplate *string
	DefaultProject *ProjectInput
	Definitions    []AttributeDefinitionInput
}

// AttributeDefinitionInput is one definition as sent.
type AttributeDefinitionInput struct {
	Key          string
	Type         AttributeType
	Required     *bool
	DefaultValue any
}

var attributeKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

func validateAttributeKey(v *Violations, path Path, key string) bool {
	if !attributeKey.MatchString(key) {
		v.Add(path, VInvalidFmt, "key must start with a letter and hold at most 64 letters, digits, '_', '.' or '-'")
		return false
	}
	return true
}

// NewTemplateFrom validates a template, reporting every violation at its path below base.
func NewTemplateFrom(in TemplateInput, regions []string, base Path) (*Template, error) {
	var v Violations
	t := &Template{
		Name: strings.TrimSpace(in.Name), Description: trimmed(in.Description), CountryCode: trimmed(in.CountryCode),
		LanguageCode: trimmed(in.LanguageCode), Locale: trimmed(in.Locale), Timezone: trimmed(in.Timezone),
		IsPrivate: in.IsPrivate, RegionTemplate: trimmed(in.RegionTemplate), Definitions: []AttributeDefinition{},
	}
	switch n := utf8.RuneCountInString(t.Name); {
	case n == 0:
		v.Add(base.Field("name"), VBlank, "name can't be blank")
	default:
		maxLen(&v, base.Field("name"), "name", t.Name, TemplateNameMax)
	}
	if t.Description != nil {
		maxLen(&v, base.Field("description"), "description", *t.Description, DescriptionMaxLen)
	}
	validateLocation(&v, base, t.CountryCode, t.LanguageCode, t.Locale, t.Timezone, t.RegionTemplate, regions)
	if in.DefaultProject != nil {
		p := newProject(&v, base.Field("defaultProject"), *in.DefaultProject, DefaultProjectName, nil)
		t.DefaultProject = &ProjectDefaults{Type: in.DefaultProject.Type, Mode: in.DefaultProject.Mode}
		if in.DefaultProject.Name != nil {
			t.DefaultProject.Name = &p.Name
		}
		if in.DefaultProject.ContactEmails != nil {
			t.DefaultProject.ContactEmails = p.ContactEmails
		}
	}
	if len(in.Definitions) > MaxAttributes {
		v.Add(base.Field("customAttributeDefinitions"), VTooMany, "at most %d definitions, not %d", MaxAttributes, len(in.Definitions))
	} else {
		seen := map[string]bool{}
		for i, d := range in.Definitions {
			path := base.Field("customAttributeDefinitions").Index(i)
			def := AttributeDefinition{Key: strings.TrimSpace(d.Key), Type: d.Type, Required: d.Required != nil && *d.Required}
			if validateAttributeKey(&v, path.Field("key"), def.Key) {
				if seen[def.Key] {
					v.Add(path.Field("key"), VTaken, "key %q is defined twice", def.Key)
				}
				seen[def.Key] = true
			}
			if !oneOf(string(def.Type), []string{"STRING", "NUMBER", "BOOLEAN", "DATE", "JSON"}) {
				v.Add(path.Field("type"), VInvalidValue, "type must be STRING, NUMBER, BOOLEAN, DATE or JSON")
			} else if d.DefaultValue != nil {
				def.DefaultValue = typedValue(&v, path.Field("defaultValue"), def.Type, d.DefaultValue)
			}
			t.Definitions = append(t.Definitions, def)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// validateLocation checks the location fields shared by organizations and templates.
func validateLocation(v *Violations, base Path, country, language, locale, tz, region *string, regions []string) {
	if country != nil {
		validateCountryCode(v, base.Field("countryCode"), *country)
	}
	if language != nil {
		validateLanguageCode(v, base.Field("languageCode"), *language)
	}
	if locale != nil {
		validateLocale(v, base.Field("locale"), *locale)
	}
	if tz != nil {
		validateTimezone(v, base.Field("timezone"), *tz)
	}
	if region != nil && !oneOf(*region, regions) {
		v.Add(base.Field("regionTemplate"), VInvalidValue, "regionTemplate must be one of %s", strings.Join(regions, ", "))
	}
}

var isoDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// typedValue checks that value has type t and returns it in its stored form, or records a violation.
func typedValue(v *Violations, path Path, t AttributeType, value any) any {
	got, norm, ok := valueType(value)
	if ok && got == AttrDate && t == AttrString {
		got = AttrString // a date-looking string is a fine STRING
	}
	if !ok || got != t {
		v.Add(path, VInvalidValue, "value must be of type %s%s", t, map[AttributeType]string{
			AttrDate: " (an ISO 8601 date such as 2026-01-31)", AttrJSON: " (an object or an array)"}[t])
		return nil
	}
	if !valueWithinLimits(v, path, norm) {
		return nil
	}
	return norm
}

// inferType gives the type of a JSON value: bool → BOOLEAN, number → NUMBER, a valid YYYY-MM-DD date →
// DATE, other strings → STRING. null, objects and arrays have none here: filters compare scalars, and
// valueType types stored values, objects and arrays as JSON.
func inferType(value any) (AttributeType, any, bool) {
	switch x := value.(type) {
	case bool:
		return AttrBoolean, x, true
	case json.Number:
		return AttrNumber, x, true
	case float64:
		return AttrNumber, json.Number(fmt.Sprint(x)), true
	case float32, int, int32, int64:
		return AttrNumber, json.Number(fmt.Sprint(x)), true
	case string:
		if isoDate.MatchString(x) {
			if _, err := time.Parse(time.DateOnly, x); err == nil {
				return AttrDate, x, true
			}
		}
		return AttrString, x, true
	}
	return "", nil, false
}

// customAttributes validates the input's attributes against the template's definitions (when there
// is a template) and fills the defaults of the attributes it leaves out.
func customAttributes(v *Violations, path Path, in []AttributeInput, t *Template) []Attribute {
	out := []Attribute{}
	if len(in) > MaxAttributes {
		v.Add(path, VTooMany, "at most %d custom attributes, not %d", MaxAttributes, len(in))
		return out
	}
	defs := t.definitions()
	seen := map[string]bool{}
	for i, a := range in {
		p := path.Index(i)
		key := strings.TrimSpace(a.Key)
		if !validateAttributeKey(v, p.Field("key"), key) {
			continue
		}
		if seen[key] {
			v.Add(p.Field("key"), VTaken, "key %q is given twice", key)
			continue
		}
		seen[key] = true
		if a, ok := attributeOf(v, p, key, a.Value, defs, t); ok {
			out = append(out, a)
		}
	}
	if t != nil {
		for _, d := range t.Definitions {
			switch {
			case seen[d.Key]:
			case d.DefaultValue != nil:
				out = append(out, Attribute{Key: d.Key, Type: d.Type, Value: d.DefaultValue})
			case d.Required:
				v.Add(path, VRequired, "custom attribute %q is required by the template %q", d.Key, t.Name)
			}
		}
	}
	return out
}
