package authz_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// auto is an automatic log line.
func auto(text string) authz.LogEntry {
	return authz.LogEntry{Text: text, Tags: []string{authz.TagAuto}}
}

// untagged is a line a rule wrote without tags.
func untagged(text string) authz.LogEntry { return authz.LogEntry{Text: text} }

// assertEntries compares log lines, text and tags, line for line.
func assertEntries(t *testing.T, what string, want, got []authz.LogEntry) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s\ngot:\n%s", what, diff, renderEntries(got))
	}
}

// renderEntries prints lines as a reader would see them, tags in brackets.
func renderEntries(es []authz.LogEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\t%-60q [%s]\n", e.Text, strings.Join(e.Tags, ","))
	}
	return b.String()
}

// TestDecisionLogLines reproduces docs/model.md's Decision logs line for line: an allowed and a
// denied object check (deleting a published page with and without
// projects.publish_page) at verbosity 1 and 2, with their tags, the nested
// check's lines pulled in, and the log's other fields.
func TestDecisionLogLines(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, verbosity := range []int{1, 2} {
			t.Run(fmt.Sprintf("verbosity %d", verbosity), func(t *testing.T) {
				w := newOLPWorld(t, dbtest.Open(t, db.Dialect), authz.WithVerbosity(verbosity))
				ctx := authz.WithRequestID(authz.WithLogSource(w.f.ctx, "Mutation.deletePage"), "req-1")
				header := func(user string, id int64) []authz.LogEntry {
					if verbosity < 2 {
						return nil
					}
					return []authz.LogEntry{
						auto("Permission: projects.delete_page"),
						auto(fmt.Sprintf("User: %s (%d)", user, id)),
						auto("Object: Page 17 (17)"),
						auto(""),
					}
				}
				cases := []struct {
					name    string
					user    int64
					allowed bool
					reason  authz.Reason
					want    []authz.LogEntry
				}{
					{
						name: "allowed: alice holds publish_page", user: w.alice, allowed: true, reason: authz.ReasonObjectRule,
						want: append(header("alice", w.alice),
							auto("Model-level Result: Granted"),
							untagged("Page is published: projects.publish_page is required too"),
							auto("  Model-level Result: Granted"),
							auto("  RESULT: Permission Granted"),
							auto("RESULT: Permission Granted"),
						),
					},
					{
						name: "denied: bob does not", user: w.bob, allowed: false, reason: authz.ReasonDeniedByRule,
						want: append(header("bob", w.bob),
							auto("Model-level Result: Granted"),
							untagged("Page is published: projects.publish_page is required too"),
							auto("  Model-level Result: Denied"),
							auto("  RESULT: Permission Denied"),
							auto("RESULT: Permission Denied"),
						),
					},
				}
				for _, tc := range cases {
					t.Run(tc.name, func(t *testing.T) {
						d, l, err := w.f.e.CheckObject(ctx, tc.user, deletePage, w.docs, page("17", true))
						if err != nil {
							t.Fatal(err)
						}
						if l == nil {
							t.Fatalf("CheckObject returned no log at verbosity %d", verbosity)
						}
						assertEntries(t, "log", tc.want, l.Entries)
						want := authz.DecisionLog{
							Name: "auto-projects.delete_page-17", Perm: deletePage, Allowed: tc.allowed, Reason: tc.reason,
							User: tc.user, Project: w.docs, ObjectType: "Page", ObjectID: "17",
							Source: "Mutation.deletePage", RequestID: "req-1", Backend: authz.BuiltinBackendName,
						}
						if diff := cmp.Diff(want, *l, cmpopts.IgnoreFields(authz.DecisionLog{}, "Entries", "CreatedAt", "UID")); diff != "" {
							t.Errorf("log fields mismatch (-want +got):\n%s", diff)
						}
						// 32 hex digits, the first 12 the log's time in
						// milliseconds, so that uids grow with the logs.
						ms, err := strconv.ParseUint(l.UID[:min(12, len(l.UID))], 16, 64)
						if _, hexErr := hex.DecodeString(l.UID); len(l.UID) != 32 || hexErr != nil || err != nil {
							t.Errorf("log UID = %q, want 32 hex digits", l.UID)
						} else if int64(ms) != l.CreatedAt.UnixMilli() {
							t.Errorf("log UID %q starts with %d ms, want its createdAt, %d ms", l.UID, ms, l.CreatedAt.UnixMilli())
						}
						if l.CreatedAt.IsZero() {
							t.Errorf("log CreatedAt is zero, want the time of the check")
						}
						if d.Allowed != tc.allowed || d.Reason != tc.reason {
							t.Errorf("decision = %v/%s, want %v/%s", d.Allowed, d.Reason, tc.allowed, tc.reason)
						}
					})
				}
			})
		}
	})
}

// TestDecisionLogCachedRepeat: a repeated check answered by the request
// cache has the same lines as the first (docs/model.md, Decision logs), without a statement.
func TestDecisionLogCachedRepeat(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db, authz.WithVerbosity(2))
		ctx := authz.WithRequestCache(w.f.ctx)
		for _, user := range []int64{w.alice, w.bob} {
			_, first, err := w.f.e.CheckObject(ctx, user, deletePage, w.docs, page("17", true))
			w.f.must(err)
			counter := &models.StatementCounter{}
			d, again, err := w.f.e.CheckObject(counter.WithCounting(ctx), user, deletePage, w.docs, page("17", true))
			w.f.must(err)
			assertEntries(t, fmt.Sprintf("cached repeat for user %d", user), first.Entries, again.Entries)
			if d.Allowed != first.Allowed || d.Reason != first.Reason {
				t.Errorf("cached repeat = %v/%s, want %v/%s", d.Allowed, d.Reason, first.Allowed, first.Reason)
			}
			if n := counter.Count(); n != 0 {
				t.Errorf("cached repeat ran %d statements, want 0", n)
			}
			// The nested check was cached too, with its own lines.
			_, nested, err := w.f.e.CheckObject(counter.WithCounting(ctx), user, publishPage, w.docs, page("17", true))
			w.f.must(err)
			wantNested := []authz.LogEntry{auto(first.Entries[len(first.Entries)-3].Text[2:]), auto(first.Entries[len(first.Entries)-2].Text[2:])}
			assertEntries(t, "the nested check's own log body", wantNested, nested.Entries[4:])
			if n := counter.Count(); n != 0 {
				t.Errorf("the nested check, repeated, ran %d statements, want 0", n)
			}
		}
	})
}

// TestDecisionLogNames: auto-<perm> without an object,
// auto-<perm>-<object id> with one.
func TestDecisionLogNames(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		cases := []struct {
			perm    string
			project int64
			obj     *authz.Object
			want    string
		}{
			{viewPage, w.docs, nil, "auto-projects.view_page"},
			{"auth.view_user", 0, nil, "auto-auth.view_user"},
			{deletePage, w.docs, page("17", false), "auto-projects.delete_page-17"},
			{viewPage, w.docs, &authz.Object{Type: "Report", ID: "q3-2024"}, "auto-projects.view_page-q3-2024"},
		}
		for _, tc := range cases {
			_, l, err := w.f.e.CheckObject(w.f.ctx, w.alice, tc.perm, tc.project, tc.obj)
			w.f.must(err)
			if l.Name != tc.want {
				t.Errorf("CheckObject(%s, %v).Name = %q, want %q", tc.perm, tc.obj, l.Name, tc.want)
			}
			if got := authz.LogName(tc.perm, tc.obj); got != tc.want {
				t.Errorf("LogName(%s, %v) = %q, want %q", tc.perm, tc.obj, got, tc.want)
			}
		}
		// A check without an object has the two automatic lines and, at
		// verbosity 2, a header without an Object line.
		e2 := authz.NewEngine(models.NewStore(db), authz.WithVerbosity(2))
		_, l, err := e2.CheckObject(w.f.ctx, w.carol, viewPage, w.docs, nil)
		w.f.must(err)
		want := []authz.LogEntry{
			auto("Permission: projects.view_page"), auto(fmt.Sprintf("User: carol (%d)", w.carol)), auto(""),
			auto("Model-level Result: Denied"), auto("RESULT: Permission Denied"),
		}
		assertEntries(t, "project-level log at verbosity 2", want, l.Entries)
		// An anonymous check leaves no log at all (its answer is fixed
		// before anything is read).
		d, l, err := e2.CheckObject(w.f.ctx, authz.Anonymous, viewPage, w.docs, page("1", false))
		w.f.must(err)
		if d.Allowed || d.Reason != authz.ReasonAnonymous || l != nil {
			t.Errorf("CheckObject(anonymous) = %+v, %+v, want denied ANONYMOUS and no log", d, l)
		}
	})
}

// TestRuleLogTags: lines a rule writes carry no tag unless it gives some.
func TestRuleLogTags(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newOLPWorld(t, db)
		w.f.must(w.f.e.RegisterRule(viewPage, "Report", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			rc.Log("plain")
			rc.Log("tagged", "audit", "finance")
			return true, nil
		}))
		_, l, err := w.f.e.CheckObject(w.f.ctx, w.alice, viewPage, w.docs, &authz.Object{Type: "Report", ID: "1"})
		w.f.must(err)
		want := []authz.LogEntry{
			auto("Model-level Result: Granted"),
			{Text: "plain"},
			{Text: "tagged", Tags: []string{"audit", "finance"}},
			auto("RESULT: Permission Granted"),
		}
		assertEntries(t, "rule lines", want, l.Entries)
		if l.Entries[1].Tags != nil {
			t.Errorf("untagged rule line has tags %#v, want nil", l.Entries[1].Tags)
		}
	})
}

// recordingSink is a LogSink that keeps what it is given.
type recordingSink struct {
	mu   sync.Mutex
	logs []authz.DecisionLog
	err  error
}

func (s *recordingSink) Enqueue(_ context.Context, l authz.DecisionLog) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.logs = append(s.logs, l)
	return nil
}

func (s *recordingSink) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.logs))
	for i, l := range s.logs {
		out[i] = fmt.Sprintf("%s %v %s", l.Name, l.Allowed, l.Reason)
	}
	return out
}

// TestLogSink: every distinct decision is enqueued once per request,
// whichever method made it; at verbosity 0 nothing is.
func TestLogSink(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		t.Run("once per request", func(t *testing.T) {
			sink := &recordingSink{}
			w := newOLPWorld(t, dbtest.Open(t, db.Dialect), authz.WithLogSink(sink))
			e := w.f.e
			ctx := authz.WithRequestCache(w.f.ctx)
			for range 3 {
				_, _, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("17", true))
				w.f.must(err)
				_, err = e.HasProjectPerm(ctx, w.bob, viewPage, w.docs)
				w.f.must(err)
			}
			w.f.must(e.RequireInProject(ctx, w.bob, viewPage, w.docs))
			// A write that changes the answer: the new decision is
			// logged, once.
			w.f.must(e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, publishPage, w.docs))
			for range 2 {
				_, _, err := e.CheckObject(ctx, w.bob, deletePage, w.docs, page("17", true))
				w.f.must(err)
			}
			want := []string{
				"auto-projects.delete_page-17 false DENIED_BY_RULE",
				"auto-projects.view_page true PROJECT_GROUP",
				"auto-projects.delete_page-17 true OBJECT_RULE",
			}
			if diff := cmp.Diff(want, sink.names()); diff != "" {
				t.Errorf("enqueued logs mismatch (-want +got):\n%s", diff)
			}
			// Another request logs again.
			_, err := e.HasProjectPerm(authz.WithRequestCache(w.f.ctx), w.bob, viewPage, w.docs)
			w.f.must(err)
			if n := len(sink.names()); n != len(want)+1 {
				t.Errorf("after a second request, %d logs enqueued, want %d", n, len(want)+1)
			}
		})
		t.Run("without a request cache, every check", func(t *testing.T) {
			sink := &recordingSink{}
			w := newOLPWorld(t, dbtest.Open(t, db.Dialect), authz.WithLogSink(sink))
			for range 2 {
				_, err := w.f.e.HasProjectPerm(w.f.ctx, w.bob, viewPage, w.docs)
				w.f.must(err)
			}
			if n := len(sink.names()); n != 2 {
				t.Errorf("%d logs enqueued for 2 checks without a request cache, want 2", n)
			}
		})
		t.Run("verbosity 0", func(t *testing.T) {
			sink := &recordingSink{}
			w := newOLPWorld(t, dbtest.Open(t, db.Dialect), authz.WithLogSink(sink), authz.WithVerbosity(0))
			d, l, err := w.f.e.CheckObject(w.f.ctx, w.bob, deletePage, w.docs, page("17", true))
			w.f.must(err)
			if l != nil || d.Allowed || d.Reason != authz.ReasonDeniedByRule {
				t.Errorf("CheckObject at verbosity 0 = %+v, %+v, want denied by the rule and no log", d, l)
			}
			if n := len(sink.names()); n != 0 {
				t.Errorf("%d logs enqueued at verbosity 0, want none", n)
			}
		})
		t.Run("a refused log fails the check", func(t *testing.T) {
			sink := &recordingSink{err: errors.New("writer closed")}
			w := newOLPWorld(t, dbtest.Open(t, db.Dialect), authz.WithLogSink(sink))
			_, err := w.f.e.HasProjectPerm(w.f.ctx, w.bob, viewPage, w.docs)
			if !errors.Is(err, authz.ErrUnavailable) {
				t.Errorf("HasProjectPerm with a refusing sink error = %v, want %v", err, authz.ErrUnavailable)
			}
		})
	})
}
