package models_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestViewerByToken: the token's statement returns the stored user, all
// its fields, with the grants LoadGrants returns for it globally and the
// revision; a superuser's grants are dropped as LoadGrants drops them; an
// unknown token, or an inactive user's, is refused.
func TestViewerByToken(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		e := authz.NewEngine(s)
		editors, err := e.CreateGroup(ctx, "editors")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.GrantPerm(ctx, authz.Holder{Group: editors.ID}, "auth.view_group"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name          string
			superuser     bool
			wantGlobalLen int
		}{{"alice", false, 2}, {"root", true, 0}} {
			u, err := e.CreateUser(ctx, c.name, true, c.superuser)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.GrantPerm(ctx, authz.Holder{User: u.ID}, "auth.view_user"); err != nil {
				t.Fatal(err)
			}
			if err := e.AddUserToGroup(ctx, u.ID, editors.ID); err != nil {
				t.Fatal(err)
			}
			_, secret, err := s.CreateToken(ctx, u.ID, "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := s.User(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, _, g, other, err := s.ViewerByToken(ctx, secret, authz.ViewerLoad{})
			if err != nil || other != nil {
				t.Fatalf("%s: ViewerByToken = %v, other grants %+v, want none", c.name, err, other)
			}
			if !got.CreatedAt.Equal(stored.CreatedAt) || got.CreatedAt.IsZero() {
				t.Errorf("%s: created at %v, want the stored %v", c.name, got.CreatedAt, stored.CreatedAt)
			}
			got.CreatedAt = stored.CreatedAt // compared above, as instants
			if diff := cmp.Diff(stored, got); diff != "" {
				t.Errorf("%s: ViewerByToken's user mismatch (-stored +got):\n%s", c.name, diff)
			}
			loaded, err := s.LoadGrants(ctx, u.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(loaded, g); diff != "" || len(g.Global) != c.wantGlobalLen || g.Revision == 0 {
				t.Errorf("%s: ViewerByToken's grants = %+v, want LoadGrants' %+v with %d global grants and a revision:\n%s",
					c.name, g, loaded, c.wantGlobalLen, diff)
			}
			if _, err := s.UserByToken(ctx, secret+"x"); !errors.Is(err, authz.ErrUnauthenticated) {
				t.Errorf("%s: UserByToken(unknown) = %v, want ErrUnauthenticated", c.name, err)
			}
			inactive := false
			if _, err := e.UpdateUser(ctx, u.ID, &inactive, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, _, _, err := s.ViewerByToken(ctx, secret, authz.ViewerLoad{}); !errors.Is(err, authz.ErrUnauthenticated) {
				t.Errorf("%s: ViewerByToken of an inactive user = %v, want ErrUnauthenticated", c.name, err)
			}
		}
	})
}

// TestViewerByTokenLoads: the token's statement loads, asked, what
// LoadGrants returns for the token's user, or for another user, in the
// asked projects — existing or not, held directly, through a group, or
// not at all — at the revision it reads for the token; an inactive other
// user's grants are dropped as LoadGrants drops them; a refused token
// loads nothing.
func TestViewerByTokenLoads(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		e := authz.NewEngine(s)
		alice, err := e.CreateUser(ctx, "alice", true, false)
		if err != nil {
			t.Fatal(err)
		}
		bob, err := e.CreateUser(ctx, "bob", true, false)
		if err != nil {
			t.Fatal(err)
		}
		carol, err := e.CreateUser(ctx, "carol", false, false)
		if err != nil {
			t.Fatal(err)
		}
		editors, err := e.CreateGroup(ctx, "editors")
		if err != nil {
			t.Fatal(err)
		}
		p1, err := e.CreateProject(ctx, "p1", alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := e.CreateProject(ctx, "p2", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []int64{bob.ID, carol.ID} {
			if err := e.AddUserToGroup(ctx, u, editors.ID); err != nil {
				t.Fatal(err)
			}
			if err := e.GrantProjectPerm(ctx, authz.Holder{User: u}, "projects.view_page", p2.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.GrantProjectPerm(ctx, authz.Holder{Group: editors.ID}, "projects.change_page", p1.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.GrantPerm(ctx, authz.Holder{Group: editors.ID}, "auth.view_user"); err != nil {
			t.Fatal(err)
		}
		_, secret, err := s.CreateToken(ctx, alice.ID, "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		projects := []int64{p1.ID, p2.ID, p2.ID + 100}
		own, err := s.LoadGrants(ctx, alice.ID, projects)
		if err != nil {
			t.Fatal(err)
		}
		u, _, g, other, err := s.ViewerByToken(ctx, secret, authz.ViewerLoad{Projects: projects})
		if err != nil || u.ID != alice.ID || other != nil {
			t.Fatalf("ViewerByToken(own projects) = user %d, other %+v, %v; want alice's, no other", u.ID, other, err)
		}
		if diff := cmp.Diff(own, g); diff != "" || len(g.Projects[p1.ID]) == 0 || len(g.Projects) != 2 {
			t.Errorf("the viewer's grants in %v mismatch LoadGrants' (-want +got):\n%s", projects, diff)
		}
		for _, subject := range []authz.User{bob, carol, alice} {
			want, err := s.LoadGrants(ctx, subject.ID, projects)
			if err != nil {
				t.Fatal(err)
			}
			_, _, g, other, err := s.ViewerByToken(ctx, secret, authz.ViewerLoad{User: subject.ID, Projects: projects})
			if err != nil || other == nil {
				t.Fatalf("ViewerByToken(%s's grants) = other %+v, %v", subject.Username, other, err)
			}
			if diff := cmp.Diff(want, other); diff != "" {
				t.Errorf("%s's grants in %v mismatch LoadGrants' (-want +got):\n%s", subject.Username, projects, diff)
			}
			if len(g.Projects) != 0 || other.Revision != g.Revision || g.Revision == 0 {
				t.Errorf("%s: the viewer's grants hold projects %v, revisions %d and %d; want none, one revision",
					subject.Username, g.Projects, g.Revision, other.Revision)
			}
		}
		_, _, g, other, err = s.ViewerByToken(ctx, secret, authz.ViewerLoad{User: bob.ID})
		if want, _ := s.LoadGrants(ctx, bob.ID, nil); err != nil || !cmp.Equal(want, other) || len(other.Global) != 1 {
			t.Errorf("ViewerByToken(bob's global grants) = %+v, %v; want %+v", other, err, want)
		}
		if _, _, g, other, err := s.ViewerByToken(ctx, secret+"x", authz.ViewerLoad{User: bob.ID, Projects: projects}); !errors.Is(err, authz.ErrUnauthenticated) || g != nil || other != nil {
			t.Errorf("ViewerByToken(unknown token) = %+v, %+v, %v; want ErrUnauthenticated and nothing", g, other, err)
		}
	})
}
