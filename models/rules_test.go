package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

func TestRules(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		rules := func() []authz.StoredRule {
			t.Helper()
			rs, err := s.Rules(ctx)
			if err != nil {
				t.Fatalf("Rules(): %v", err)
			}
			return rs
		}
		if rs := rules(); len(rs) != 0 {
			t.Fatalf("Rules() on a fresh database = %+v, want none", rs)
		}
		ruleCmp := cmpopts.IgnoreFields(authz.StoredRule{}, "ID", "CreatedAt")
		var created []authz.StoredRule
		for _, c := range []struct {
			name    string
			rule    authz.StoredRule
			wantErr error
			wantMsg string
		}{
			{"first", authz.StoredRule{Perm: "projects.delete_page", ObjectType: "Page", Expression: "!object.attributes.published", Description: "drafts only"}, nil, ""},
			{"same permission, other type", authz.StoredRule{Perm: "projects.delete_page", ObjectType: "Doc", Expression: "true"}, nil, ""},
			{"same type, other permission", authz.StoredRule{Perm: "projects.change_page", ObjectType: "Page", Expression: "user.id == object.attributes.author"}, nil, ""},
			{"duplicate", authz.StoredRule{Perm: "projects.delete_page", ObjectType: "Page", Expression: "false"}, authz.ErrConflict,
				"a rule for projects.delete_page on Page objects exists already"},
			{"no object type", authz.StoredRule{Perm: "projects.view_page", Expression: "true"}, authz.ErrInvalidInput, "object type"},
			{"object type too long", authz.StoredRule{Perm: "projects.view_page", ObjectType: strings.Repeat("x", 101), Expression: "true"}, authz.ErrInvalidInput, "object type"},
		} {
			got, err := s.CreateRule(ctx, c.rule)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.wantMsg) {
					t.Errorf("CreateRule(%s) = %v, want %v saying %q", c.name, err, c.wantErr, c.wantMsg)
				}
				continue
			}
			if err != nil {
				t.Fatalf("CreateRule(%s): %v", c.name, err)
			}
			if got.ID == 0 || time.Since(got.CreatedAt).Abs() > time.Minute {
				t.Errorf("CreateRule(%s) = id %d, created at %v, want an id and about now", c.name, got.ID, got.CreatedAt)
			}
			if diff := cmp.Diff(c.rule, got, ruleCmp); diff != "" {
				t.Errorf("CreateRule(%s) mismatch (-want +got):\n%s", c.name, diff)
			}
			created = append(created, got)
		}
		if diff := cmp.Diff(created, rules()); diff != "" {
			t.Errorf("Rules() mismatch (-want +got):\n%s", diff)
		}
		for _, c := range []struct {
			id   int64
			want bool
		}{{created[0].ID, true}, {created[0].ID, false}, {created[2].ID + 100, false}} {
			if got, err := s.DeleteRule(ctx, c.id); err != nil || got != c.want {
				t.Errorf("DeleteRule(%d) = %v, %v, want %v, nil", c.id, got, err, c.want)
			}
		}
		if diff := cmp.Diff(created[1:], rules()); diff != "" {
			t.Errorf("Rules() after DeleteRule mismatch (-want +got):\n%s", diff)
		}
		// The deleted rule's place is free again.
		if _, err := s.CreateRule(ctx, created[0]); err != nil {
			t.Errorf("CreateRule(%s on %s) after deleting the first: %v", created[0].Perm, created[0].ObjectType, err)
		}
	})
}

func TestPages(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s := models.NewStore(db)
		author := mustUser(t, s, "hank")
		p := mustProject(t, s, "pages")
		pageCmp := cmpopts.IgnoreFields(authz.Page{}, "CreatedAt")
		var nf *authz.NotFoundError

		page, err := s.CreatePage(ctx, authz.Page{ProjectID: p.ID, Title: "Draft", Body: "text", AuthorID: author.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := authz.Page{ID: page.ID, ProjectID: p.ID, Title: "Draft", Body: "text", AuthorID: author.ID}
		if diff := cmp.Diff(want, page, pageCmp); diff != "" {
			t.Errorf("CreatePage mismatch (-want +got):\n%s", diff)
		}
		if _, err := s.CreatePage(ctx, authz.Page{ProjectID: p.ID, Title: "x", AuthorID: author.ID + 100}); !errors.As(err, &nf) || nf.Kind != "user" {
			t.Errorf("CreatePage(unknown author) = %v, want a user *NotFoundError", err)
		}
		anon, err := s.CreatePage(ctx, authz.Page{ProjectID: p.ID, Title: "Nobody's"})
		if err != nil || anon.AuthorID != 0 || anon.Published {
			t.Errorf("CreatePage(no author) = %+v, %v, want author 0, unpublished", anon, err)
		}

		for _, c := range []struct {
			name        string
			title, body *string
			publish     *bool
			want        func(*authz.Page)
		}{
			{"title", ptr("Title"), nil, nil, func(p *authz.Page) { p.Title = "Title" }},
			{"body", nil, ptr("new body"), nil, func(p *authz.Page) { p.Body = "new body" }},
			{"both", ptr("T2"), ptr(""), nil, func(p *authz.Page) { p.Title, p.Body = "T2", "" }},
			{"nothing", nil, nil, nil, func(*authz.Page) {}},
			{"publish", nil, nil, ptr(true), func(p *authz.Page) { p.Published = true }},
			{"publish again", nil, nil, ptr(true), func(*authz.Page) {}},
			{"unpublish", nil, nil, ptr(false), func(p *authz.Page) { p.Published = false }},
		} {
			var got authz.Page
			if c.publish != nil {
				got, err = s.PublishPage(ctx, page.ID, *c.publish)
			} else {
				got, err = s.UpdatePage(ctx, page.ID, c.title, c.body)
			}
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			c.want(&want)
			if diff := cmp.Diff(want, got, pageCmp); diff != "" {
				t.Errorf("%s: page mismatch (-want +got):\n%s", c.name, diff)
			}
			if stored, err := s.Page(ctx, page.ID); err != nil || !cmp.Equal(want, stored, pageCmp) {
				t.Errorf("%s: Page(%d) = %+v, %v, want %+v", c.name, page.ID, stored, err, want)
			}
		}

		unknown := anon.ID + 100
		if _, err := s.UpdatePage(ctx, unknown, ptr("x"), nil); !errors.As(err, &nf) || nf.Kind != "page" {
			t.Errorf("UpdatePage(unknown) = %v, want a page *NotFoundError", err)
		}
		if _, err := s.UpdatePage(ctx, unknown, nil, nil); !errors.As(err, &nf) || nf.Kind != "page" {
			t.Errorf("UpdatePage(unknown, nothing) = %v, want a page *NotFoundError", err)
		}
		if _, err := s.PublishPage(ctx, unknown, true); !errors.As(err, &nf) || nf.Kind != "page" {
			t.Errorf("PublishPage(unknown) = %v, want a page *NotFoundError", err)
		}

		// A deleted author leaves the page without one.
		if _, err := s.DeleteUser(ctx, author.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Page(ctx, page.ID); err != nil || got.AuthorID != 0 {
			t.Errorf("Page(%d) after deleting its author = %+v, %v, want author 0", page.ID, got, err)
		}
	})
}
