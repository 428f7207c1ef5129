package authz_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// list returns n distinct strings, as a caller's attribute list.
func list(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("e%d", i)
	}
	return out
}

// intList is the CEL literal [1, 2, ..., n].
func intList(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprint(i + 1)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// lastLine returns the text of a log's last line.
func lastLine(l *authz.DecisionLog) string {
	if l == nil || len(l.Entries) == 0 {
		return ""
	}
	return l.Entries[len(l.Entries)-1].Text
}

// hasLine reports whether some line of l contains s.
func hasLine(l *authz.DecisionLog, s string) bool {
	for _, e := range l.Entries {
		if strings.Contains(e.Text, s) {
			return true
		}
	}
	return false
}

// TestCELInOverDynListIsMetered: `in` over a list among an object's
// attributes (dyn) costs the list's length, so that comprehensions around
// it stop at the cost limit and deny, saying why, instead of reading the
// list hundreds of times for one unit each. The same rule over a short
// list still allows.
func TestCELInOverDynListIsMetered(t *testing.T) {
	l20 := intList(20)
	expr := fmt.Sprintf(`%[1]s.all(a, %[1]s.all(b, !('q' in object.attributes.l)))`, l20)
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		w.createRule(viewPage, "Report", expr)
		for _, c := range []struct {
			name    string
			n       int
			allowed bool
		}{
			// 400 times `in` over 10 elements: some 4,000 steps.
			{"short list", 10, true},
			// 400 times `in` over 1,000 elements: 400,000 steps, four
			// times the limit of one evaluation.
			{"list of the most elements allowed", authz.MaxAttributeListLen, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				obj := &authz.Object{Type: "Report", ID: c.name, Attributes: map[string]any{"l": list(c.n)}}
				d, l, err := w.f.e.CheckObject(w.f.ctx, w.alice, viewPage, w.docs, obj)
				if err != nil {
					t.Fatalf("CheckObject error = %v", err)
				}
				if d.Allowed != c.allowed {
					t.Fatalf("CheckObject(list of %d) = %+v, want allowed %v", c.n, d, c.allowed)
				}
				if !c.allowed && (d.Reason != authz.ReasonDeniedByRule || !hasLine(l, "Rule error: stopped after 100000 steps")) {
					t.Errorf("CheckObject(list of %d) = %s with log\n%v\nwant DENIED_BY_RULE and a line saying the rule was stopped", c.n, d.Reason, l.Entries)
				}
			})
		}
	})
}

// manyLists returns n lists of 1,000 strings, some 4 KB each.
func manyLists(n int) map[string]any {
	out := map[string]any{}
	for i := range n {
		out[fmt.Sprint("l", i)] = list(1000)
	}
	return out
}

// TestObjectAttributesBounded: attributes over a bound are refused as
// invalid input, naming the bound, before any rule runs; attributes at
// the bounds are checked.
func TestObjectAttributesBounded(t *testing.T) {
	deep := map[string]any{}
	m := deep
	for range authz.MaxAttributeDepth {
		next := map[string]any{}
		m["n"] = next
		m = next
	}
	m["x"] = 1
	cases := []struct {
		name  string
		attrs map[string]any
		limit string // "" when the check runs
	}{
		{"a list at the bound", map[string]any{"l": list(authz.MaxAttributeListLen)}, ""},
		{"a list over the bound", map[string]any{"l": list(authz.MaxAttributeListLen + 1)}, authz.LimitAttributeListLen},
		{"a string over the bytes bound", map[string]any{"s": strings.Repeat("x", authz.MaxAttributeBytes+1)}, authz.LimitAttributeBytes},
		{"many lists over the bytes bound", manyLists(20), authz.LimitAttributeBytes},
		{"maps nested past the depth bound", deep, authz.LimitAttributeDepth},
		{"maps nested to the depth bound", deep["n"].(map[string]any), ""},
		{"a Go slice over the bound", map[string]any{"l": make([]string, authz.MaxAttributeListLen+1)}, authz.LimitAttributeListLen},
		{"a Go map of long strings over the bytes bound", map[string]any{"m": map[int]string{1: strings.Repeat("x", authz.MaxAttributeBytes)}}, authz.LimitAttributeBytes},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		w.createRule(viewPage, "Report", `true`)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				obj := &authz.Object{Type: "Report", ID: "r", Attributes: c.attrs}
				d, _, err := w.f.e.CheckObject(context.Background(), w.alice, viewPage, w.docs, obj)
				if c.limit == "" {
					if err != nil || !d.Allowed {
						t.Errorf("CheckObject = %+v, %v, want allowed", d, err)
					}
					return
				}
				var bound *authz.LimitError
				if !errors.Is(err, authz.ErrInvalidInput) || !errors.As(err, &bound) || bound.Limit != c.limit {
					t.Fatalf("CheckObject error = %v, want ErrInvalidInput over %s", err, c.limit)
				}
				if !strings.Contains(err.Error(), c.limit) || d.Allowed {
					t.Errorf("CheckObject = %+v, %q, want a deny and a message naming %s", d, err, c.limit)
				}
			})
		}
	})
}

// TestRuleStepsBoundPerRequest: the rules of one request share a budget of
// steps; once it is spent, further rules deny without running, saying
// why, while the first ones decided as always. A new request has a new
// budget.
func TestRuleStepsBoundPerRequest(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		// The rule takes thousands of steps over a list of 1,000: the
		// first evaluation spends a budget of 1,000.
		w := newCELWorld(t, db, authz.WithRuleSteps(1000))
		w.createRule(viewPage, "Report", `object.attributes.l.all(x, x != 'q')`)
		attrs := map[string]any{"l": list(1000)}
		reqs := make([]authz.CheckRequest, 6)
		for i := range reqs {
			reqs[i] = authz.CheckRequest{Perm: viewPage, Project: w.docs,
				Object: &authz.Object{Type: "Report", ID: fmt.Sprint(i), Attributes: attrs}}
		}
		for round := range 2 {
			ctx := authz.WithRequestCache(context.Background())
			ds, logs, err := w.f.e.CheckManyObjects(ctx, w.alice, reqs)
			if err != nil {
				t.Fatalf("CheckManyObjects error = %v", err)
			}
			var allowed, stopped int
			for i, d := range ds {
				switch {
				case d.Allowed:
					allowed++
				case d.Reason == authz.ReasonDeniedByRule && hasLine(logs[i], "one request's rules may take at most 1000"):
					stopped++
				default:
					t.Errorf("round %d: checks[%d] = %+v with log %v, want allowed, or denied for the spent budget", round, i, d, logs[i].Entries)
				}
			}
			if allowed != 1 || stopped != 5 {
				t.Errorf("round %d: %d allowed and %d stopped, want 1 and 5", round, allowed, stopped)
			}
		}
	})
}

// TestRuleTimeoutDenies: an evaluation that runs past the rule timeout is
// stopped and denies, saying why.
func TestRuleTimeoutDenies(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db, authz.WithRuleTimeout(time.Nanosecond))
		w.createRule(viewPage, "Report", `object.attributes.l.all(x, x != 'q')`)
		obj := &authz.Object{Type: "Report", ID: "r", Attributes: map[string]any{"l": list(1000)}}
		d, l, err := w.f.e.CheckObject(w.f.ctx, w.alice, viewPage, w.docs, obj)
		if err != nil {
			t.Fatalf("CheckObject error = %v", err)
		}
		if d.Allowed || d.Reason != authz.ReasonDeniedByRule || !hasLine(l, "Rule error: stopped after running 1ns") {
			t.Errorf("CheckObject = %+v with log %v, want DENIED_BY_RULE, stopped after 1ns", d, l.Entries)
		}
	})
}

// TestChecksStopAtDeadline: a batch whose request has run out of time
// answers ErrUnavailable and no decision, even when its checks need no
// statement (an anonymous user's).
func TestChecksStopAtDeadline(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		f := newFixture(t, db)
		reqs := make([]authz.CheckRequest, 500)
		for i := range reqs {
			reqs[i] = authz.CheckRequest{Perm: viewPage}
		}
		// The registry is fresh: the checks below read nothing.
		if _, err := f.e.CheckMany(f.ctx, authz.Anonymous, reqs); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		ds, err := f.e.CheckMany(ctx, authz.Anonymous, reqs)
		if !errors.Is(err, authz.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || ds != nil {
			t.Errorf("CheckMany past the deadline = %d decisions, %v; want none and ErrUnavailable", len(ds), err)
		}
	})
}

// TestDecisionLogLinesBounded: a rule that writes, or pulls in from nested
// checks, more lines or bytes than a log keeps leaves the rest out and
// says how many; the decision is the rule's, and the result line comes
// last.
func TestDecisionLogLinesBounded(t *testing.T) {
	l40 := intList(40)
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		// Three levels of forty times forty hasPerm: tens of thousands of
		// lines without the bound.
		w.createRule(viewPage, "Report", fmt.Sprintf(`%[1]s.all(a, %[1]s.all(b, hasPerm(%[2]q)))`, l40, changePage))
		w.createRule(changePage, "Report", fmt.Sprintf(`%[1]s.all(a, %[1]s.all(b, hasPerm(%[2]q)))`, l40, deletePage))
		w.createRule(deletePage, "Report", `true`)
		lines := func(n, size int) authz.Rule {
			return func(_ context.Context, rc *authz.RuleContext) (bool, error) {
				for i := range n {
					rc.Log(fmt.Sprintf("%d %s", i, strings.Repeat("x", size)))
				}
				return true, nil
			}
		}
		w.f.must(w.f.e.RegisterRule(viewPage, "Chatty", lines(5000, 1)))
		w.f.must(w.f.e.RegisterRule(viewPage, "Wordy", lines(500, 1000)))
		for _, c := range []struct {
			typ     string
			omitted string
		}{
			{"Report", "lines left out"},
			{"Chatty", "4009 lines left out"},
			{"Wordy", "lines left out"},
		} {
			t.Run(c.typ, func(t *testing.T) {
				// In a request, as the service checks: nested results
				// are cached, so that each rule runs once.
				ctx := authz.WithRequestCache(context.Background())
				d, l, err := w.f.e.CheckObject(ctx, w.alice, viewPage, w.docs, &authz.Object{Type: c.typ, ID: "x"})
				if err != nil {
					t.Fatal(err)
				}
				if !d.Allowed || d.Reason != authz.ReasonObjectRule {
					t.Errorf("CheckObject(%s) = %+v, want allowed by the rule", c.typ, d)
				}
				size := 0
				for _, e := range l.Entries {
					size += len(e.Text)
					for _, tag := range e.Tags {
						size += len(tag)
					}
				}
				if len(l.Entries) > authz.MaxLogLines || size > authz.MaxLogBytes {
					t.Errorf("CheckObject(%s): log of %d lines, %d bytes; want at most %d and %d", c.typ, len(l.Entries), size, authz.MaxLogLines, authz.MaxLogBytes)
				}
				n := len(l.Entries)
				if n < 2 || !strings.Contains(l.Entries[n-2].Text, c.omitted) || lastLine(l) != "RESULT: Permission Granted" {
					t.Errorf("CheckObject(%s): log ends %v, want a line with %q, then the result", c.typ, l.Entries[max(n-2, 0):], c.omitted)
				}
			})
		}
	})
}

// TestRequestLogLinesBounded: the decision logs of one request keep at
// most MaxRequestLogLines lines together; past them a log keeps its first
// and last lines and says how many it left out, and every decision stands.
func TestRequestLogLinesBounded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db)
		w.f.must(w.f.e.RegisterRule(viewPage, "Chatty", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			for i := range 900 {
				rc.Log(fmt.Sprint("line ", i))
			}
			return true, nil
		}))
		reqs := make([]authz.CheckRequest, 200)
		for i := range reqs {
			reqs[i] = authz.CheckRequest{Perm: viewPage, Project: w.docs, Object: &authz.Object{Type: "Chatty", ID: fmt.Sprint(i)}}
		}
		ctx := authz.WithRequestCache(context.Background())
		ds, logs, err := w.f.e.CheckManyObjects(ctx, w.alice, reqs)
		if err != nil {
			t.Fatal(err)
		}
		total, cut := 0, 0
		for i, l := range logs {
			if !ds[i].Allowed {
				t.Errorf("checks[%d] = %+v, want allowed", i, ds[i])
			}
			total += len(l.Entries)
			if hasLine(l, "the decision logs of one request keep at most 100000 lines") {
				cut++
				if len(l.Entries) != 3 || lastLine(l) != "RESULT: Permission Granted" {
					t.Errorf("checks[%d]: cut log %v, want its first line, the count and the result", i, l.Entries)
				}
			}
		}
		if total > authz.MaxRequestLogLines || cut == 0 {
			t.Errorf("%d lines in %d logs, %d cut; want at most %d lines, some logs cut", total, len(logs), cut, authz.MaxRequestLogLines)
		}
	})
}

// TestRuleTimePerRequestBounded: the rule evaluations of one request share
// a bound of time; the evaluation that reaches it is stopped, and those
// after it deny without running, each saying why.
func TestRuleTimePerRequestBounded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		w := newCELWorld(t, db, authz.WithRuleRequestTime(time.Nanosecond))
		w.createRule(viewPage, "Report", `object.attributes.l.all(x, x != 'q')`)
		attrs := map[string]any{"l": list(1000)}
		reqs := make([]authz.CheckRequest, 3)
		for i := range reqs {
			reqs[i] = authz.CheckRequest{Perm: viewPage, Project: w.docs,
				Object: &authz.Object{Type: "Report", ID: fmt.Sprint(i), Attributes: attrs}}
		}
		ctx := authz.WithRequestCache(context.Background())
		ds, logs, err := w.f.e.CheckManyObjects(ctx, w.alice, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			want := "one request's rules may run at most 1ns"
			if i == 0 {
				want = "Rule error: stopped: the rules of this request had run for 1ns"
			}
			if d.Allowed || d.Reason != authz.ReasonDeniedByRule || !hasLine(logs[i], want) {
				t.Errorf("checks[%d] = %+v with log %v, want DENIED_BY_RULE and a line with %q", i, d, logs[i].Entries, want)
			}
		}
	})
}
