package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestDecisionLogLinesThroughGraphQL reproduces docs/model.md's Decision logs line for line, as
// Decision.log returns it and as decisionLog reads it back once stored:
// deleting a published page, allowed for a user who may publish pages and
// denied for one who may not, at verbosity 1 and 2, with the tags of every
// line. The same check twice in one request (two aliased check fields)
// gives the same lines and one stored log, whose id both answers carry.
func TestDecisionLogLinesThroughGraphQL(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, verbosity := range []int{authz.VerbosityResult, authz.VerbosityHeader} {
				t.Run(fmt.Sprintf("verbosity %d", verbosity), func(t *testing.T) {
					h := newLogHarness(t, dbtest.Open(t, dialect), verbosity)
					project := h.mustProject(t, "docs")
					// Both may view the project too, so that their logs'
					// project is shown (a log's project follows project(id)'s
					// rule, which TestDecisionLogProjectGuarded covers); the
					// checks here ask about pages, which view_project leaves alone.
					alice := h.mustUser(t, "alice")
					h.grantProject(t, authz.Holder{User: alice.ID}, project.ID, authz.PermDeletePage, authz.PermPublishPage, authz.PermViewProject)
					bob := h.mustUser(t, "bob")
					h.grantProject(t, authz.Holder{User: bob.ID}, project.ID, authz.PermDeletePage, authz.PermViewProject)
					page := h.mustPublishedPage(t, project.ID, "published")
					pageID := gid(page.ID)

					header := func(who actor, perm string, object bool) []logLine {
						if verbosity < authz.VerbosityHeader {
							return nil
						}
						lines := []logLine{
							autoLogLine("Permission: " + perm),
							autoLogLine(fmt.Sprintf("User: %s (%d)", who.Username, who.ID)),
						}
						if object {
							lines = append(lines, autoLogLine(fmt.Sprintf("Object: Page %s (%s)", pageID, pageID)))
						}
						return append(lines, autoLogLine(""))
					}
					cases := []struct {
						name    string
						who     actor
						allowed bool
						reason  string
						body    []logLine
					}{
						{
							name: "allowed: alice may publish pages", who: alice, allowed: true, reason: "OBJECT_RULE",
							body: []logLine{
								autoLogLine("Model-level Result: Granted"),
								ruleLogLine("Page is published: projects.publish_page is required too"),
								autoLogLine("  Model-level Result: Granted"),
								autoLogLine("  RESULT: Permission Granted"),
								autoLogLine("RESULT: Permission Granted"),
							},
						},
						{
							name: "denied: bob may not", who: bob, allowed: false, reason: "DENIED_BY_RULE",
							body: []logLine{
								autoLogLine("Model-level Result: Granted"),
								ruleLogLine("Page is published: projects.publish_page is required too"),
								autoLogLine("  Model-level Result: Denied"),
								autoLogLine("  RESULT: Permission Denied"),
								autoLogLine("RESULT: Permission Denied"),
							},
						},
					}
					q := `query($page: ID!) {
						first: check(input: {perm: "projects.delete_page", object: {type: "Page", id: $page}}) { allowed reason log { ` + logFields + ` } }
						again: check(input: {perm: "projects.delete_page", object: {type: "Page", id: $page}}) { allowed reason log { ` + logFields + ` } }
						project: check(input: {perm: "projects.delete_page", project: "` + gid(project.ID) + `"}) { allowed reason log { ` + logFields + ` } }
					}`
					type answer struct {
						Allowed bool
						Reason  string
						Log     logNode
					}
					for _, tc := range cases {
						t.Run(tc.name, func(t *testing.T) {
							var out struct{ First, Again, Project answer }
							mustData(t, q, h.do(t, tc.who.Token, q, "page", pageID), &out)
							want := append(header(tc.who, authz.PermDeletePage, true), tc.body...)
							wantName := "auto-projects.delete_page-" + pageID
							for _, a := range []struct {
								field string
								got   answer
							}{{"first", out.First}, {"again", out.Again}} {
								if a.got.Allowed != tc.allowed || a.got.Reason != tc.reason {
									t.Errorf("%s: check = %v %s, want %v %s", a.field, a.got.Allowed, a.got.Reason, tc.allowed, tc.reason)
								}
								assertLogLines(t, a.field+" log", want, a.got.Log.Entries)
								if a.got.Log.Name != wantName {
									t.Errorf("%s: log name = %q, want %q", a.field, a.got.Log.Name, wantName)
								}
							}
							if out.First.Log.ID != out.Again.Log.ID {
								t.Errorf("the two answers of one decision carry logs %q and %q, want the same", out.First.Log.ID, out.Again.Log.ID)
							}
							// Without an object: the project-level lines, named auto-<perm>.
							assertLogLines(t, "project-level log", append(header(tc.who, authz.PermDeletePage, false),
								autoLogLine("Model-level Result: Granted"), autoLogLine("RESULT: Permission Granted")), out.Project.Log.Entries)
							if want := "auto-projects.delete_page"; out.Project.Log.Name != want {
								t.Errorf("project-level log name = %q, want %q", out.Project.Log.Name, want)
							}

							// Stored: one log for the decision asked twice, with the same lines.
							h.flushLogs(t)
							lq := `query($user: ID!, $name: String!) { decisionLogs(filter: {user: $user, name: $name}) { edges { node { ` + logFields + ` } } } }`
							var stored struct {
								DecisionLogs struct{ Edges []struct{ Node logNode } }
							}
							mustData(t, lq, h.do(t, tc.who.Token, lq, "user", tc.who.gid(), "name", wantName), &stored)
							if n := len(stored.DecisionLogs.Edges); n != 1 {
								t.Fatalf("stored logs named %s = %d, want 1", wantName, n)
							}
							got := stored.DecisionLogs.Edges[0].Node
							if diff := cmp.Diff(out.First.Log, got); diff != "" {
								t.Errorf("stored log mismatch (-Decision.log +decisionLogs):\n%s", diff)
							}
							dq := `query($id: ID!) { decisionLog(id: $id) { ` + logFields + ` } }`
							var one struct{ DecisionLog logNode }
							mustData(t, dq, h.do(t, tc.who.Token, dq, "id", out.Again.Log.ID), &one)
							if diff := cmp.Diff(out.First.Log, one.DecisionLog); diff != "" {
								t.Errorf("decisionLog(id of the repeated check) mismatch (-Decision.log +decisionLog):\n%s", diff)
							}
						})
					}
				})
			}
		})
	}
}

// TestDecisionLogVerbosityNone shows that verbosity 0 keeps no logs:
// Decision.log is null and nothing is stored.
func TestDecisionLogVerbosityNone(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityNone)
		project := h.mustProject(t, "docs")
		alice := h.mustUser(t, "alice")
		h.grantProject(t, authz.Holder{User: alice.ID}, project.ID, authz.PermDeletePage)
		page := h.mustPublishedPage(t, project.ID, "published")
		q := `query($page: ID!) { check(input: {perm: "projects.delete_page", object: {type: "Page", id: $page}}) { allowed reason log { id } } }`
		wantData(t, q, h.do(t, alice.Token, q, "page", gid(page.ID)),
			`{"check": {"allowed": false, "reason": "DENIED_BY_RULE", "log": null}}`)
		h.flushLogs(t)
		wantData(t, "decisionLogs", h.do(t, alice.Token, `{ decisionLogs { edges { node { id } } } }`),
			`{"decisionLogs": {"edges": []}}`)
	})
}

// madeCheck is a check the decisionLogs test made, with what its log must
// record.
type madeCheck struct {
	seq        int // the order in which the checks were made
	who        actor
	requestID  string
	name       string
	perm       string
	project    string // "" for none
	objectType string
	objectID   string
	allowed    bool
	reason     string
	source     string
	tags       []string // the tags of the log's lines
}

// key identifies a log in the test: each request leaves one log per name.
func (c madeCheck) key() string { return c.requestID + " " + c.name }

func logKey(n logNode) string { return n.RequestID + " " + n.Name }

// TestDecisionLogsQuery reads back, through decisionLogs and decisionLog,
// the logs of checks made through GraphQL: every filter, newest first,
// cursor pagination, who may read whose logs, and the source and request
// id of each log.
func TestDecisionLogsQuery(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		if _, err := h.engine.DefinePermission(h.ctx, "billing", "approve_invoice", "Can approve invoice"); err != nil {
			t.Fatal(err)
		}
		// A Go rule whose line carries a tag, for the tag filter.
		err := h.engine.RegisterRule(approveInvoice, "Invoice", func(_ context.Context, rc *authz.RuleContext) (bool, error) {
			amount, _ := rc.Object.Attributes["amount"].(int64)
			rc.Log(fmt.Sprintf("amount %d, limit 1000", amount), "billing")
			return amount < 1000, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p1, p2 := h.mustProject(t, "p1"), h.mustProject(t, "p2")
		h.mustPage(t, p1.ID, "welcome")
		// Everyone here may view every project, and the auditor every
		// user, so that the logs' project and user are shown: they follow
		// project(id)'s and user(id)'s rules (TestDecisionLogProjectGuarded,
		// TestNestedUserGuarded), and no check below asks about
		// projects.view_project.
		alice := h.mustUser(t, "alice", authz.PermViewProject)
		h.grantProject(t, authz.Holder{User: alice.ID}, p1.ID, authz.PermViewPage, approveInvoice)
		bob := h.mustUser(t, "bob", authz.PermViewProject)
		auditor := h.mustUser(t, "auditor", authz.PermViewDecisionLog, authz.PermViewUser, authz.PermViewProject)

		checkQuery := func(perm, project string, obj map[string]any) string {
			in := fmt.Sprintf("perm: %q", perm)
			if project != "" {
				in += fmt.Sprintf(", project: %q", project)
			}
			if obj != nil {
				attrs, _ := json.Marshal(obj["attributes"])
				// A JSON object is a GraphQL object literal once its keys lose their quotes.
				lit := regexp.MustCompile(`"(\w+)":`).ReplaceAllString(string(attrs), "$1:")
				in += fmt.Sprintf(", object: {type: %q, id: %q, attributes: %s}", obj["type"], obj["id"], lit)
			}
			return fmt.Sprintf(`{ check(input: {%s}) { allowed reason log { id source requestId name } } }`, in)
		}
		p1id, p2id := gid(p1.ID), gid(p2.ID)
		var made []madeCheck
		// do makes one check in a request of its own, with an X-Request-Id,
		// and records it.
		do := func(c madeCheck, obj map[string]any) {
			t.Helper()
			c.seq = len(made)
			c.requestID = fmt.Sprintf("req-%d-%s", c.seq+1, dbtest.Name("x"))
			c.source = "Query.check"
			q := checkQuery(c.perm, c.project, obj)
			res, header := h.post(t, c.who.Token, c.requestID, q, nil)
			if got := header.Get("X-Request-Id"); got != c.requestID {
				t.Errorf("X-Request-Id of the response = %q, want %q, the request's", got, c.requestID)
			}
			var out struct {
				Check struct {
					Allowed bool
					Reason  string
					Log     struct{ ID, Source, RequestID, Name string }
				}
			}
			mustData(t, q, res, &out)
			if out.Check.Allowed != c.allowed || out.Check.Reason != c.reason {
				t.Fatalf("%s = %v %s, want %v %s", q, out.Check.Allowed, out.Check.Reason, c.allowed, c.reason)
			}
			if l := out.Check.Log; l.Source != c.source || l.RequestID != c.requestID || l.Name != c.name {
				t.Errorf("%s: log = %+v, want source %s, request id %s, name %s", q, l, c.source, c.requestID, c.name)
			}
			made = append(made, c)
		}
		viewPerm, addProject := authz.PermViewPage, authz.PermAddProject
		do(madeCheck{who: alice, name: "auto-" + viewPerm, perm: viewPerm, project: p1id, allowed: true, reason: "PROJECT_USER"}, nil)
		do(madeCheck{who: alice, name: "auto-" + viewPerm, perm: viewPerm, project: p2id, allowed: false, reason: "NO_GRANT"}, nil)
		do(madeCheck{who: bob, name: "auto-" + viewPerm, perm: viewPerm, project: p1id, allowed: false, reason: "NO_GRANT"}, nil)
		time.Sleep(5 * time.Millisecond)
		mark := time.Now()
		time.Sleep(5 * time.Millisecond)
		do(madeCheck{who: alice, name: "auto-" + approveInvoice + "-7", perm: approveInvoice, project: p1id,
			objectType: "Invoice", objectID: "7", allowed: true, reason: "OBJECT_RULE"},
			map[string]any{"type": "Invoice", "id": "7", "attributes": map[string]any{"amount": 10}})
		do(madeCheck{who: alice, name: "auto-" + approveInvoice + "-8", perm: approveInvoice, project: p1id,
			objectType: "Invoice", objectID: "8", allowed: false, reason: "DENIED_BY_RULE"},
			map[string]any{"type": "Invoice", "id": "8", "attributes": map[string]any{"amount": 5000}})
		do(madeCheck{who: alice, name: "auto-" + addProject, perm: addProject, allowed: false, reason: "NO_GRANT"}, nil)
		made[3].tags, made[4].tags = []string{"billing"}, []string{"billing"}

		// A nested field's check, logged with its field as the source, and
		// a request id the server made up, as the request brings none.
		// Deliberate since the visibility rules: the request's first
		// view_page check is PageEdge.node's (page(id)'s rule), and the
		// directive of Page.title asks it again of the request's cache.
		pq := `{ pages { edges { node { title } } } }`
		res, header := h.post(t, alice.Token, "", pq, nil)
		wantData(t, pq, res, `{"pages": {"edges": [{"node": {"title": "welcome"}}]}}`)
		generated := header.Get("X-Request-Id")
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(generated) {
			t.Errorf("X-Request-Id of a request without one = %q, want 32 hex digits", generated)
		}
		made = append(made, madeCheck{seq: len(made), who: alice, requestID: generated, name: "auto-" + viewPerm, perm: viewPerm, project: p1id,
			allowed: true, reason: "PROJECT_USER", source: "PageEdge.node"})

		h.flushLogs(t)

		// want returns the keys of the checks that match, newest first.
		want := func(match func(c madeCheck) bool) []string {
			var keys []string
			for i := len(made) - 1; i >= 0; i-- {
				if match(made[i]) {
					keys = append(keys, made[i].key())
				}
			}
			return keys
		}
		all := func(madeCheck) bool { return true }
		by := func(a actor) func(madeCheck) bool { return func(c madeCheck) bool { return c.who.ID == a.ID } }
		list := func(t *testing.T, token, filter string, first int, after string) ([]logNode, bool, string) {
			t.Helper()
			q := fmt.Sprintf(`query($after: String) { decisionLogs(filter: {%s}, first: %d, after: $after) {
				edges { cursor node { %s } } pageInfo { hasNextPage endCursor } } }`, filter, first, logFields)
			var vars []any
			if after != "" {
				vars = []any{"after", after}
			}
			var out struct {
				DecisionLogs struct {
					Edges []struct {
						Cursor string
						Node   logNode
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
			}
			mustData(t, q, h.do(t, token, q, vars...), &out)
			nodes := make([]logNode, len(out.DecisionLogs.Edges))
			for i, e := range out.DecisionLogs.Edges {
				nodes[i] = e.Node
			}
			end := ""
			if out.DecisionLogs.PageInfo.EndCursor != nil {
				end = *out.DecisionLogs.PageInfo.EndCursor
			}
			return nodes, out.DecisionLogs.PageInfo.HasNextPage, end
		}
		keys := func(nodes []logNode) []string {
			out := make([]string, len(nodes))
			for i, n := range nodes {
				out[i] = logKey(n)
			}
			return out
		}

		t.Run("filters", func(t *testing.T) {
			rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
			cases := []struct {
				filter string
				match  func(c madeCheck) bool
			}{
				{"", all},
				{fmt.Sprintf("user: %q", alice.gid()), by(alice)},
				{fmt.Sprintf("user: %q", bob.gid()), by(bob)},
				{fmt.Sprintf("user: %q", auditor.gid()), func(madeCheck) bool { return false }},
				{fmt.Sprintf("permission: %q", viewPerm), func(c madeCheck) bool { return c.perm == viewPerm }},
				{fmt.Sprintf("project: %q", p1id), func(c madeCheck) bool { return c.project == p1id }},
				{fmt.Sprintf("project: %q", p2id), func(c madeCheck) bool { return c.project == p2id }},
				{`objectType: "Invoice"`, func(c madeCheck) bool { return c.objectType == "Invoice" }},
				{`objectType: "Invoice", objectId: "8"`, func(c madeCheck) bool { return c.objectID == "8" }},
				{`objectId: "7"`, func(c madeCheck) bool { return c.objectID == "7" }},
				{"allowed: true", func(c madeCheck) bool { return c.allowed }},
				{fmt.Sprintf("allowed: false, user: %q", alice.gid()), func(c madeCheck) bool { return !c.allowed && c.who.ID == alice.ID }},
				{"reason: NO_GRANT", func(c madeCheck) bool { return c.reason == "NO_GRANT" }},
				{"reason: DENIED_BY_RULE", func(c madeCheck) bool { return c.reason == "DENIED_BY_RULE" }},
				{fmt.Sprintf("name: %q", "auto-"+viewPerm), func(c madeCheck) bool { return c.name == "auto-"+viewPerm }},
				{fmt.Sprintf("name: %q", "auto-"+approveInvoice+"-7"), func(c madeCheck) bool { return c.name == "auto-"+approveInvoice+"-7" }},
				{`tag: "auto"`, all},
				{`tag: "billing"`, func(c madeCheck) bool { return slices.Contains(c.tags, "billing") }},
				{`tag: "nothing"`, func(madeCheck) bool { return false }},
				{fmt.Sprintf("since: %q", rfc(mark)), func(c madeCheck) bool { return c.seq >= 3 }},
				{fmt.Sprintf("until: %q", rfc(mark)), func(c madeCheck) bool { return c.seq < 3 }},
				{fmt.Sprintf("since: %q, user: %q", rfc(mark), bob.gid()), func(madeCheck) bool { return false }},
				{fmt.Sprintf("since: %q", rfc(time.Now().Add(time.Hour))), func(madeCheck) bool { return false }},
			}
			for _, tc := range cases {
				t.Run(tc.filter, func(t *testing.T) {
					nodes, hasNext, _ := list(t, auditor.Token, tc.filter, 100, "")
					if diff := cmp.Diff(want(tc.match), keys(nodes), cmpEmpty); diff != "" {
						t.Errorf("decisionLogs(filter: {%s}) mismatch (-want +got):\n%s", tc.filter, diff)
					}
					if hasNext {
						t.Errorf("decisionLogs(filter: {%s}): hasNextPage = true, want false", tc.filter)
					}
				})
			}
		})

		t.Run("log fields", func(t *testing.T) {
			nodes, _, _ := list(t, auditor.Token, "", 100, "")
			byKey := map[string]logNode{}
			for _, n := range nodes {
				byKey[logKey(n)] = n
			}
			for _, c := range made {
				n, ok := byKey[c.key()]
				if !ok {
					t.Errorf("no stored log for %s", c.key())
					continue
				}
				wantProject := (*idRef)(nil)
				if c.project != "" {
					wantProject = &idRef{ID: c.project}
				}
				var objType, objID *string
				if c.objectType != "" {
					objType, objID = &c.objectType, &c.objectID
				}
				got := struct {
					Perm, Reason, Source, RequestID, User, Backend string
					Allowed                                        bool
					Project                                        *idRef
					ObjectType, ObjectID                           *string
				}{n.Permission, n.Reason, n.Source, n.RequestID, n.User.ID, n.Backend, n.Allowed, n.Project, n.ObjectType, n.ObjectID}
				wantFields := got
				wantFields.Perm, wantFields.Reason, wantFields.Source, wantFields.RequestID = c.perm, c.reason, c.source, c.requestID
				wantFields.User, wantFields.Allowed, wantFields.Project = c.who.gid(), c.allowed, wantProject
				wantFields.ObjectType, wantFields.ObjectID = objType, objID
				wantFields.Backend = ""
				if c.allowed || c.reason == "DENIED_BY_RULE" {
					wantFields.Backend = authz.BuiltinBackendName
				}
				if diff := cmp.Diff(wantFields, got); diff != "" {
					t.Errorf("log %s mismatch (-want +got):\n%s", c.key(), diff)
				}
				created, err := time.Parse(time.RFC3339Nano, n.CreatedAt)
				if err != nil || created.Before(mark.Add(-time.Minute)) || created.After(time.Now()) {
					t.Errorf("log %s: createdAt = %q, want a time of this test", c.key(), n.CreatedAt)
				}
			}
		})

		t.Run("pagination", func(t *testing.T) {
			var got []string
			after := ""
			pages := 0
			for {
				nodes, hasNext, end := list(t, auditor.Token, "", 3, after)
				pages++
				got = append(got, keys(nodes)...)
				if !hasNext {
					break
				}
				if len(nodes) != 3 || end == "" || pages > len(made) {
					t.Fatalf("page %d: %d logs, hasNextPage with endCursor %q, want 3 logs and a cursor", pages, len(nodes), end)
				}
				after = end
			}
			if diff := cmp.Diff(want(all), got); diff != "" {
				t.Errorf("decisionLogs paged by 3 mismatch (-want +got):\n%s", diff)
			}
			if wantPages := (len(made) + 2) / 3; pages != wantPages {
				t.Errorf("decisionLogs paged by 3 took %d pages, want %d", pages, wantPages)
			}
		})

		t.Run("who reads whose logs", func(t *testing.T) {
			// Without authz.view_decisionlog, alice reads her own logs only.
			nodes, _, _ := list(t, alice.Token, fmt.Sprintf("user: %q", alice.gid()), 100, "")
			if diff := cmp.Diff(want(by(alice)), keys(nodes)); diff != "" {
				t.Errorf("alice's decisionLogs(user: alice) mismatch (-want +got):\n%s", diff)
			}
			nodes, _, _ = list(t, alice.Token, "", 100, "")
			if diff := cmp.Diff(want(by(alice)), keys(nodes)); diff != "" {
				t.Errorf("alice's decisionLogs() mismatch (-want +got):\n%s", diff)
			}
			nodes, _, _ = list(t, alice.Token, `permission: "projects.view_page"`, 100, "")
			if diff := cmp.Diff(want(func(c madeCheck) bool { return c.who.ID == alice.ID && c.perm == viewPerm }), keys(nodes)); diff != "" {
				t.Errorf("alice's decisionLogs(permission: view_page) mismatch (-want +got):\n%s", diff)
			}
			q := fmt.Sprintf(`{ decisionLogs(filter: {user: %q}) { edges { node { id } } } }`, bob.gid())
			wantError(t, q, h.do(t, alice.Token, q), errWant{code: "FORBIDDEN", path: "decisionLogs", perm: authz.PermViewDecisionLog})
			wantError(t, q, h.do(t, "", q), errWant{code: "UNAUTHENTICATED", path: "decisionLogs"})

			// decisionLog(id): one's own, or anyone's with the permission.
			all, _, _ := list(t, auditor.Token, "", 100, "")
			var alicesLog, bobsLog logNode
			for _, n := range all {
				switch n.User.ID {
				case alice.gid():
					alicesLog = n
				case bob.gid():
					bobsLog = n
				}
			}
			dq := `query($id: ID!) { decisionLog(id: $id) { ` + logFields + ` } }`
			for _, tc := range []struct {
				name string
				who  actor
				log  logNode
				err  string
			}{
				{name: "alice reads her own", who: alice, log: alicesLog},
				{name: "alice reads bob's", who: alice, log: bobsLog, err: "FORBIDDEN"},
				{name: "bob reads his own", who: bob, log: bobsLog},
				{name: "the auditor reads alice's", who: auditor, log: alicesLog},
				{name: "the auditor reads bob's", who: auditor, log: bobsLog},
				{name: "anonymous", log: alicesLog, err: "UNAUTHENTICATED"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res := h.do(t, tc.who.Token, dq, "id", tc.log.ID)
					switch tc.err {
					case "":
						var out struct{ DecisionLog logNode }
						mustData(t, dq, res, &out)
						if diff := cmp.Diff(tc.log, out.DecisionLog); diff != "" {
							t.Errorf("decisionLog(%s) mismatch (-want +got):\n%s", tc.log.ID, diff)
						}
					case "FORBIDDEN":
						wantError(t, dq, res, errWant{code: tc.err, path: "decisionLog", perm: authz.PermViewDecisionLog})
					default:
						wantError(t, dq, res, errWant{code: tc.err, path: "decisionLog"})
					}
				})
			}
			// Whether a log exists is no business of an anonymous caller.
			wantError(t, dq, h.do(t, "", dq, "id", "ffffffffffffffffffffffffffffffff"), errWant{code: "UNAUTHENTICATED", path: "decisionLog"})
			wantError(t, dq, h.do(t, alice.Token, dq, "id", "ffffffffffffffffffffffffffffffff"), errWant{code: "NOT_FOUND", path: "decisionLog"})
		})
	})
}

// cmpEmpty makes a nil slice equal an empty one.
var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

// TestDecisionLogSources shows the source of the logs of a request's
// checks: the query field that checked, the guarded field whose directive
// checked, and the mutation that checked a page's rules.
func TestDecisionLogSources(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		project := h.mustProject(t, "docs")
		editor := h.mustUser(t, "editor")
		h.grantProject(t, authz.Holder{User: editor.ID}, project.ID, authz.PermViewPage, authz.PermDeletePage)
		page := h.mustPublishedPage(t, project.ID, "published")

		const requestID = "sources-1"
		q := fmt.Sprintf(`mutation { deletePage(id: %q) }`, gid(page.ID))
		res, header := h.post(t, editor.Token, requestID, q, nil)
		// The page is published: the error names publish_page, which
		// the editor lacks, rather than the delete_page they hold.
		wantError(t, q, res, errWant{code: "FORBIDDEN", path: "deletePage", perm: authz.PermPublishPage, project: gid(project.ID)})
		if got := header.Get("X-Request-Id"); got != requestID {
			t.Errorf("X-Request-Id = %q, want %q", got, requestID)
		}
		h.flushLogs(t)
		lq := fmt.Sprintf(`{ decisionLogs(filter: {user: %q}) { edges { node { name allowed reason source requestId } } } }`, editor.gid())
		want := fmt.Sprintf(`{"decisionLogs": {"edges": [
			{"node": {"name": "auto-projects.delete_page-%[1]s", "allowed": false, "reason": "DENIED_BY_RULE", "source": "Mutation.deletePage", "requestId": %[2]q}},
			{"node": {"name": "auto-projects.delete_page", "allowed": true, "reason": "PROJECT_USER", "source": "Mutation.deletePage", "requestId": %[2]q}}]}}`,
			gid(page.ID), requestID)
		wantData(t, lq, h.do(t, editor.Token, lq), want)
	})
}

// grantEventNode is a GrantEvent as GraphQL returns it.
type grantEventNode struct {
	Actor      *idRef  `json:"actor"`
	Action     string  `json:"action"`
	UserID     *string `json:"userId"`
	GroupID    *string `json:"groupId"`
	ProjectID  *string `json:"projectId"`
	Permission *string `json:"permission"`
	Before     *string `json:"before"`
	After      *string `json:"after"`
}

// actorID is the id of an event's actor, "" for none.
func actorID(e grantEventNode) string {
	if e.Actor == nil {
		return ""
	}
	return e.Actor.ID
}

// TestGrantEventsQuery changes grants, memberships and user flags through
// GraphQL and reads the audit trail back with grantEvents: newest first,
// with the actor and the state before and after, every filter, paging,
// and who may read it.
func TestGrantEventsQuery(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		project := h.mustProject(t, "docs")
		pid := gid(project.ID)
		alice := h.mustUser(t, "alice")
		group := h.mustGroup(t, "editors")
		// An admin who is no superuser makes some of the changes.
		admin := h.mustUser(t, "admin", authz.PermChangeUser, authz.PermChangeGroup)
		h.grantProject(t, authz.Holder{User: admin.ID}, project.ID, authz.PermManageMembers, authz.PermViewPage)
		// The auditor may view users too, so that the events' actor is
		// shown: it follows user(id)'s rule ("who may read" below shows it
		// withheld from an auditor without auth.view_user).
		auditor := h.mustUser(t, "auditor", authz.PermViewDecisionLog, authz.PermViewUser)

		str := func(s string) *string { return &s }
		changes := []struct {
			who   actor
			doc   string
			event grantEventNode
		}{
			{h.root, fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, user: %q) { permission { key } } }`, pid, alice.gid()),
				grantEventNode{Action: authz.ActionGrantProjectPerm, UserID: str(alice.gid()), ProjectID: str(pid),
					Permission: str(authz.PermViewPage), Before: str(`{"held":false}`), After: str(`{"held":true}`)}},
			{admin, fmt.Sprintf(`mutation { grantProjectPerm(perm: "projects.view_page", project: %q, group: %q) { permission { key } } }`, pid, gid(group.ID)),
				grantEventNode{Action: authz.ActionGrantProjectPerm, GroupID: str(gid(group.ID)), ProjectID: str(pid),
					Permission: str(authz.PermViewPage), Before: str(`{"held":false}`), After: str(`{"held":true}`)}},
			{admin, fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, alice.gid(), gid(group.ID)),
				grantEventNode{Action: authz.ActionAddUserToGroup, UserID: str(alice.gid()), GroupID: str(gid(group.ID)),
					Before: str(`{"member":false}`), After: str(`{"member":true}`)}},
			{h.root, fmt.Sprintf(`mutation { revokeProjectPerm(perm: "projects.view_page", project: %q, user: %q) }`, pid, alice.gid()),
				grantEventNode{Action: authz.ActionRevokeProjectPerm, UserID: str(alice.gid()), ProjectID: str(pid),
					Permission: str(authz.PermViewPage), Before: str(`{"held":true}`), After: str(`{"held":false}`)}},
			{admin, fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: false}) { id } }`, alice.gid()),
				grantEventNode{Action: authz.ActionUpdateUser, UserID: str(alice.gid()),
					Before: str(`{"isActive":true,"isSuperuser":false}`), After: str(`{"isActive":false,"isSuperuser":false}`)}},
		}
		for i := range changes {
			c := &changes[i]
			res := h.do(t, c.who.Token, c.doc)
			if res.Status != 200 || len(res.Errors) != 0 {
				t.Fatalf("%s = %v, want no errors", c.doc, res)
			}
			c.event.Actor = &idRef{ID: c.who.gid()}
		}
		// Changes that change nothing record nothing.
		for _, doc := range []string{changes[1].doc, changes[2].doc, changes[4].doc} {
			if res := h.do(t, h.root.Token, doc); len(res.Errors) != 0 {
				t.Fatalf("%s again = %v, want no errors", doc, res)
			}
		}

		const fields = `actor { id } action userId groupId projectId permission before after`
		list := func(t *testing.T, token, filter string, first int, after string) ([]grantEventNode, bool, string) {
			t.Helper()
			q := fmt.Sprintf(`query($after: String) { grantEvents(filter: {%s}, first: %d, after: $after) {
				edges { node { %s createdAt } } pageInfo { hasNextPage endCursor } } }`, filter, first, fields)
			var vars []any
			if after != "" {
				vars = []any{"after", after}
			}
			var out struct {
				GrantEvents struct {
					Edges    []struct{ Node grantEventNode }
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
			}
			mustData(t, q, h.do(t, token, q, vars...), &out)
			events := make([]grantEventNode, len(out.GrantEvents.Edges))
			for i, e := range out.GrantEvents.Edges {
				events[i] = e.Node
			}
			end := ""
			if out.GrantEvents.PageInfo.EndCursor != nil {
				end = *out.GrantEvents.PageInfo.EndCursor
			}
			return events, out.GrantEvents.PageInfo.HasNextPage, end
		}
		// want returns the GraphQL changes that match, newest first.
		want := func(match func(e grantEventNode) bool) []grantEventNode {
			var out []grantEventNode
			for i := len(changes) - 1; i >= 0; i-- {
				if match(changes[i].event) {
					out = append(out, changes[i].event)
				}
			}
			return out
		}
		is := func(p *string, v string) bool { return p != nil && *p == v }

		t.Run("newest first", func(t *testing.T) {
			// The GraphQL changes are the newest events: the fixture's
			// were made before them, from no request (no actor).
			got, hasNext, _ := list(t, h.root.Token, "", len(changes), "")
			if diff := cmp.Diff(want(func(grantEventNode) bool { return true }), got); diff != "" {
				t.Errorf("grantEvents(first: %d) mismatch (-want +got):\n%s", len(changes), diff)
			}
			if !hasNext {
				t.Error("grantEvents: hasNextPage = false, want true: the fixture's events are older")
			}
		})

		t.Run("filters", func(t *testing.T) {
			cases := []struct {
				filter string
				match  func(e grantEventNode) bool
			}{
				{fmt.Sprintf("actor: %q", h.root.gid()), func(e grantEventNode) bool { return actorID(e) == h.root.gid() }},
				{fmt.Sprintf("actor: %q", admin.gid()), func(e grantEventNode) bool { return actorID(e) == admin.gid() }},
				{fmt.Sprintf("action: %q", authz.ActionGrantProjectPerm), func(e grantEventNode) bool { return e.Action == authz.ActionGrantProjectPerm }},
				{fmt.Sprintf("action: %q", authz.ActionUpdateUser), func(e grantEventNode) bool { return e.Action == authz.ActionUpdateUser }},
				{fmt.Sprintf("user: %q, actor: %q", alice.gid(), admin.gid()), func(e grantEventNode) bool {
					return is(e.UserID, alice.gid()) && actorID(e) == admin.gid()
				}},
				{fmt.Sprintf("group: %q", gid(group.ID)), func(e grantEventNode) bool { return is(e.GroupID, gid(group.ID)) }},
				{fmt.Sprintf("project: %q, permission: %q", pid, authz.PermViewPage), func(e grantEventNode) bool {
					return is(e.ProjectID, pid) && is(e.Permission, authz.PermViewPage)
				}},
				{fmt.Sprintf("permission: %q, actor: %q", authz.PermViewPage, h.root.gid()), func(e grantEventNode) bool {
					return is(e.Permission, authz.PermViewPage) && actorID(e) == h.root.gid()
				}},
				{fmt.Sprintf("action: %q", authz.ActionDeleteRule), func(grantEventNode) bool { return false }},
			}
			for _, tc := range cases {
				t.Run(tc.filter, func(t *testing.T) {
					all, _, _ := list(t, auditor.Token, tc.filter, 100, "")
					// The fixture's events, made outside any request, have
					// no actor: they must match the filter too, and the
					// API's must be exactly those expected.
					var got []grantEventNode
					for _, e := range all {
						if !tc.match(e) {
							t.Errorf("grantEvents(filter: {%s}) returned %+v, which does not match", tc.filter, e)
						}
						if e.Actor != nil {
							got = append(got, e)
						}
					}
					if diff := cmp.Diff(want(tc.match), got); diff != "" {
						t.Errorf("grantEvents(filter: {%s}) mismatch (-want +got):\n%s", tc.filter, diff)
					}
				})
			}
			// The fixture's changes have no actor; a user filter still
			// finds them beside the API's.
			got, _, _ := list(t, auditor.Token, fmt.Sprintf("user: %q", alice.gid()), 100, "")
			if n := len(got); n != 5 || got[n-1].Action != authz.ActionCreateUser || got[n-1].Actor != nil {
				t.Errorf("grantEvents(user: alice) = %+v, want her 4 changes through GraphQL and, last, her creation without an actor", got)
			}
		})

		t.Run("pagination", func(t *testing.T) {
			filter := fmt.Sprintf("actor: %q", admin.gid())
			first, hasNext, end := list(t, auditor.Token, filter, 2, "")
			if len(first) != 2 || !hasNext || end == "" {
				t.Fatalf("grantEvents(first: 2) = %d events, hasNextPage %v, endCursor %q, want 2, true and a cursor", len(first), hasNext, end)
			}
			rest, hasNext, _ := list(t, auditor.Token, filter, 2, end)
			if diff := cmp.Diff(want(func(e grantEventNode) bool { return actorID(e) == admin.gid() }), append(first, rest...)); diff != "" || hasNext {
				t.Errorf("grantEvents paged by 2 mismatch (-want +got), hasNextPage %v:\n%s", hasNext, diff)
			}
		})

		t.Run("who may read", func(t *testing.T) {
			q := `{ grantEvents { edges { node { action } } } }`
			wantError(t, q, h.do(t, admin.Token, q), errWant{code: "FORBIDDEN", path: "grantEvents", perm: authz.PermViewDecisionLog})
			wantError(t, q, h.do(t, "", q), errWant{code: "UNAUTHENTICATED", path: "grantEvents"})
			for _, who := range []actor{h.root, auditor} {
				if res := h.do(t, who.Token, q); len(res.Errors) != 0 || !strings.Contains(string(res.Data), authz.ActionUpdateUser) {
					t.Errorf("grantEvents as %s = %v, want the events", who.Username, res)
				}
			}
			// Deliberate since the visibility rules: an auditor without
			// auth.view_user reads the events, not who made them.
			plain := h.mustUser(t, "plain_auditor", authz.PermViewDecisionLog)
			aq := fmt.Sprintf(`{ grantEvents(filter: {actor: %q}, first: 1) { edges { node { action actor { id } } } } }`, admin.gid())
			wantError(t, aq, h.do(t, plain.Token, aq), errWant{code: "FORBIDDEN", path: "grantEvents.edges.0.node.actor",
				perm: authz.PermViewUser, msg: []string{authz.PermViewUser}})
		})
	})
}
