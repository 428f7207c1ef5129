package authz_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// newCELWorld is the olpWorld with the store's rules.
//
// Its rules have an hour, not the default second, before their time
// bounds stop them: a loaded machine under the race detector can take
// more than a second over a rule that does much work, and a test of the
// step or line bounds must not end at the time bound instead. The tests
// of the time bounds pass their own.
func newCELWorld(t *testing.T, db *models.DB, opts ...authz.Option) *olpWorld {
	t.Helper()
	base := []authz.Option{authz.WithRuleStore(models.NewStore(db)),
		authz.WithRuleTimeout(time.Hour), authz.WithRuleRequestTime(time.Hour)}
	return newOLPWorld(t, db, append(base, opts...)...)
}

func (w *olpWorld) createRule(perm, typ, expr string) authz.StoredRule {
	w.f.t.Helper()
	r, err := w.f.e.CreateRule(w.f.ctx, authz.StoredRule{Perm: perm, ObjectType: typ, Expression: expr})
	if err != nil {
		w.f.t.Fatalf("CreateRule(%s, %s, %q) error = %v", perm, typ, expr, err)
	}
	return r
}

// TestCELRules: stored rules allow, deny, fail closed at run time, and see
// the user, the project and the object.
func TestCELRules(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		owner := w.createRule(viewPage, "Report", `object.attributes.owner == user.username`)
		editors := w.createRule(changePage, "Report", `"editors" in user.groups && project.name == "docs" && object.type == "Report"`)
		broken := w.createRule(deletePage, "Report", `object.attributes.archived == false`)
		flag := w.createRule(viewPage, "Memo", `object.attributes.flag`)
		report := func(attrs map[string]any) *authz.Object {
			return &authz.Object{Type: "Report", ID: "r1", Attributes: attrs}
		}
		ruleLine := func(r authz.StoredRule) authz.LogEntry {
			return untagged(fmt.Sprintf("Rule %d: %s", r.ID, r.Expression))
		}
		cases := []struct {
			name    string
			user    int64
			perm    string
			obj     *authz.Object
			allowed bool
			reason  authz.Reason
			want    []authz.LogEntry
		}{
			{
				name: "allows the owner", user: w.alice, perm: viewPage, obj: report(map[string]any{"owner": "alice"}),
				allowed: true, reason: authz.ReasonObjectRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(owner), auto("RESULT: Permission Granted")},
			},
			{
				name: "denies anyone else", user: w.bob, perm: viewPage, obj: report(map[string]any{"owner": "alice"}),
				allowed: false, reason: authz.ReasonDeniedByRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(owner), auto("RESULT: Permission Denied")},
			},
			{
				name: "allows an editor", user: w.bob, perm: changePage, obj: report(nil),
				allowed: true, reason: authz.ReasonObjectRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(editors), auto("RESULT: Permission Granted")},
			},
			{
				name: "denies a non-editor", user: w.alice, perm: changePage, obj: report(nil),
				allowed: false, reason: authz.ReasonDeniedByRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(editors), auto("RESULT: Permission Denied")},
			},
			{
				name: "a run-time error denies and says why", user: w.alice, perm: deletePage, obj: report(map[string]any{}),
				allowed: false, reason: authz.ReasonDeniedByRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(broken),
					auto("Rule error: no such key: archived"), auto("RESULT: Permission Denied")},
			},
			{
				name: "a non-bool result denies and says why", user: w.alice, perm: viewPage,
				obj:     &authz.Object{Type: "Memo", ID: "m1", Attributes: map[string]any{"flag": "yes"}},
				allowed: false, reason: authz.ReasonDeniedByRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(flag),
					auto("Rule error: the expression is a string, want a bool"), auto("RESULT: Permission Denied")},
			},
			{
				name: "a dyn result that is a bool decides", user: w.alice, perm: viewPage,
				obj:     &authz.Object{Type: "Memo", ID: "m1", Attributes: map[string]any{"flag": true}},
				allowed: true, reason: authz.ReasonObjectRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(flag), auto("RESULT: Permission Granted")},
			},
			{
				name: "the rule passes with the attribute", user: w.alice, perm: deletePage, obj: report(map[string]any{"archived": false}),
				allowed: true, reason: authz.ReasonObjectRule,
				want: []authz.LogEntry{auto("Model-level Result: Granted"), ruleLine(broken), auto("RESULT: Permission Granted")},
			},
			{
				name: "a project-level deny is final", user: w.carol, perm: viewPage, obj: report(map[string]any{"owner": "carol"}),
				allowed: false, reason: authz.ReasonNoGrant,
				want: []authz.LogEntry{auto("Model-level Result: Denied"), auto("RESULT: Permission Denied")},
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				d, l, err := w.f.e.CheckObject(w.f.ctx, tc.user, tc.perm, w.docs, tc.obj)
				if err != nil {
					t.Fatalf("CheckObject error = %v", err)
				}
				if d.Allowed != tc.allowed || d.Reason != tc.reason {
					t.Errorf("CheckObject = %v/%s, want %v/%s", d.Allowed, d.Reason, tc.allowed, tc.reason)
				}
				assertEntries(t, "log", tc.want, l.Entries)
			})
		}
	})
}

// TestCELHasPerm: hasPerm() checks another permission for the same user in
// the same project, and pulls its log in.
func TestCELHasPerm(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		r := w.createRule(viewPage, "Report", `!object.attributes.confidential || hasPerm("projects.publish_page")`)
		confidential := &authz.Object{Type: "Report", ID: "r9", Attributes: map[string]any{"confidential": true}}
		cases := []struct {
			name    string
			user    int64
			allowed bool
			nested  string
		}{
			{"alice holds publish_page", w.alice, true, "Granted"},
			{"bob does not", w.bob, false, "Denied"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				d, l, err := w.f.e.CheckObject(w.f.ctx, tc.user, viewPage, w.docs, confidential)
				w.f.must(err)
				if d.Allowed != tc.allowed {
					t.Errorf("CheckObject(confidential report) = %+v, want allowed %v", d, tc.allowed)
				}
				result := "Denied"
				if tc.allowed {
					result = "Granted"
				}
				want := []authz.LogEntry{
					auto("Model-level Result: Granted"),
					untagged(fmt.Sprintf("Rule %d: %s", r.ID, r.Expression)),
					auto("  Model-level Result: " + tc.nested),
					auto("  RESULT: Permission " + tc.nested),
					auto("RESULT: Permission " + result),
				}
				assertEntries(t, "log", want, l.Entries)
			})
		}
		t.Run("a rule whose hasPerm names an unknown permission denies", func(t *testing.T) {
			typo := w.createRule(viewPage, "Memo", `hasPerm("projects.publsh_page")`)
			d, l, err := w.f.e.CheckObject(w.f.ctx, w.alice, viewPage, w.docs, &authz.Object{Type: "Memo", ID: "m1"})
			w.f.must(err)
			if d.Allowed || d.Reason != authz.ReasonDeniedByRule {
				t.Errorf("CheckObject(memo) = %+v, want denied by the rule", d)
			}
			want := []authz.LogEntry{
				auto("Model-level Result: Granted"),
				untagged(fmt.Sprintf("Rule %d: %s", typo.ID, typo.Expression)),
				auto(`Rule error: hasPerm("projects.publsh_page"): check projects.publsh_page: unknown permission "projects.publsh_page"`),
				auto("RESULT: Permission Denied"),
			}
			assertEntries(t, "log", want, l.Entries)
		})
	})
}

// TestCreateRule: CreateRule refuses what does not compile, with the
// compiler's message, and what collides with another rule.
func TestCreateRule(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		w.createRule(viewPage, "Report", `true`)
		cases := []struct {
			name    string
			rule    authz.StoredRule
			want    error
			message string // a part of the error message
		}{
			{"a syntax error", authz.StoredRule{Perm: viewPage, ObjectType: "Memo", Expression: `object.attributes.x ==`},
				authz.ErrInvalidInput, "Syntax error"},
			{"an undeclared name", authz.StoredRule{Perm: viewPage, ObjectType: "Memo", Expression: `request.ip == "10.0.0.1"`},
				authz.ErrInvalidInput, "undeclared reference to 'request'"},
			{"not a bool", authz.StoredRule{Perm: viewPage, ObjectType: "Memo", Expression: `user.groups.size() + 1`},
				authz.ErrInvalidInput, "must be a bool, and this one is a int"},
			{"hasPerm of a number", authz.StoredRule{Perm: viewPage, ObjectType: "Memo", Expression: `hasPerm(1)`},
				authz.ErrInvalidInput, "hasPerm(perm) takes one permission name, a string"},
			{"hasPerm of two", authz.StoredRule{Perm: viewPage, ObjectType: "Memo", Expression: `hasPerm("a.b", "c.d")`},
				authz.ErrInvalidInput, "does not compile"},
			{"an empty expression", authz.StoredRule{Perm: viewPage, ObjectType: "Memo", Expression: " "},
				authz.ErrInvalidInput, "must not be empty"},
			{"an unknown permission", authz.StoredRule{Perm: "projects.fly", ObjectType: "Memo", Expression: `true`},
				authz.ErrUnknownPermission, "projects.fly"},
			{"a malformed permission", authz.StoredRule{Perm: "fly", ObjectType: "Memo", Expression: `true`},
				authz.ErrMalformedPermission, "fly"},
			{"no object type", authz.StoredRule{Perm: viewPage, Expression: `true`},
				authz.ErrInvalidInput, "object type"},
			{"a second stored rule", authz.StoredRule{Perm: viewPage, ObjectType: "Report", Expression: `false`},
				authz.ErrConflict, ""},
			{"a Go rule's pair", authz.StoredRule{Perm: deletePage, ObjectType: "Page", Expression: `false`},
				authz.ErrConflict, "a Go rule decides projects.delete_page on Page already"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := w.f.e.CreateRule(w.f.ctx, tc.rule)
				if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.message) {
					t.Errorf("CreateRule(%+v) error = %v, want %v containing %q", tc.rule, err, tc.want, tc.message)
				}
				if tc.want == authz.ErrInvalidInput && tc.rule.ObjectType != "" {
					if err := w.f.e.CompileRule(tc.rule.Expression); !errors.Is(err, authz.ErrInvalidInput) {
						t.Errorf("CompileRule(%q) error = %v, want %v", tc.rule.Expression, err, authz.ErrInvalidInput)
					}
				}
			})
		}
		rules, err := w.f.e.Rules(w.f.ctx)
		w.f.must(err)
		if len(rules) != 1 {
			t.Errorf("Rules() = %+v, want the one rule created", rules)
		}
		t.Run("a Go rule for a stored rule's pair", func(t *testing.T) {
			err := w.f.e.RegisterRule(viewPage, "Report", func(context.Context, *authz.RuleContext) (bool, error) { return true, nil })
			if !errors.Is(err, authz.ErrConflict) {
				t.Errorf("RegisterRule(%s, Report) over a stored rule error = %v, want %v", viewPage, err, authz.ErrConflict)
			}
		})
		t.Run("an engine without a rule store", func(t *testing.T) {
			e := authz.NewEngine(models.NewStore(db))
			if _, err := e.CreateRule(w.f.ctx, authz.StoredRule{Perm: viewPage, ObjectType: "X", Expression: "true"}); !errors.Is(err, authz.ErrUnavailable) {
				t.Errorf("CreateRule without a rule store error = %v, want %v", err, authz.ErrUnavailable)
			}
		})
	})
}

// TestDeleteRule: the engine that creates or deletes a rule applies the
// change at once, even within a request; another engine over the same
// store (another instance) sees it once its copy is RuleReloadInterval
// old, or when it lists the rules.
func TestDeleteRule(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		other := authz.NewEngine(models.NewStore(db), authz.WithRuleStore(models.NewStore(db)))
		report := &authz.Object{Type: "Report", ID: "r1"}
		check := func(e *authz.Engine) authz.Decision {
			t.Helper()
			d, _, err := e.CheckObject(w.f.ctx, w.alice, viewPage, w.docs, report)
			w.f.must(err)
			return d
		}
		if d := check(other); d.Reason != authz.ReasonProjectUser {
			t.Fatalf("before any rule, CheckObject = %+v, want %s", d, authz.ReasonProjectUser)
		}
		r := w.createRule(viewPage, "Report", `false`)
		if d := check(w.f.e); d.Reason != authz.ReasonDeniedByRule {
			t.Errorf("after CreateRule, the same engine's CheckObject = %+v, want %s", d, authz.ReasonDeniedByRule)
		}
		time.Sleep(authz.RuleReloadInterval)
		if d := check(other); d.Reason != authz.ReasonDeniedByRule {
			t.Errorf("after CreateRule and %v, the other engine's CheckObject = %+v, want %s", authz.RuleReloadInterval, d, authz.ReasonDeniedByRule)
		}
		ctx := authz.WithRequestCache(w.f.ctx)
		if _, _, err := w.f.e.CheckObject(ctx, w.alice, viewPage, w.docs, report); err != nil {
			t.Fatal(err)
		}
		ok, err := w.f.e.DeleteRule(ctx, r.ID)
		if err != nil || !ok {
			t.Fatalf("DeleteRule(%d) = %v, %v, want true, nil", r.ID, ok, err)
		}
		// The request cache was cleared by the delete: the same request
		// sees the rule gone.
		d, _, err := w.f.e.CheckObject(ctx, w.alice, viewPage, w.docs, report)
		w.f.must(err)
		if d.Reason != authz.ReasonProjectUser {
			t.Errorf("after DeleteRule, CheckObject in the same request = %+v, want %s", d, authz.ReasonProjectUser)
		}
		if ok, err := w.f.e.DeleteRule(w.f.ctx, r.ID); err != nil || ok {
			t.Errorf("DeleteRule(%d) again = %v, %v, want false, nil", r.ID, ok, err)
		}
		if _, err := other.Rules(w.f.ctx); err != nil {
			t.Fatal(err)
		}
		if d := check(other); d.Reason != authz.ReasonProjectUser {
			t.Errorf("the other engine, refreshed, CheckObject = %+v, want %s", d, authz.ReasonProjectUser)
		}
	})
}

// TestCELRuleSeesSubject: the user's id, superuser flag and groups, and the
// project's id, reach the expression.
func TestCELRuleSeesSubject(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db, authz.WithUniversalOLP(true))
		expr := fmt.Sprintf(`user.id == %d && user.isSuperuser == false && user.groups == ["editors"] && project.id == %d && object.id == "r1"`, w.bob, w.docs)
		w.createRule(viewPage, "Report", expr)
		for _, tc := range []struct {
			user    int64
			allowed bool
		}{{w.bob, true}, {w.alice, false}, {w.root, false}} {
			d, _, err := w.f.e.CheckObject(w.f.ctx, tc.user, viewPage, w.docs, &authz.Object{Type: "Report", ID: "r1"})
			w.f.must(err)
			if d.Allowed != tc.allowed {
				t.Errorf("CheckObject(user %d) = %+v, want allowed %v", tc.user, d, tc.allowed)
			}
		}
		rules, err := w.f.e.Rules(w.f.ctx)
		w.f.must(err)
		if diff := cmp.Diff([]string{expr}, []string{rules[0].Expression}); diff != "" {
			t.Errorf("Rules() mismatch (-want +got):\n%s", diff)
		}
	})
}
