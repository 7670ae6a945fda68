package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"orgs/db"
	"orgs/domain"
)

// createAPIKey is `apikey create`: it creates a key with its tenant and principal as needed and prints
// the key alone on the last line of stdout (it cannot be shown again).
func createAPIKey(ctx context.Context, cfg config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "name of the key (required)")
	tenant := fs.String("tenant", "default", "tenant id or name; a new name creates the tenant")
	email := fs.String("email", "", "email of the key's principal, who becomes the first owner of what it creates (default <name>@localhost)")
	userName := fs.String("user-name", "", "display name of the key's principal (default: the key's name)")
	var perms []domain.Permission
	fs.Func("permission", "a permission to grant; repeat for several (default: all of them)", func(s string) error {
		p, ok := domain.ParsePermission(s)
		if !ok {
			return fmt.Errorf("unknown permission %q (one of %v)", s, domain.AllPermissions)
		}
		perms = append(perms, p)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return errors.New("apikey create: --name is required")
	}
	if len(perms) == 0 {
		perms = domain.AllPermissions
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	key, actor, err := store.CreateAPIKey(ctx, db.NewAPIKey{Name: *name, Tenant: *tenant, Email: *email, UserName: *userName, Permissions: perms})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "API key %q for tenant %q (%s), acting as %s, with %v.\n", actor.KeyName, actor.TenantName, actor.TenantID, actor.Email, perms)
	fmt.Fprintln(stdout, "Store it now: it is not kept and cannot be shown again.")
	fmt.Fprintln(stdout, key)
	return nil
}
