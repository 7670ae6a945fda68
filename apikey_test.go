package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"orgs/db"
	"orgs/db/dbtest"
)

func TestAPIKeyCreateCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.Empty(t) // the command migrates a fresh install itself
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"apikey", "create", "--name", "ci", "--tenant", "acme",
		"--permission", "ORGANIZATION_READ", "--permission", "organization_create", "--email", "ci@acme.test"},
		env(map[string]string{"DATABASE_URL": url}), &stdout, &stderr)
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	key := lines[len(lines)-1]
	if !regexp.MustCompile(`^orgs_[A-Za-z0-9_-]{43}$`).MatchString(key) {
		t.Fatalf("last line of stdout = %q, want the key alone", key)
	}
	store, err := db.Open(context.Background(), url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	actor, err := store.Authenticate(context.Background(), key)
	if err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}
	if actor.TenantName != "acme" || actor.Email != "ci@acme.test" || actor.KeyName != "ci" ||
		len(actor.Permissions) != 2 || actor.Permissions[0] != "ORGANIZATION_READ" || actor.Permissions[1] != "ORGANIZATION_CREATE" {
		t.Errorf("actor = %+v", actor)
	}

	for _, args := range [][]string{
		{"apikey", "create"},
		{"apikey", "create", "--name", "x", "--permission", "EVERYTHING"},
		{"apikey", "delete"},
	} {
		if err := run(context.Background(), args, env(map[string]string{"DATABASE_URL": url}), io.Discard, io.Discard); err == nil {
			t.Errorf("%v succeeded, want an error", args)
		}
	}
}
