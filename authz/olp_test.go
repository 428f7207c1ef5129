package authz_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

const (
	changePage  = "projects.change_page"
	deletePage  = "projects.delete_page"
	publishPage = "projects.publish_page"
)

// olpWorld is the data of the object-level tests: one project, docs, in
// which alice may view, change, delete and publish pages (project user
// grants); bob may view, change and delete them but not publish them,
// through the editors group; carol holds nothing; root is an active
// superuser.
type olpWorld struct {
	f                       *fixture
	alice, bob, carol, root int64
	editors                 int64
	docs                    int64
}

func newOLPWorld(t *testing.T, db *models.DB, opts ...authz.Option) *olpWorld {
	t.Helper()
	f := newFixture(t, db, opts...)
	w := &olpWorld{f: f}
	w.alice = f.user("alice", true, false)
	w.bob = f.user("bob", true, false)
	w.carol = f.user("carol", true, false)
	w.root = f.user("root", true, true)
	w.editors = f.group("editors", w.bob)
	w.docs = f.project("docs")
	for _, p := range []string{viewPage, changePage, deletePage, publishPage} {
		f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{User: w.alice}, p, w.docs))
	}
	for _, p := range []string{viewPage, changePage, deletePage} {
		f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{Group: w.editors}, p, w.docs))
	}
	return w
}

// page returns the object of Page id, published or not.
func page(id string, published bool) *authz.Object {
	return &authz.Object{Type: authz.PageObjectType, ID: id, Attributes: map[string]any{"published": published}}
}

// ruleCalls is a Go rule that records its calls and answers allow.
type ruleCalls struct {
	allow bool
	n     atomic.Int64
}

func (r *ruleCalls) rule(context.Context, *authz.RuleContext) (bool, error) {
	r.n.Add(1)
	return r.allow, nil
}

// TestCheckObjectPageRules holds the built-in Page rules to docs/model.md, Object-level rules:
// changing or deleting a published page also needs projects.publish_page.
func TestCheckObjectPageRules(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		cases := []struct {
			name    string
			user    int64
			perm    string
			obj     *authz.Object
			allowed bool
			reason  authz.Reason
			missing string // Decision.Missing
		}{
			{"alice deletes a published page", w.alice, deletePage, page("17", true), true, authz.ReasonObjectRule, ""},
			{"bob deletes a published page", w.bob, deletePage, page("17", true), false, authz.ReasonDeniedByRule, publishPage},
			{"bob changes a published page", w.bob, changePage, page("17", true), false, authz.ReasonDeniedByRule, publishPage},
			{"bob deletes a draft", w.bob, deletePage, page("18", false), true, authz.ReasonObjectRule, ""},
			{"bob views a published page: no rule", w.bob, viewPage, page("17", true), true, authz.ReasonProjectGroup, ""},
			{"carol deletes a draft: project-level deny", w.carol, deletePage, page("18", false), false, authz.ReasonNoGrant, ""},
			{"anonymous deletes a draft", authz.Anonymous, deletePage, page("18", false), false, authz.ReasonAnonymous, ""},
			{"root deletes a published page", w.root, deletePage, page("17", true), true, authz.ReasonSuperuser, ""},
			{"a page without published fails closed", w.alice, deletePage, &authz.Object{Type: "Page", ID: "19"}, false, authz.ReasonDeniedByRule, ""},
			{"a project-level check", w.bob, deletePage, nil, true, authz.ReasonProjectGroup, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				d, _, err := w.f.e.CheckObject(w.f.ctx, tc.user, tc.perm, w.docs, tc.obj)
				if err != nil {
					t.Fatalf("CheckObject(%s) error = %v", tc.perm, err)
				}
				if d.Allowed != tc.allowed || d.Reason != tc.reason || d.Missing != tc.missing {
					t.Errorf("CheckObject(%s) = %v/%s/missing %q, want %v/%s/missing %q", tc.perm, d.Allowed, d.Reason, d.Missing, tc.allowed, tc.reason, tc.missing)
				}
				if d.Allowed && d.Reason == authz.ReasonObjectRule && d.Backend != authz.BuiltinBackendName {
					t.Errorf("CheckObject(%s).Backend = %q, want %q (the project-level allow's)", tc.perm, d.Backend, authz.BuiltinBackendName)
				}
			})
		}
	})
}

// TestUniversalOLP: an active superuser skips rules unless universal OLP is
// on, and then a rule may deny them.
func TestUniversalOLP(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, universal := range []bool{false, true} {
			t.Run(fmt.Sprintf("universal=%v", universal), func(t *testing.T) {
				w := newOLPWorld(t, dbtest.Open(t, db.Dialect), authz.WithUniversalOLP(universal))
				// Only a report's author may change it, however super.
				var calls atomic.Int64
				w.f.must(w.f.e.RegisterRule(changePage, "Report", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
					calls.Add(1)
					return rc.Object.Attributes["author"] == rc.User().Username, nil
				}))
				report := &authz.Object{Type: "Report", ID: "r1", Attributes: map[string]any{"author": "alice"}}
				d, _, err := w.f.e.CheckObject(w.f.ctx, w.root, changePage, w.docs, report)
				w.f.must(err)
				want := authz.Decision{Allowed: true, Perm: changePage, Project: w.docs, Reason: authz.ReasonSuperuser}
				wantCalls := int64(0)
				if universal {
					want = authz.Decision{Perm: changePage, Project: w.docs, Reason: authz.ReasonDeniedByRule}
					wantCalls = 1
				}
				if d != want {
					t.Errorf("CheckObject(root, %s, report by alice) = %+v, want %+v", changePage, d, want)
				}
				if got := calls.Load(); got != wantCalls {
					t.Errorf("the rule ran %d times for root, want %d", got, wantCalls)
				}
				// The author is allowed by the rule either way.
				d, _, err = w.f.e.CheckObject(w.f.ctx, w.alice, changePage, w.docs, report)
				w.f.must(err)
				if !d.Allowed || d.Reason != authz.ReasonObjectRule {
					t.Errorf("CheckObject(alice, %s, her report) = %v/%s, want true/%s", changePage, d.Allowed, d.Reason, authz.ReasonObjectRule)
				}
				// With universal OLP, a superuser's nested checks are
				// decided like anyone's: root may delete a published page
				// because a superuser holds publish_page.
				d, _, err = w.f.e.CheckObject(w.f.ctx, w.root, deletePage, w.docs, page("17", true))
				w.f.must(err)
				wantReason := authz.ReasonSuperuser
				if universal {
					wantReason = authz.ReasonObjectRule
				}
				if !d.Allowed || d.Reason != wantReason {
					t.Errorf("CheckObject(root, %s, published page) = %v/%s, want true/%s", deletePage, d.Allowed, d.Reason, wantReason)
				}
			})
		}
	})
}

// TestProjectLevelDenyIsFinal: a rule runs only after a project-level
// allow (docs/model.md, Object-level rules); denied users never reach it.
func TestProjectLevelDenyIsFinal(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		rec := &ruleCalls{allow: true}
		w.f.must(w.f.e.RegisterRule(viewPage, "Report", rec.rule))
		report := &authz.Object{Type: "Report", ID: "r1"}
		inactive := w.f.user("ina", false, false)
		w.f.must(w.f.e.GrantProjectPerm(w.f.ctx, authz.Holder{User: inactive}, viewPage, w.docs))
		for _, u := range []struct {
			name   string
			id     int64
			reason authz.Reason
		}{
			{"carol", w.carol, authz.ReasonNoGrant},
			{"inactive", inactive, authz.ReasonInactive},
			{"anonymous", authz.Anonymous, authz.ReasonAnonymous},
		} {
			d, l, err := w.f.e.CheckObject(w.f.ctx, u.id, viewPage, w.docs, report)
			w.f.must(err)
			if d.Allowed || d.Reason != u.reason {
				t.Errorf("CheckObject(%s, %s, report) = %v/%s, want false/%s", u.name, viewPage, d.Allowed, d.Reason, u.reason)
			}
			if u.id == authz.Anonymous {
				// An anonymous check leaves no log (decisionlog.go).
				if l != nil {
					t.Errorf("CheckObject(anonymous) log = %+v, want none", l)
				}
				continue
			}
			want := []authz.LogEntry{auto("Model-level Result: Denied"), auto("RESULT: Permission Denied")}
			assertEntries(t, fmt.Sprintf("CheckObject(%s) log", u.name), want, l.Entries)
		}
		if n := rec.n.Load(); n != 0 {
			t.Errorf("the rule ran %d times for users denied at project level, want 0", n)
		}
		if _, _, err := w.f.e.CheckObject(w.f.ctx, w.alice, viewPage, w.docs, report); err != nil {
			t.Fatal(err)
		}
		if n := rec.n.Load(); n != 1 {
			t.Errorf("the rule ran %d times for alice, allowed at project level, want 1", n)
		}
	})
}

// TestRegisterRule: at most one rule per (permission, object type).
func TestRegisterRule(t *testing.T) {
	e := authz.NewEngine(nil)
	allow := func(context.Context, *authz.RuleContext) (bool, error) { return true, nil }
	if err := e.RegisterRule(viewPage, "Report", allow); err != nil {
		t.Fatalf("RegisterRule(%s, Report) error = %v, want nil", viewPage, err)
	}
	cases := []struct {
		name           string
		perm, typ      string
		rule           authz.Rule
		wantCategory   error
		wantPermErrMsg bool
	}{
		{"a second rule for the same pair", viewPage, "Report", allow, authz.ErrConflict, false},
		{"a rule for a built-in Page rule's pair", deletePage, "Page", allow, authz.ErrConflict, false},
		{"a malformed permission", "projects.View", "Report", allow, authz.ErrMalformedPermission, false},
		{"an empty type", viewPage, "", allow, authz.ErrInvalidInput, false},
		{"a nil rule", changePage, "Report", nil, authz.ErrInvalidInput, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.RegisterRule(tc.perm, tc.typ, tc.rule); !errors.Is(err, tc.wantCategory) {
				t.Errorf("RegisterRule(%q, %q) error = %v, want %v", tc.perm, tc.typ, err, tc.wantCategory)
			}
		})
	}
	t.Run("another type of the same permission", func(t *testing.T) {
		if err := e.RegisterRule(viewPage, "Invoice", allow); err != nil {
			t.Errorf("RegisterRule(%s, Invoice) error = %v, want nil", viewPage, err)
		}
	})
	t.Run("WithoutPageRules", func(t *testing.T) {
		e := authz.NewEngine(nil, authz.WithoutPageRules())
		if err := e.RegisterRule(deletePage, "Page", allow); err != nil {
			t.Errorf("RegisterRule(%s, Page) without the built-in rules error = %v, want nil", deletePage, err)
		}
	})
}

// TestRuleFailures: a rule that errs or panics denies, and says why in the
// log; a rule that checks itself is refused as a cycle.
func TestRuleFailures(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		e := w.f.e
		w.f.must(e.RegisterRule(viewPage, "Broken", func(context.Context, *authz.RuleContext) (bool, error) {
			return true, errors.New("the policy service said no")
		}))
		w.f.must(e.RegisterRule(viewPage, "Panicky", func(context.Context, *authz.RuleContext) (bool, error) {
			panic("index out of range")
		}))
		w.f.must(e.RegisterRule(viewPage, "Loop", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			return rc.Check(viewPage)
		}))
		cases := []struct {
			typ  string
			want []authz.LogEntry
		}{
			{"Broken", []authz.LogEntry{auto("Model-level Result: Granted"),
				auto("Rule error: the policy service said no"), auto("RESULT: Permission Denied")}},
			{"Panicky", []authz.LogEntry{auto("Model-level Result: Granted"),
				auto("Rule error: rule panicked: index out of range"), auto("RESULT: Permission Denied")}},
			{"Loop", []authz.LogEntry{auto("Model-level Result: Granted"),
				auto("Rule error: check projects.view_page: rule cycle: projects.view_page → projects.view_page"),
				auto("RESULT: Permission Denied")}},
		}
		for _, tc := range cases {
			t.Run(tc.typ, func(t *testing.T) {
				d, l, err := e.CheckObject(w.f.ctx, w.alice, viewPage, w.docs, &authz.Object{Type: tc.typ, ID: "1"})
				if err != nil {
					t.Fatalf("CheckObject(%s) error = %v, want a deny", tc.typ, err)
				}
				if d.Allowed || d.Reason != authz.ReasonDeniedByRule {
					t.Errorf("CheckObject(%s) = %v/%s, want false/%s", tc.typ, d.Allowed, d.Reason, authz.ReasonDeniedByRule)
				}
				assertEntries(t, "CheckObject("+tc.typ+") log", tc.want, l.Entries)
			})
		}
	})
}

// TestCheckObjectErrors: malformed input fails the check.
func TestCheckObjectErrors(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		long := make([]byte, authz.MaxObjectIDLen+1)
		for i := range long {
			long[i] = '7'
		}
		cases := []struct {
			name    string
			perm    string
			project int64
			obj     *authz.Object
			want    error
		}{
			{"no type", viewPage, w.docs, &authz.Object{ID: "1"}, authz.ErrInvalidInput},
			{"no id", viewPage, w.docs, &authz.Object{Type: "Page"}, authz.ErrInvalidInput},
			{"an id too long", viewPage, w.docs, &authz.Object{Type: "Page", ID: string(long)}, authz.ErrInvalidInput},
			{"an unknown permission", "projects.fly", w.docs, page("1", false), authz.ErrUnknownPermission},
			{"a project that does not exist", viewPage, w.docs + 1000, page("1", false), authz.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				d, l, err := w.f.e.CheckObject(w.f.ctx, w.alice, tc.perm, tc.project, tc.obj)
				if !errors.Is(err, tc.want) || d.Allowed || l != nil {
					t.Errorf("CheckObject(%s) = %+v, %v, %v, want a deny, no log and error %v", tc.name, d, l, err, tc.want)
				}
			})
		}
	})
}

// TestCheckManyObjects: a batch mixes project-level and object checks over
// several projects, in one statement for grants and one for what rules see
// of the user and every project, and answers like the checks one by one.
func TestCheckManyObjects(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		e := w.f.e
		wiki := w.f.project("wiki")
		w.f.must(e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.bob}, deletePage, wiki))
		w.f.must(e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.bob}, publishPage, wiki))
		w.f.must(e.GrantProjectPerm(w.f.ctx, authz.Holder{User: w.bob}, viewPage, wiki))
		// Reports are visible in the docs project only.
		w.f.must(e.RegisterRule(viewPage, "Report", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			return rc.Project().Name == "docs", nil
		}))
		reqs := []authz.CheckRequest{
			{Perm: deletePage, Project: w.docs, Object: page("1", true)},
			{Perm: deletePage, Project: wiki, Object: page("2", true)},
			{Perm: deletePage, Project: w.docs, Object: page("3", false)},
			{Perm: viewPage, Project: w.docs},
			{Perm: deletePage, Project: w.docs, Object: page("1", true)},
			{Perm: viewPage, Project: wiki, Object: &authz.Object{Type: "Report", ID: "1"}},
			{Perm: viewPage, Project: w.docs, Object: &authz.Object{Type: "Report", ID: "1"}},
		}
		if err := e.Registry().Refresh(w.f.ctx); err != nil {
			t.Fatal(err)
		}
		counter := &models.StatementCounter{}
		ctx := counter.WithCounting(w.f.ctx)
		ds, logs, err := e.CheckManyObjects(ctx, w.bob, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if got := counter.Count(); got != 2 {
			t.Errorf("CheckManyObjects over 2 projects with rules ran %d statements, want 2 (grants; user and projects)", got)
		}
		if len(logs) != len(reqs) {
			t.Fatalf("CheckManyObjects returned %d logs for %d requests", len(logs), len(reqs))
		}
		for i, r := range reqs {
			d, l, err := e.CheckObject(w.f.ctx, w.bob, r.Perm, r.Project, r.Object)
			if err != nil {
				t.Fatal(err)
			}
			if ds[i] != d {
				t.Errorf("CheckManyObjects[%d] = %+v, want %+v as CheckObject answers", i, ds[i], d)
			}
			assertEntries(t, fmt.Sprintf("CheckManyObjects[%d] log", i), l.Entries, logs[i].Entries)
		}
		wantAllowed := []bool{false, true, true, true, false, false, true}
		for i, want := range wantAllowed {
			if ds[i].Allowed != want {
				t.Errorf("CheckManyObjects(bob)[%d] = %+v, want allowed %v", i, ds[i], want)
			}
		}
		// CheckMany answers the same without the logs.
		plain, err := e.CheckMany(w.f.ctx, w.bob, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range plain {
			if plain[i] != ds[i] {
				t.Errorf("CheckMany[%d] = %+v, want %+v", i, plain[i], ds[i])
			}
		}
	})
}

// TestObjectStatementBudgets: an object check costs the statement of the
// grants, plus one for what rules see of the user and the project when its
// rule reads them; a nested check (the Page rule's publish_page) costs none,
// and neither does a repeat within a request.
func TestObjectStatementBudgets(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		e := w.f.e
		w.f.must(e.RegisterRule(viewPage, "Report", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			return rc.User().Username == "bob" && rc.Project().Name == "docs", nil
		}))
		verbose := authz.NewEngine(models.NewStore(db), authz.WithVerbosity(2))
		for _, e := range []*authz.Engine{e, verbose} {
			if err := e.Registry().Refresh(w.f.ctx); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			name   string
			budget int64
			run    func(ctx context.Context, counter *models.StatementCounter) error
		}{
			{"cold, no rule", 1, func(ctx context.Context, _ *models.StatementCounter) error {
				_, _, err := e.CheckObject(ctx, w.bob, viewPage, w.docs, page("1", true))
				return err
			}},
			{"cold, with a rule and a nested check", 1, func(ctx context.Context, _ *models.StatementCounter) error {
				_, _, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("1", true))
				return err
			}},
			{"cold, a rule that reads the user and the project", 2, func(ctx context.Context, _ *models.StatementCounter) error {
				d, _, err := e.CheckObject(ctx, w.bob, viewPage, w.docs, &authz.Object{Type: "Report", ID: "1"})
				if err == nil && !d.Allowed {
					t.Errorf("CheckObject(bob, view, report) = %+v, want allowed", d)
				}
				return err
			}},
			{"cold at verbosity 2: the grants load brings the header's username", 1, func(ctx context.Context, _ *models.StatementCounter) error {
				_, _, err := verbose.CheckObject(ctx, w.bob, deletePage, w.docs, page("1", true))
				return err
			}},
			{"warm repeat", 0, func(ctx context.Context, counter *models.StatementCounter) error {
				ctx = authz.WithRequestCache(ctx)
				if _, _, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("1", true)); err != nil {
					return err
				}
				counter.Reset()
				_, _, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("1", true))
				return err
			}},
			{"warm, another page of the same project", 0, func(ctx context.Context, counter *models.StatementCounter) error {
				ctx = authz.WithRequestCache(ctx)
				if _, _, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("1", true)); err != nil {
					return err
				}
				counter.Reset()
				_, _, err := e.CheckObject(ctx, w.bob, changePage, w.docs, page("2", true))
				return err
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				counter := &models.StatementCounter{}
				if err := tc.run(counter.WithCounting(context.Background()), counter); err != nil {
					t.Fatal(err)
				}
				if got := counter.Count(); got != tc.budget {
					t.Errorf("%s ran %d SQL statements, want %d", tc.name, got, tc.budget)
				}
			})
		}
	})
}

// TestObjectCacheClearedByWrites: a write in the request (here, granting
// bob publish_page) empties the cached object results, so the next check
// decides again.
func TestObjectCacheClearedByWrites(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		e := w.f.e
		ctx := authz.WithRequestCache(w.f.ctx)
		d, _, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("17", true))
		w.f.must(err)
		if d.Allowed {
			t.Fatalf("CheckObject(bob, delete, published page) = allowed before the grant")
		}
		w.f.must(e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, publishPage, w.docs))
		d, l, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("17", true))
		w.f.must(err)
		if !d.Allowed {
			t.Errorf("CheckObject(bob, delete, published page) after the grant = %+v, want allowed", d)
		}
		want := []authz.LogEntry{
			auto("Model-level Result: Granted"),
			untagged("Page is published: projects.publish_page is required too"),
			auto("  Model-level Result: Granted"),
			auto("  RESULT: Permission Granted"),
			auto("RESULT: Permission Granted"),
		}
		assertEntries(t, "log after the grant", want, l.Entries)
	})
}

// TestDeniedNamesMissing: a rule's deny for want of a permission it
// checked names that permission (Decision.Missing, DeniedError.Needed and
// its message), the innermost one along a chain of rules, whether the rule
// is Go or CEL; a deny with nothing to name names the asked permission.
func TestDeniedNamesMissing(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		// Deleting a Report needs changing it, and changing it needs
		// publishing (Go rules); viewing a secret Memo needs publishing
		// (CEL); changing a Memo is refused without a check.
		w.f.must(w.f.e.RegisterRule(deletePage, "Report", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			return rc.Check(changePage)
		}))
		w.f.must(w.f.e.RegisterRule(changePage, "Report", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			return rc.Check(publishPage)
		}))
		w.createRule(viewPage, "Memo", `hasPerm("projects.publish_page")`)
		w.createRule(changePage, "Memo", `false`)
		report := &authz.Object{Type: "Report", ID: "r1"}
		memo := &authz.Object{Type: "Memo", ID: "m1"}
		cases := []struct {
			name   string
			user   int64
			perm   string
			obj    *authz.Object
			needed string // "": allowed
		}{
			{"a published page, Page rule", w.bob, changePage, page("17", true), publishPage},
			{"a chain of Go rules names the innermost", w.bob, deletePage, report, publishPage},
			{"a CEL rule's hasPerm", w.bob, viewPage, memo, publishPage},
			{"a rule that checks nothing names the asked permission", w.bob, changePage, memo, changePage},
			{"a project-level deny names the asked permission", w.carol, changePage, page("17", true), changePage},
			{"allowed along the chain", w.alice, deletePage, report, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := w.f.e.RequireObject(w.f.ctx, tc.user, tc.perm, w.docs, tc.obj)
				if tc.needed == "" {
					if err != nil {
						t.Fatalf("RequireObject(%s) = %v, want nil", tc.perm, err)
					}
					return
				}
				var denied *authz.DeniedError
				if !errors.As(err, &denied) {
					t.Fatalf("RequireObject(%s) = %v, want a *DeniedError", tc.perm, err)
				}
				wantMsg := fmt.Sprintf("permission %s denied in project %d", tc.needed, w.docs)
				if denied.Needed() != tc.needed || denied.Perm != tc.perm || !strings.HasPrefix(err.Error(), wantMsg) {
					t.Errorf("RequireObject(%s) = %+v (%q), want Needed() %s, Perm %s and a message starting %q",
						tc.perm, denied, err, tc.needed, tc.perm, wantMsg)
				}
			})
		}
	})
}
