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
			_, secret, err := s.CreateToken(ctx, u.ID, "t")
			if err != nil {
				t.Fatal(err)
			}
			stored, err := s.User(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, g, err := s.ViewerByToken(ctx, secret)
			if err != nil {
				t.Fatalf("%s: ViewerByToken = %v", c.name, err)
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
			if _, _, err := s.ViewerByToken(ctx, secret); !errors.Is(err, authz.ErrUnauthenticated) {
				t.Errorf("%s: ViewerByToken of an inactive user = %v, want ErrUnauthenticated", c.name, err)
			}
		}
	})
}
