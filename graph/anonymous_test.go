package graph_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestAnonymousCheckWritesNoLog: a check without credentials is answered
// from step 1 of the decision (docs/model.md) alone (deny, ANONYMOUS): whatever it asks about,
// and even when it selects the log, it runs no SQL statement and queues
// no decision log, its log is null, and the metrics still count it.
func TestAnonymousCheckWritesNoLog(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newMetricsHarness(t, db)
		project := h.mustProject(t, "docs")
		page := h.mustPage(t, project.ID, "a page")
		inputs := []string{
			`{perm: "projects.view_page"}`,
			fmt.Sprintf(`{perm: "projects.view_page", project: %q}`, gid(project.ID)),
			`{perm: "projects.view_page", project: "` + unknownID + `"}`,
			fmt.Sprintf(`{perm: "projects.delete_page", object: {type: "Page", id: %q}}`, gid(page.ID)),
			`{perm: "projects.delete_page", object: {type: "Page", id: "` + unknownID + `"}}`,
			`{perm: "projects.view_page", project: "` + unknownID + `", object: {type: "Report", id: "r1", attributes: {a: 1}}}`,
		}
		q := `{ checkMany(inputs: [` + strings.Join(inputs, ", ") + `]) { allowed reason log { id entries { text } } } }`
		single := fmt.Sprintf(`{ check(input: %s) { allowed reason log { id } } }`, inputs[3])

		before, queued := h.scrape(t), h.logs.Stats().Queued
		c := &models.StatementCounter{}
		anonymous := client.New(countingHandler(h.harness, c), client.Path("/graphql"))
		want := `{"checkMany": [` + strings.TrimSuffix(strings.Repeat(`{"allowed": false, "reason": "ANONYMOUS", "log": null}, `, len(inputs)), ", ") + `]}`
		wantData(t, q, h.doWith(t, anonymous, q), want)
		wantData(t, single, h.doWith(t, anonymous, single), `{"check": {"allowed": false, "reason": "ANONYMOUS", "log": null}}`)

		if n := c.Count(); n != 0 {
			t.Errorf("anonymous checks ran %d SQL statements, want 0", n)
		}
		if got := h.logs.Stats().Queued; got != queued {
			t.Errorf("anonymous checks queued %d decision logs, want 0", got-queued)
		}
		series := `grantql_checks_total{reason="ANONYMOUS",result="denied"}`
		if got := h.scrape(t)[series] - before[series]; got != float64(len(inputs)+1) {
			t.Errorf("%s grew by %v, want %d", series, got, len(inputs)+1)
		}

		// A signed-in caller's check still leaves its log.
		u := h.mustUser(t, "u")
		res := h.do(t, u.Token, single)
		var got struct {
			Check struct{ Log *struct{ ID string } }
		}
		mustData(t, single, res, &got)
		if got.Check.Log == nil || h.logs.Stats().Queued != queued+1 {
			t.Errorf("signed-in check: log = %v, %d logs queued; want its log, queued", got.Check.Log, h.logs.Stats().Queued-queued)
		}
	})
}

// countingHandler is h's handler counting the statements of each request
// in c.
func countingHandler(h *harness, c *models.StatementCounter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mux.ServeHTTP(w, r.WithContext(c.WithCounting(r.Context())))
	})
}

// TestPageExistenceHiddenFromAnonymous: every question an anonymous caller
// may ask about a page gets the same answer whether the page exists or
// not, and whichever project it is in; and the answer to a signed-in
// caller who names the wrong project for a page does not name the page's
// project.
func TestPageExistenceHiddenFromAnonymous(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		project, other := h.mustProject(t, "docs"), h.mustProject(t, "other")
		page := h.mustPage(t, project.ID, "a page")
		queries := []string{
			`{ page(id: "%[1]s") { id } }`,
			`{ check(input: {perm: "projects.view_page", object: {type: "Page", id: "%[1]s"}}) { allowed reason log { id } } }`,
			`{ check(input: {perm: "projects.view_page", project: "%[2]s", object: {type: "Page", id: "%[1]s"}}) { allowed reason } }`,
			`{ checkMany(inputs: [{perm: "projects.view_page", project: "%[2]s", object: {type: "Page", id: "%[1]s"}}]) { allowed reason } }`,
			`{ decisionLog(id: "%[1]s") { id } }`,
			`mutation { deletePage(id: "%[1]s") }`,
			`mutation { updatePage(id: "%[1]s", input: {title: "t"}) { id } }`,
			`mutation { publishPage(id: "%[1]s") { id } }`,
		}
		for _, q := range queries {
			existing := h.do(t, "", fmt.Sprintf(q, gid(page.ID), gid(other.ID)))
			missing := h.do(t, "", fmt.Sprintf(q, unknownID, gid(other.ID)))
			if existing.String() != missing.String() {
				t.Errorf("anonymous %s:\nexisting page = %v\nmissing page  = %v\nwant the same answer", q, existing, missing)
			}
			for _, e := range existing.Errors {
				if e.code() == "NOT_FOUND" || e.code() == "INTERNAL" {
					t.Errorf("anonymous %s = %v, want no %s", q, existing, e.code())
				}
			}
		}

		u := h.mustUser(t, "u")
		q := fmt.Sprintf(`{ check(input: {perm: "projects.view_page", project: %q, object: {type: "Page", id: %q}}) { allowed } }`,
			gid(other.ID), gid(page.ID))
		res := h.do(t, u.Token, q)
		wantError(t, q, res, badInput("check", fmt.Sprintf("is not in project %d", other.ID)))
		if len(res.Errors) == 1 && strings.Contains(res.Errors[0].Message, fmt.Sprintf("project %d", project.ID)) {
			t.Errorf("%s: message = %q, names the page's project %d", q, res.Errors[0].Message, project.ID)
		}
	})
}
