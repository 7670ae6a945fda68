package graph

import (
	"bytes"
	"slices"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"orgs/graph/model"
)

// checkEnumWriter compares write with E's own MarshalGQL on each of the schema's values and on values
// the schema does not have.
func checkEnumWriter[E enum](t *testing.T, name string, values []E, write func(*bytes.Buffer, E)) {
	t.Helper()
	if len(values) == 0 {
		t.Fatalf("%s: no values", name)
	}
	for _, v := range slices.Concat(values, []E{"", "NOT_A_VALUE", `quote"and\backslash`, "\u00e9\n"}) {
		var got, want bytes.Buffer
		write(&got, v)
		v.MarshalGQL(&want)
		if got.String() != want.String() {
			t.Errorf("%s %q: wrote %q, MarshalGQL writes %q", name, string(v), got.String(), want.String())
		}
	}
}

// The direct path writes enums and booleans byte for byte as gqlgen's marshalers do, without them.
func TestWritersAreGqlgens(t *testing.T) {
	checkEnumWriter(t, "OrganizationStatus", model.AllOrganizationStatus, writeOrganizationStatus)
	checkEnumWriter(t, "ProjectType", model.AllProjectType, writeProjectType)
	checkEnumWriter(t, "ProjectMode", model.AllProjectMode, writeProjectMode)
	checkEnumWriter(t, "ProjectStatus", model.AllProjectStatus, writeProjectStatus)
	checkEnumWriter(t, "MemberRole", model.AllMemberRole, writeMemberRole)
	checkEnumWriter(t, "MemberStatus", model.AllMemberStatus, writeMemberStatus)
	checkEnumWriter(t, "CustomAttributeType", model.AllCustomAttributeType, writeAttributeType)
	checkEnumWriter(t, "DomainStatus", model.AllDomainStatus, writeDomainStatus)
	for _, b := range []bool{true, false} {
		var got, want bytes.Buffer
		writeBool(&got, b)
		graphql.MarshalBoolean(b).MarshalGQL(&want)
		if got.String() != want.String() {
			t.Errorf("bool %v: wrote %q, MarshalBoolean writes %q", b, got.String(), want.String())
		}
	}
}

// An enum's value is written without allocating.
func TestEnumWriterDoesNotAllocate(t *testing.T) {
	var b bytes.Buffer
	b.Grow(1 << 10)
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset()
		writeMemberRole(&b, model.MemberRoleOwner)
	})
	if allocs != 0 {
		t.Errorf("writing a MemberRole allocates %v times", allocs)
	}
}
