package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/internal/workload"
	"github.com/grantql/grantql/models"
)

// seedTestArgs is a dataset small enough to seed in a second on both
// dialects, with two projects of more than 100 pages.
var seedTestArgs = []string{"--users", "300", "--groups", "20", "--projects", "60", "--grants", "4000",
	"--page-projects", "3", "--pages-per-project", "110", "--checks", "1000", "--tokens", "20"}

// runSeed seeds a fresh database of the dialect and returns its URL and
// the workload it wrote.
func runSeed(t *testing.T, dialect string, extra ...string) (string, *workload.File) {
	t.Helper()
	url := dbtest.URL(t, dialect)
	path := filepath.Join(t.TempDir(), "workload.json")
	args := append([]string{"seed", "--database-url", url, "--workload", path}, seedTestArgs...)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append(args, extra...), &stdout, &stderr); err != nil {
		t.Fatalf("seed: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"loaded 300 users", "created the superuser \"admin\"", "wrote " + path, "seeded in"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("seed printed %q, want it to say %q", stdout.String(), want)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workload.File
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	return url, &w
}

// withoutSecrets returns w without its token secrets, the one part of a
// workload that is not determined by the seed.
func withoutSecrets(w *workload.File) workload.File {
	c := *w
	c.Admin.Token = ""
	c.Viewers = slices.Clone(w.Viewers)
	for i := range c.Viewers {
		c.Viewers[i].Token = ""
	}
	return c
}

func TestSeed(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			url, w := runSeed(t, dialect)

			if w.Version != workload.Version || w.Seed != 1 {
				t.Errorf("workload version %d, seed %d; want %d, 1", w.Version, w.Seed, workload.Version)
			}
			if w.Dataset.Users != 300 || w.Dataset.Grants != 4000 || w.Dataset.Pages != 330 {
				t.Errorf("workload dataset = %+v, want 300 users, 4000 grants, 330 pages", w.Dataset)
			}
			if len(w.Checks) != 1000 {
				t.Errorf("%d checks, want 1000", len(w.Checks))
			}
			allowed := 0
			for _, c := range w.Checks {
				if c.Allowed {
					allowed++
				}
			}
			// About 40% allowed, as the seed aims.
			if ratio := float64(allowed) / float64(len(w.Checks)); ratio < 0.35 || ratio > 0.45 {
				t.Errorf("%.1f%% of the checks are allowed, want about 40%%", 100*ratio)
			}
			if len(w.Viewers) != 20 || len(w.Writes) == 0 || len(w.Projects) != 3 {
				t.Errorf("%d viewers, %d write keys, %d projects with pages; want 20, some, 3", len(w.Viewers), len(w.Writes), len(w.Projects))
			}

			db, err := models.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store := models.NewStore(db)
			e := authz.NewEngine(store)

			// Every expected answer is the engine's, asked one check at a
			// time (the seed asked in batches).
			for _, c := range w.Checks {
				d, err := e.HasProjectPerm(ctx, c.User, c.Perm, c.Project)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != c.Allowed {
					t.Errorf("HasProjectPerm(%d, %s, %d) = %t, workload says %t", c.User, c.Perm, c.Project, d.Allowed, c.Allowed)
				}
			}

			// Write keys are denied, and name users that no read names.
			writers := map[int64]bool{}
			for _, k := range w.Writes {
				writers[k.User] = true
				d, err := e.HasProjectPerm(ctx, k.User, k.Perm, k.Project)
				if err != nil || d.Allowed {
					t.Errorf("HasProjectPerm(%d, %s, %d) = %+v, %v; want a denied write key", k.User, k.Perm, k.Project, d, err)
				}
			}
			for _, c := range w.Checks {
				if writers[c.User] {
					t.Fatalf("check %+v is about user %d, whose grants the writes change", c, c.User)
				}
			}

			// Tokens act as their viewers; views hold the viewers'
			// permissions; guarded lists have pages to list.
			byToken := map[int64]bool{}
			for _, v := range w.Viewers {
				u, err := store.UserByToken(ctx, v.Token)
				if err != nil || u.ID != v.ID || writers[v.ID] {
					t.Errorf("viewer %+v: token is user %+v, %v; want the viewer, not a writer", v, u, err)
				}
				byToken[v.ID] = true
			}
			if u, err := store.UserByToken(ctx, w.Admin.Token); err != nil || !u.IsSuperuser || u.ID != w.Admin.ID {
				t.Errorf("admin token is user %+v, %v; want the superuser %d", u, err, w.Admin.ID)
			}
			guarded := 0
			for _, v := range w.Views {
				if !byToken[v.User] {
					t.Errorf("view %+v of a user without a token", v)
				}
				perms, err := e.ProjectPermissions(ctx, v.User, v.Project)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(perms, v.Permissions); diff != "" || !slices.Contains(perms, authz.PermViewProject) {
					t.Errorf("view %+v: permissions mismatch (-engine +workload):\n%s", v, diff)
				}
				if v.ReadsPages != slices.Contains(perms, authz.PermViewPage) {
					t.Errorf("view %+v: readsPages, want %t", v, !v.ReadsPages)
				}
				if v.ReadsPages && v.Pages > 0 {
					guarded++
					if v.Pages != 110 {
						t.Errorf("view %+v: %d pages, want 110", v, v.Pages)
					}
				}
			}
			if guarded == 0 {
				t.Error("no view can list pages: the guarded-list workload would have nothing to do")
			}

			// The same seed gives the same workload; another seed another.
			_, again := runSeed(t, dialect)
			if diff := cmp.Diff(withoutSecrets(w), withoutSecrets(again)); diff != "" {
				t.Errorf("a second seed with the same --seed mismatch (-first +second):\n%s", diff)
			}
			_, other := runSeed(t, dialect, "--seed", "2")
			if cmp.Equal(w.Checks, other.Checks) {
				t.Error("seeds 1 and 2 gave the same checks")
			}

			// A database with users is refused.
			var stdout, stderr bytes.Buffer
			err = run(ctx, append([]string{"seed", "--database-url", url}, seedTestArgs...), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "already has") {
				t.Errorf("seed into a seeded database = %v, want an error saying it already has users", err)
			}
		})
	}
}

func TestSeedFlags(t *testing.T) {
	url := dbtest.URL(t, models.SQLite)
	for _, args := range [][]string{
		{"seed", "--database-url", url, "--checks", "-1"},
		{"seed", "--database-url", url, "extra"},
		{"seed", "--database-url", url, "--page-projects", "100", "--projects", "10"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("run(%q) = nil error, want an error", args)
		}
	}
}
