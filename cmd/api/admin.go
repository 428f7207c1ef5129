package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/grantql/grantql/models"
)

// openMigrated opens the configured database and applies pending migrations.
func openMigrated(ctx context.Context, cfg *config) (*models.DB, error) {
	db, err := models.Open(cfg.databaseURL)
	if err != nil {
		return nil, err
	}
	m, err := models.NewMigrator(db)
	if err == nil {
		_, err = m.Up(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: api migrate [flags] up|down|status")
		fs.PrintDefaults()
	}
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("migrate needs exactly one of up, down, status")
	}
	db, err := models.Open(cfg.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := models.NewMigrator(db)
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migrations\n", n)
	case "down":
		if err := m.Down(ctx); err != nil {
			return err
		}
		v, err := m.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rolled back one migration; now at version %d\n", v)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied"
			}
			fmt.Fprintf(stdout, "%05d  %-8s %s\n", s.Version, state, s.Name)
		}
	default:
		fs.Usage()
		return fmt.Errorf("unknown migrate command %q", fs.Arg(0))
	}
	return nil
}

func createSuperuser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		cfg      config
		username string
	)
	fs := flag.NewFlagSet("createsuperuser", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	fs.StringVar(&username, "username", "", "the new superuser's username (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if username == "" {
		return fmt.Errorf("createsuperuser needs --username")
	}
	db, err := openMigrated(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	u, token, err := models.NewStore(db).CreateSuperuser(ctx, username)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created superuser %q (id %d); its API token, shown only now:\n%s\n", u.Username, u.ID, token)
	return nil
}
