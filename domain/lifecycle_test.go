package domain

import (
	"strings"
	"testing"
)

func TestValidateReason(t *testing.T) {
	t.Parallel()
	ok := strings.Repeat("ü", ReasonMaxLen) // characters, not bytes
	for _, r := range []*string{nil, new(""), &ok} {
		if err := ValidateReason(Path{"reason"}, r); err != nil {
			t.Errorf("ValidateReason(%d characters): %v", len([]rune(*orEmpty(r))), err)
		}
	}
	long := ok + "x"
	err := ValidateReason(Path{"reason"}, &long)
	verr, _ := err.(*ValidationError)
	if verr == nil || len(verr.Violations) != 1 || verr.Violations[0].Code != VTooLong || verr.Violations[0].Field[0] != "reason" {
		t.Errorf("ValidateReason(501 characters) = %v", err)
	}
}

func TestValidateRestoreSlug(t *testing.T) {
	t.Parallel()
	good, bad := "acme-2", "Acme 2"
	if err := ValidateRestoreSlug(Path{"slug"}, nil); err != nil {
		t.Errorf("no slug: %v", err)
	}
	if err := ValidateRestoreSlug(Path{"slug"}, &good); err != nil {
		t.Errorf("%q: %v", good, err)
	}
	if err := ValidateRestoreSlug(Path{"slug"}, &bad); err == nil {
		t.Errorf("%q accepted", bad)
	}
}

func orEmpty(s *string) *string {
	if s == nil {
		return new("")
	}
	return s
}
