package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// distinctPerms are ten built-in permissions: ten checks of them are ten
// distinct decisions, so ten logs.
var distinctPerms = []string{
	"projects.add_project", "projects.change_project", "projects.delete_project", "projects.view_project",
	"projects.add_page", "projects.change_page", "projects.delete_page", "projects.view_page",
	"projects.publish_page", "projects.manage_members",
}

// checkManyOf asks checkMany for each perm globally, about user when it is
// not empty, selecting each decision's log.
func checkManyOf(user string, perms ...string) string {
	inputs := make([]string, len(perms))
	for i, p := range perms {
		if user == "" {
			inputs[i] = fmt.Sprintf(`{perm: %q}`, p)
		} else {
			inputs[i] = fmt.Sprintf(`{perm: %q, user: %q}`, p, user)
		}
	}
	return `{ checkMany(inputs: [` + strings.Join(inputs, ", ") + `]) { allowed log { id } } }`
}

// TestDecisionLogRatePerCaller: with --decision-log-rate 1 (a burst of
// 10), a caller's logged checks take a token each from the caller's own
// bucket, a repeated decision in one request only one; a check that finds
// too few tokens is not answered (UNAVAILABLE, extensions.limit
// decisionLogRate, a retry hint) and logs nothing; the bucket is the
// caller's, not the subject's, so that checks about another user spend
// the asker's tokens and leave that user's alone.
func TestDecisionLogRatePerCaller(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newOptionsHarness(t, db, []authz.Option{authz.WithDecisionLogRate(1)})
		service := h.mustUser(t, "service", authz.PermViewUser)
		alice, carol := h.mustUser(t, "alice"), h.mustUser(t, "carol")
		queued := func() int64 {
			h.sink.mu.RLock()
			defer h.sink.mu.RUnlock()
			return h.sink.w.Stats().Queued
		}
		refused := func(t *testing.T, what string, res response, retry bool) {
			t.Helper()
			if len(res.Errors) != 1 || res.Errors[0].code() != "UNAVAILABLE" || res.Errors[0].Extensions["limit"] != graph.LimitDecisionLogRate ||
				string(res.Data) != "null" {
				t.Fatalf("%s = %v, want data null and one UNAVAILABLE error with extensions.limit %q", what, res, graph.LimitDecisionLogRate)
			}
			hint, ok := res.Errors[0].Extensions["retryAfterSeconds"].(float64)
			if retry != ok || ok && hint <= 0 {
				t.Errorf("%s: extensions.retryAfterSeconds = %v, want a positive hint: %v", what, res.Errors[0].Extensions["retryAfterSeconds"], retry)
			}
		}

		// The service spends its burst on checks about alice: nine, and
		// the check that it may ask about another user (auth.view_user).
		// It selects no log: reading alice's logs would need
		// authz.view_decisionlog, and that denied check would be logged
		// and spend a token too.
		q := strings.Replace(checkManyOf(alice.gid(), distinctPerms[:9]...), " log { id }", "", 1)
		before := queued()
		var got struct {
			CheckMany []struct{ Log *struct{ ID string } }
		}
		mustData(t, q, h.do(t, service.Token, q), &got)
		if n := queued() - before; n != 10 {
			t.Errorf("first checkMany queued %d logs, want 10", n)
		}
		// Its next ten are refused, whole, and log nothing.
		before = queued()
		refused(t, "the service's second checkMany", h.do(t, service.Token, q), true)
		single := fmt.Sprintf(`{ check(input: {perm: "projects.view_page", user: %q}) { allowed } }`, alice.gid())
		refused(t, "the service's check", h.do(t, service.Token, single), true)
		if n := queued() - before; n != 0 {
			t.Errorf("refused checks queued %d logs, want 0", n)
		}

		// Alice, the subject of those checks, still has her own tokens.
		mine := checkManyOf("", distinctPerms...)
		mustData(t, mine, h.do(t, alice.Token, mine), &got)

		// Ten repeats of one decision in a request take one token: carol
		// then has nine left for nine distinct checks.
		repeats := checkManyOf("", slicesRepeat("projects.view_page", 10)...)
		mustData(t, repeats, h.do(t, carol.Token, repeats), &got)
		nine := checkManyOf("", distinctPerms[:9]...)
		mustData(t, nine, h.do(t, carol.Token, nine), &got)

		// More logs in one request than a burst can never be answered:
		// no retry hint.
		eleven := checkManyOf("", append(distinctPerms, authz.PermViewDecisionLog)...)
		fresh := h.mustUser(t, "fresh")
		refused(t, "a checkMany of eleven", h.do(t, fresh.Token, eleven), false)
	})
}

// slicesRepeat returns n copies of s.
func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
