package models_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// bulkTestSpec is small enough to load in well under a second on both
// dialects and dense enough that every kind of row appears.
var bulkTestSpec = models.BulkSpec{Users: 120, Groups: 12, Projects: 30, Grants: 1500, MembershipsPerUser: 3,
	PageProjects: 4, PagesPerProject: 6, Seed: 7}

// bulkTables are the tables BulkLoad fills, with the columns that identify
// a row, for counting and fingerprinting.
var bulkTables = []struct{ table, columns string }{
	{"users", "id, username, is_active, is_superuser"},
	{"groups", "id, name"},
	{"user_groups", "user_id, group_id"},
	{"projects", "id, name"},
	{"user_permissions", "user_id, permission_id"},
	{"group_permissions", "group_id, permission_id"},
	{"project_permissions", "id, project_id, permission_id"},
	{"project_permission_users", "project_permission_id, user_id"},
	{"project_permission_groups", "project_permission_id, group_id"},
	{"pages", "id, project_id, title, published"},
}

// fingerprint hashes every bulk-loaded row in key order, and counts the
// rows of each table.
func fingerprint(t *testing.T, db *models.DB, skip ...string) (string, map[string]int) {
	t.Helper()
	h := sha256.New()
	counts := map[string]int{}
	for _, bt := range bulkTables {
		if slices.Contains(skip, bt.table) {
			continue
		}
		rows, err := db.Gorm.Raw(fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", bt.columns, bt.table, bt.columns)).Rows()
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			// Booleans come back as bool on PostgreSQL and as 0/1 on
			// SQLite; print both the same way.
			for i, v := range vals {
				switch v := v.(type) {
				case bool:
					if v {
						vals[i] = int64(1)
					} else {
						vals[i] = int64(0)
					}
				case []byte:
					vals[i] = string(v)
				}
			}
			fmt.Fprintf(h, "%s%v\n", bt.table, vals)
			counts[bt.table]++
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil)), counts
}

func TestBulkLoad(t *testing.T) {
	ctx := context.Background()
	prints := map[string]string{}
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := dbtest.Open(t, dialect)
			st, err := db.BulkLoad(ctx, bulkTestSpec)
			if err != nil {
				t.Fatal(err)
			}
			if st.Grants() != bulkTestSpec.Grants {
				t.Errorf("BulkLoad(%+v).Grants() = %d, want %d", bulkTestSpec, st.Grants(), bulkTestSpec.Grants)
			}
			if st.GlobalUserGrants+st.GlobalGroupGrants == 0 || st.ProjectUserGrants == 0 || st.ProjectGroupGrants == 0 {
				t.Errorf("BulkLoad(%+v) = %+v, want every kind of grant", bulkTestSpec, st)
			}
			print, counts := fingerprint(t, db)
			prints[dialect] = print
			want := map[string]int{
				"users": st.Users, "groups": st.Groups, "user_groups": st.Memberships, "projects": st.Projects,
				"user_permissions": st.GlobalUserGrants, "group_permissions": st.GlobalGroupGrants,
				"project_permissions":      st.ProjectGrants,
				"project_permission_users": st.ProjectUserGrants, "project_permission_groups": st.ProjectGroupGrants,
				"pages": st.Pages,
			}
			for table, n := range want {
				if counts[table] != n {
					t.Errorf("rows in %s = %d, want %d (from BulkStats)", table, counts[table], n)
				}
			}
			if st.Memberships != bulkTestSpec.Users*bulkTestSpec.MembershipsPerUser {
				t.Errorf("Memberships = %d, want %d", st.Memberships, bulkTestSpec.Users*bulkTestSpec.MembershipsPerUser)
			}
			checkBulkPages(t, db, st)

			// The same seed gives the same rows in another database.
			again := dbtest.Open(t, dialect)
			if _, err := again.BulkLoad(ctx, bulkTestSpec); err != nil {
				t.Fatal(err)
			}
			if p, _ := fingerprint(t, again); p != print {
				t.Errorf("second BulkLoad with seed %d gave fingerprint %s, want %s", bulkTestSpec.Seed, p, print)
			}
			// Another seed gives other rows.
			other := dbtest.Open(t, dialect)
			spec := bulkTestSpec
			spec.Seed++
			if _, err := other.BulkLoad(ctx, spec); err != nil {
				t.Fatal(err)
			}
			if p, _ := fingerprint(t, other); p == print {
				t.Errorf("BulkLoad with seeds %d and %d gave the same rows", bulkTestSpec.Seed, spec.Seed)
			}

			// Pages draw nothing from the generator: without them, every
			// other row is the same.
			noPages := dbtest.Open(t, dialect)
			spec = bulkTestSpec
			spec.PageProjects, spec.PagesPerProject = 0, 0
			if _, err := noPages.BulkLoad(ctx, spec); err != nil {
				t.Fatal(err)
			}
			withPages, _ := fingerprint(t, db, "pages")
			if p, _ := fingerprint(t, noPages, "pages"); p != withPages {
				t.Errorf("BulkLoad without pages gave other users, groups or grants than with pages")
			}

			// Ids continue after the loaded rows, through the public API.
			e := authz.NewEngine(models.NewStore(db))
			u, err := e.CreateUser(ctx, "after_bulk", true, false)
			if err != nil {
				t.Fatalf("CreateUser after BulkLoad: %v", err)
			}
			if want := st.FirstUserID + int64(st.Users); u.ID != want {
				t.Errorf("CreateUser after BulkLoad: id = %d, want %d", u.ID, want)
			}
			p, err := e.CreateProject(ctx, "after bulk", u.ID)
			if err != nil {
				t.Fatalf("CreateProject after BulkLoad: %v", err)
			}
			if want := st.FirstProjectID + int64(st.Projects); p.ID != want {
				t.Errorf("CreateProject after BulkLoad: id = %d, want %d", p.ID, want)
			}
			d, err := e.HasProjectPerm(ctx, u.ID, "projects.view_page", p.ID)
			if err != nil || !d.Allowed {
				t.Errorf("HasProjectPerm(creator, view_page, new project) = %+v, %v, want allowed", d, err)
			}
		})
	}
	if p, s := prints[models.Postgres], prints[models.SQLite]; p != "" && p != s {
		t.Errorf("BulkLoad gave different rows on PostgreSQL (%s) and SQLite (%s)", p, s)
	}
}

// checkBulkPages checks that the projects BulkStats names have their pages,
// through the store's page listing, with ids from FirstPageID on.
func checkBulkPages(t *testing.T, db *models.DB, st models.BulkStats) {
	t.Helper()
	if len(st.PageProjects) != bulkTestSpec.PageProjects || st.Pages != bulkTestSpec.PageProjects*bulkTestSpec.PagesPerProject {
		t.Fatalf("BulkStats pages = %d in %v, want %d in %d projects", st.Pages, st.PageProjects,
			bulkTestSpec.PageProjects*bulkTestSpec.PagesPerProject, bulkTestSpec.PageProjects)
	}
	store := models.NewStore(db)
	next := st.FirstPageID
	for i, p := range st.PageProjects {
		if i > 0 && p <= st.PageProjects[i-1] {
			t.Errorf("PageProjects = %v, want increasing ids", st.PageProjects)
		}
		pages, err := store.ProjectPages(context.Background(), p, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(pages) != st.PagesPerProject {
			t.Errorf("ProjectPages(%d) = %d pages, want %d", p, len(pages), st.PagesPerProject)
		}
		for _, pg := range pages {
			if pg.ID != next || pg.Title == "" || pg.Published {
				t.Errorf("page %+v, want id %d, a title, unpublished", pg, next)
			}
			next++
		}
	}
}

func TestBulkLoadBadPages(t *testing.T) {
	db := dbtest.Open(t, models.SQLite)
	for _, spec := range []models.BulkSpec{
		{Users: 2, Projects: 3, PageProjects: 4, PagesPerProject: 1},
		{Users: 2, Projects: 3, PageProjects: 1, PagesPerProject: -1},
	} {
		if _, err := db.BulkLoad(context.Background(), spec); err == nil {
			t.Errorf("BulkLoad(%+v) = nil error, want an error", spec)
		}
	}
}

func TestBulkLoadTooDense(t *testing.T) {
	db := dbtest.Open(t, models.SQLite)
	// Two users, one project: at most 2×10 project and 2×20 global grants.
	spec := models.BulkSpec{Users: 2, Projects: 1, Grants: 100, Seed: 1}
	if _, err := db.BulkLoad(context.Background(), spec); err == nil {
		t.Errorf("BulkLoad(%+v) = nil error, want an error for a spec too dense to fill", spec)
	}
}

// TestBulkHeld holds BulkHeld to HolderGrants, which answers the same
// question for one user (with global grants too).
func TestBulkHeld(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		st, err := db.BulkLoad(ctx, bulkTestSpec)
		if err != nil {
			t.Fatal(err)
		}
		users := []int64{st.FirstUserID, st.FirstUserID + 1, st.FirstUserID + 49, st.FirstUserID + int64(st.Users) - 1}
		got, err := db.BulkHeld(ctx, users)
		if err != nil {
			t.Fatal(err)
		}
		store := models.NewStore(db)
		for _, u := range users {
			held, err := store.HolderGrants(ctx, authz.Holder{User: u})
			if err != nil {
				t.Fatal(err)
			}
			var want []models.BulkHeld
			for p, perms := range held.Projects {
				for _, perm := range perms {
					want = append(want, models.BulkHeld{Project: p, Permission: perm})
				}
			}
			slices.SortFunc(want, func(a, b models.BulkHeld) int {
				if a.Project != b.Project {
					return cmp.Compare(a.Project, b.Project)
				}
				return cmp.Compare(a.Permission, b.Permission)
			})
			if len(want) == 0 {
				t.Errorf("user %d holds no project grant; pick users who do", u)
			}
			if diff := gocmp.Diff(want, got[u]); diff != "" {
				t.Errorf("BulkHeld(%d) mismatch (-want +got):\n%s", u, diff)
			}
		}
	})
}
