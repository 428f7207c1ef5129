package graph_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// The permissions of the page tests.
const (
	// approveInvoice is defined by the tests of objects grantql does not store.
	approveInvoice = "billing.approve_invoice"
)

// pageState is what a page mutation leaves in the database.
type pageState struct {
	exists    bool
	published bool
	title     string
}

func (h *harness) pageState(t *testing.T, id int64) pageState {
	t.Helper()
	p, err := h.store.Page(h.ctx, id)
	if errors.Is(err, authz.ErrNotFound) {
		return pageState{}
	}
	if err != nil {
		t.Fatalf("Page(%d) = %v", id, err)
	}
	return pageState{exists: true, published: p.Published, title: p.Title}
}

// mustPublishedPage creates a page in project and publishes it.
func (h *harness) mustPublishedPage(t *testing.T, project int64, title string) authz.Page {
	t.Helper()
	p := h.mustPage(t, project, title)
	p, err := h.engine.PublishPage(h.ctx, p.ID, true)
	if err != nil {
		t.Fatalf("PublishPage(%d) = %v", p.ID, err)
	}
	return p
}

// TestPageMutationsAndRules drives publishPage, updatePage and deletePage
// through GraphQL: publishing needs projects.publish_page; changing or
// deleting an unpublished page needs only change_page or delete_page, and
// a published one needs projects.publish_page too (the built-in Page
// rule); a superuser needs no rule's consent.
func TestPageMutationsAndRules(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		project := h.mustProject(t, "docs")
		pid := gid(project.ID)
		editor := h.mustUser(t, "editor")
		h.grantProject(t, authz.Holder{User: editor.ID}, project.ID, authz.PermViewPage, authz.PermChangePage, authz.PermDeletePage)
		publisher := h.mustUser(t, "publisher")
		h.grantProject(t, authz.Holder{User: publisher.ID}, project.ID, authz.PermViewPage, authz.PermChangePage, authz.PermDeletePage, authz.PermPublishPage)
		reader := h.mustUser(t, "reader")
		h.grantProject(t, authz.Holder{User: reader.ID}, project.ID, authz.PermViewPage)

		const (
			publishDoc   = `mutation($id: ID!) { publishPage(id: $id) { id published } }`
			unpublishDoc = `mutation($id: ID!) { publishPage(id: $id, published: false) { id published } }`
			updateDoc    = `mutation($id: ID!) { updatePage(id: $id, input: {title: "changed"}) { id title published } }`
			deleteDoc    = `mutation($id: ID!) { deletePage(id: $id) }`
		)
		cases := []struct {
			name      string
			who       actor
			published bool // the page's state before the mutation
			doc       string
			// want is the data when allowed, with %s for the page id;
			// forbidden is the permission the FORBIDDEN error names
			// otherwise (extensions.permission and the start of its
			// message): the one the viewer lacks, not one they hold.
			want      string
			forbidden string
			field     string
			after     pageState // title "page" unless changed
		}{
			{name: "publishPage without publish_page", who: editor, doc: publishDoc,
				forbidden: authz.PermPublishPage, field: "publishPage", after: pageState{exists: true, title: "page"}},
			{name: "publishPage with publish_page", who: publisher, doc: publishDoc,
				want: `{"publishPage": {"id": %q, "published": true}}`, after: pageState{exists: true, published: true, title: "page"}},
			{name: "unpublish with publish_page", who: publisher, published: true, doc: unpublishDoc,
				want: `{"publishPage": {"id": %q, "published": false}}`, after: pageState{exists: true, title: "page"}},
			{name: "unpublish without publish_page", who: editor, published: true, doc: unpublishDoc,
				forbidden: authz.PermPublishPage, field: "publishPage", after: pageState{exists: true, published: true, title: "page"}},

			{name: "updatePage unpublished, change_page only", who: editor, doc: updateDoc,
				want: `{"updatePage": {"id": %q, "title": "changed", "published": false}}`, after: pageState{exists: true, title: "changed"}},
			{name: "updatePage published, change_page only", who: editor, published: true, doc: updateDoc,
				forbidden: authz.PermPublishPage, field: "updatePage", after: pageState{exists: true, published: true, title: "page"}},
			{name: "updatePage published, with publish_page", who: publisher, published: true, doc: updateDoc,
				want: `{"updatePage": {"id": %q, "title": "changed", "published": true}}`, after: pageState{exists: true, published: true, title: "changed"}},
			{name: "updatePage published, superuser", who: h.root, published: true, doc: updateDoc,
				want: `{"updatePage": {"id": %q, "title": "changed", "published": true}}`, after: pageState{exists: true, published: true, title: "changed"}},
			{name: "updatePage without change_page", who: reader, doc: updateDoc,
				forbidden: authz.PermChangePage, field: "updatePage", after: pageState{exists: true, title: "page"}},

			{name: "deletePage unpublished, delete_page only", who: editor, doc: deleteDoc,
				want: `{"deletePage": true}`, after: pageState{}},
			{name: "deletePage published, delete_page only", who: editor, published: true, doc: deleteDoc,
				forbidden: authz.PermPublishPage, field: "deletePage", after: pageState{exists: true, published: true, title: "page"}},
			{name: "deletePage published, with publish_page", who: publisher, published: true, doc: deleteDoc,
				want: `{"deletePage": true}`, after: pageState{}},
			{name: "deletePage published, superuser", who: h.root, published: true, doc: deleteDoc,
				want: `{"deletePage": true}`, after: pageState{}},
			{name: "deletePage without delete_page", who: reader, doc: deleteDoc,
				forbidden: authz.PermDeletePage, field: "deletePage", after: pageState{exists: true, title: "page"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				page := h.mustPage(t, project.ID, "page")
				if tc.published {
					page = h.mustPublishedPage(t, project.ID, "page")
				}
				id := gid(page.ID)
				got := h.do(t, tc.who.Token, tc.doc, "id", id)
				if tc.forbidden != "" {
					wantError(t, tc.name, got, errWant{code: "FORBIDDEN", path: tc.field, perm: tc.forbidden, project: pid,
						msg: []string{"permission " + tc.forbidden + " denied in project " + pid}})
				} else {
					want := tc.want
					if strings.Contains(want, "%q") {
						want = fmt.Sprintf(want, id)
					}
					wantData(t, tc.name, got, want)
				}
				if st := h.pageState(t, page.ID); st != tc.after {
					t.Errorf("after %s: page = %+v, want %+v", tc.name, st, tc.after)
				}
			})
		}

		// The denial of a published page's deletion, as check explains it.
		t.Run("check explains the denial", func(t *testing.T) {
			page := h.mustPublishedPage(t, project.ID, "page")
			q := `query($id: ID!) { check(input: {perm: "projects.delete_page", object: {type: "Page", id: $id}}) {
				allowed permission reason log { name entries { text tags } } } }`
			var out struct {
				Check struct {
					Allowed    bool
					Permission string
					Reason     string
					Log        struct {
						Name    string
						Entries []logLine
					}
				}
			}
			mustData(t, q, h.do(t, editor.Token, q, "id", gid(page.ID)), &out)
			if out.Check.Allowed || out.Check.Reason != "DENIED_BY_RULE" || out.Check.Permission != authz.PermDeletePage {
				t.Errorf("check(delete_page, published page) = %+v, want denied DENIED_BY_RULE", out.Check)
			}
			assertLogLines(t, "log", []logLine{
				autoLogLine("Model-level Result: Granted"),
				ruleLogLine("Page is published: projects.publish_page is required too"),
				autoLogLine("  Model-level Result: Denied"),
				autoLogLine("  RESULT: Permission Denied"),
				autoLogLine("RESULT: Permission Denied"),
			}, out.Check.Log.Entries)
			if want := "auto-projects.delete_page-" + gid(page.ID); out.Check.Log.Name != want {
				t.Errorf("log name = %q, want %q", out.Check.Log.Name, want)
			}
		})
	})
}

// checkAnswer is a check's answer as GraphQL returns it.
type checkAnswer struct {
	Allowed    bool   `json:"allowed"`
	Permission string `json:"permission"`
	Reason     string `json:"reason"`
	Log        *struct {
		ID      string    `json:"id"`
		Name    string    `json:"name"`
		Entries []logLine `json:"entries"`
	} `json:"log"`
}

const checkDoc = `query($input: CheckInput!) { check(input: $input) { allowed permission reason log { id name entries { text tags } } } }`

// check sends one check as the owner of token.
func (h *harness) checkAs(t *testing.T, token string, input map[string]any) checkAnswer {
	t.Helper()
	var out struct{ Check checkAnswer }
	mustData(t, checkDoc, h.do(t, token, checkDoc, "input", input), &out)
	return out.Check
}

// object returns a CheckInput's object.
func objectInput(typ, id string, attrs map[string]any) map[string]any {
	o := map[string]any{"type": typ, "id": id}
	if attrs != nil {
		o["attributes"] = attrs
	}
	return o
}

// createRuleDoc creates a rule and selects every field.
const createRuleDoc = `mutation($input: CreateRuleInput!) { createRule(input: $input) { id permission objectType expression description } }`

type ruleNode struct {
	ID          string `json:"id"`
	Permission  string `json:"permission"`
	ObjectType  string `json:"objectType"`
	Expression  string `json:"expression"`
	Description string `json:"description"`
}

// mustRule creates a rule through GraphQL as the owner of token.
func (h *harness) mustRule(t *testing.T, token, perm, objectType, expr string) ruleNode {
	t.Helper()
	var out struct{ CreateRule ruleNode }
	input := map[string]any{"permission": perm, "objectType": objectType, "expression": expr}
	mustData(t, createRuleDoc, h.do(t, token, createRuleDoc, "input", input), &out)
	return out.CreateRule
}

// TestUniversalOLP shows a superuser skipping rules while universal OLP is
// off, and denied by a rule that denies when it is on: a CEL rule on an
// object grantql does not store, and a CEL rule that replaces the built-in
// Page rule and guards deletePage.
func TestUniversalOLP(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			for _, universal := range []bool{false, true} {
				t.Run(fmt.Sprintf("universal OLP %v", universal), func(t *testing.T) {
					// Without the built-in Page rules, a CEL rule may decide
					// projects.delete_page on pages.
					h := newLogHarness(t, dbtest.Open(t, dialect), authz.VerbosityResult,
						authz.WithUniversalOLP(universal), authz.WithoutPageRules())
					if _, err := h.engine.DefinePermission(h.ctx, "billing", "approve_invoice", "Can approve invoice"); err != nil {
						t.Fatal(err)
					}
					project := h.mustProject(t, "billing")
					invoiceRule := h.mustRule(t, h.root.Token, approveInvoice, "Invoice", "object.attributes.amount < 1000")
					h.mustRule(t, h.root.Token, authz.PermDeletePage, "Page", "object.attributes.published == false")
					ruleLine := func(r ruleNode) logLine { return ruleLogLine("Rule " + r.ID + ": " + r.Expression) }

					superuser := []logLine{autoLogLine("Model-level Result: Granted"), autoLogLine("RESULT: Permission Granted")}
					cases := []struct {
						name    string
						amount  int
						allowed bool
						reason  string
						entries []logLine
					}{
						{name: "small invoice", amount: 500, allowed: true, reason: "SUPERUSER", entries: superuser},
						{name: "large invoice", amount: 5000, allowed: true, reason: "SUPERUSER", entries: superuser},
					}
					if universal {
						cases[0].reason = "OBJECT_RULE"
						cases[0].entries = []logLine{autoLogLine("Model-level Result: Granted"), ruleLine(invoiceRule), autoLogLine("RESULT: Permission Granted")}
						cases[1].allowed, cases[1].reason = false, "DENIED_BY_RULE"
						cases[1].entries = []logLine{autoLogLine("Model-level Result: Granted"), ruleLine(invoiceRule), autoLogLine("RESULT: Permission Denied")}
					}
					for i, tc := range cases {
						t.Run(tc.name, func(t *testing.T) {
							got := h.checkAs(t, h.root.Token, map[string]any{"perm": approveInvoice, "project": gid(project.ID),
								"object": objectInput("Invoice", fmt.Sprint(i+1), map[string]any{"amount": tc.amount})})
							if got.Allowed != tc.allowed || got.Reason != tc.reason {
								t.Errorf("check(%s, Invoice amount %d) as a superuser = %v %s, want %v %s",
									approveInvoice, tc.amount, got.Allowed, got.Reason, tc.allowed, tc.reason)
							}
							assertLogLines(t, "log", tc.entries, got.Log.Entries)
						})
					}

					t.Run("deletePage of a published page", func(t *testing.T) {
						page := h.mustPublishedPage(t, project.ID, "published")
						got := h.do(t, h.root.Token, `mutation($id: ID!) { deletePage(id: $id) }`, "id", gid(page.ID))
						if universal {
							wantError(t, "deletePage", got, errWant{code: "FORBIDDEN", path: "deletePage", perm: authz.PermDeletePage, project: gid(project.ID)})
						} else {
							wantData(t, "deletePage", got, `{"deletePage": true}`)
						}
						if exists := h.pageState(t, page.ID).exists; exists != universal {
							t.Errorf("page exists after deletePage = %v, want %v", exists, universal)
						}
						// An unpublished page passes the rule either way.
						page = h.mustPage(t, project.ID, "draft")
						wantData(t, "deletePage", h.do(t, h.root.Token, `mutation($id: ID!) { deletePage(id: $id) }`, "id", gid(page.ID)),
							`{"deletePage": true}`)
					})
				})
			}
		})
	}
}

// TestCELRulesThroughGraphQL manages CEL rules with createRule, rules and
// deleteRule, and checks objects that grantql does not store against them:
// a rule that allows, one that denies, one that fails at run time, one
// that does not compile, one that asks for another permission, and the
// authorization and conflicts of rule management.
func TestCELRulesThroughGraphQL(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newLogHarness(t, db, authz.VerbosityResult)
		if _, err := h.engine.DefinePermission(h.ctx, "billing", "approve_invoice", "Can approve invoice"); err != nil {
			t.Fatal(err)
		}
		project := h.mustProject(t, "billing")
		pid := gid(project.ID)
		clerk := h.mustUser(t, "clerk")
		h.grantProject(t, authz.Holder{User: clerk.ID}, project.ID, approveInvoice)
		chief := h.mustUser(t, "chief")
		h.grantProject(t, authz.Holder{User: chief.ID}, project.ID, approveInvoice, authz.PermPublishPage)
		stranger := h.mustUser(t, "stranger")
		ruler := h.mustUser(t, "ruler", authz.PermChangeRule)

		t.Run("rule management needs authz.change_rule", func(t *testing.T) {
			input := map[string]any{"permission": approveInvoice, "objectType": "Invoice", "expression": "true"}
			wantError(t, "createRule", h.do(t, stranger.Token, createRuleDoc, "input", input),
				errWant{code: "FORBIDDEN", path: "createRule", perm: authz.PermChangeRule})
			wantError(t, "createRule", h.do(t, "", createRuleDoc, "input", input),
				errWant{code: "UNAUTHENTICATED", path: "createRule"})
			wantError(t, "rules", h.do(t, stranger.Token, `{ rules { id } }`),
				errWant{code: "FORBIDDEN", path: "rules", perm: authz.PermChangeRule})
			wantError(t, "deleteRule", h.do(t, stranger.Token, `mutation { deleteRule(id: "1") }`),
				errWant{code: "FORBIDDEN", path: "deleteRule", perm: authz.PermChangeRule})
			wantData(t, "rules", h.do(t, ruler.Token, `{ rules { id } }`), `{"rules": []}`)
		})

		// The rules, made by a holder of authz.change_rule who is no superuser.
		invoice := h.mustRule(t, ruler.Token, approveInvoice, "Invoice", "object.attributes.amount < 1000")
		contract := h.mustRule(t, ruler.Token, approveInvoice, "Contract", "object.attributes.limit > 0")
		quote := h.mustRule(t, ruler.Token, approveInvoice, "Quote", `object.attributes.amount < 1000 || hasPerm("projects.publish_page")`)
		ruleLine := func(r ruleNode) logLine { return ruleLogLine("Rule " + r.ID + ": " + r.Expression) }

		t.Run("rules lists them", func(t *testing.T) {
			q := `{ rules { id permission objectType expression description } }`
			var out struct{ Rules []ruleNode }
			mustData(t, q, h.do(t, h.root.Token, q), &out)
			want := []ruleNode{invoice, contract, quote}
			if len(out.Rules) != len(want) {
				t.Fatalf("rules = %+v, want %+v", out.Rules, want)
			}
			for i := range want {
				if out.Rules[i] != want[i] {
					t.Errorf("rules[%d] = %+v, want %+v", i, out.Rules[i], want[i])
				}
			}
		})

		t.Run("createRule refuses", func(t *testing.T) {
			cases := []struct {
				name, perm, objectType, expr string
				code                         string
				msg                          []string
			}{
				{name: "a second rule for (permission, type)", perm: approveInvoice, objectType: "Invoice", expr: "true",
					code: "CONFLICT", msg: []string{"rule " + invoice.ID}},
				{name: "a rule where a Go rule decides", perm: authz.PermDeletePage, objectType: "Page", expr: "true",
					code: "CONFLICT", msg: []string{"Go rule"}},
				{name: "a syntax error", perm: approveInvoice, objectType: "Order", expr: "object.attributes.amount <",
					code: "BAD_USER_INPUT", msg: []string{"does not compile", "Syntax error"}},
				{name: "a type error", perm: approveInvoice, objectType: "Order", expr: `"a" + 1 == 2`,
					code: "BAD_USER_INPUT", msg: []string{"does not compile", "no matching overload"}},
				{name: "an undeclared name", perm: approveInvoice, objectType: "Order", expr: "invoice.amount < 1000",
					code: "BAD_USER_INPUT", msg: []string{"does not compile", "undeclared reference to 'invoice'"}},
				{name: "a value that is not a bool", perm: approveInvoice, objectType: "Order", expr: `"yes"`,
					code: "BAD_USER_INPUT", msg: []string{"must be a bool"}},
				{name: "hasPerm of a number", perm: approveInvoice, objectType: "Order", expr: "hasPerm(1)",
					code: "BAD_USER_INPUT", msg: []string{"hasPerm(perm) takes one permission name"}},
				{name: "an unknown permission", perm: "billing.pay_invoice", objectType: "Order", expr: "true",
					code: "UNKNOWN_PERMISSION", msg: []string{"billing.pay_invoice"}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					input := map[string]any{"permission": tc.perm, "objectType": tc.objectType, "expression": tc.expr}
					wantError(t, "createRule("+tc.expr+")", h.do(t, ruler.Token, createRuleDoc, "input", input),
						errWant{code: tc.code, path: "createRule", msg: tc.msg})
				})
			}
		})

		t.Run("check", func(t *testing.T) {
			granted, denied := autoLogLine("RESULT: Permission Granted"), autoLogLine("RESULT: Permission Denied")
			model := autoLogLine("Model-level Result: Granted")
			cases := []struct {
				name       string
				who        actor
				objectType string
				id         string
				attrs      map[string]any
				allowed    bool
				reason     string
				entries    []logLine
			}{
				{name: "a rule that allows", who: clerk, objectType: "Invoice", id: "42", attrs: map[string]any{"amount": 500},
					allowed: true, reason: "OBJECT_RULE", entries: []logLine{model, ruleLine(invoice), granted}},
				{name: "a rule that denies", who: clerk, objectType: "Invoice", id: "43", attrs: map[string]any{"amount": 5000},
					allowed: false, reason: "DENIED_BY_RULE", entries: []logLine{model, ruleLine(invoice), denied}},
				{name: "a fractional amount", who: clerk, objectType: "Invoice", id: "44", attrs: map[string]any{"amount": 999.5},
					allowed: true, reason: "OBJECT_RULE", entries: []logLine{model, ruleLine(invoice), granted}},
				{name: "a project-level deny is final", who: stranger, objectType: "Invoice", id: "45", attrs: map[string]any{"amount": 5},
					allowed: false, reason: "NO_GRANT", entries: []logLine{autoLogLine("Model-level Result: Denied"), denied}},
				{name: "a rule that fails at run time", who: clerk, objectType: "Contract", id: "7", attrs: map[string]any{"amount": 5},
					allowed: false, reason: "DENIED_BY_RULE", entries: []logLine{model, ruleLine(contract),
						autoLogLine("Rule error: no such key: limit"), denied}},
				{name: "a rule on an object without attributes", who: clerk, objectType: "Contract", id: "8",
					allowed: false, reason: "DENIED_BY_RULE", entries: []logLine{model, ruleLine(contract),
						autoLogLine("Rule error: no such key: limit"), denied}},
				{name: "hasPerm denies", who: clerk, objectType: "Quote", id: "1", attrs: map[string]any{"amount": 5000},
					allowed: false, reason: "DENIED_BY_RULE", entries: []logLine{model, ruleLine(quote),
						autoLogLine("  Model-level Result: Denied"), autoLogLine("  RESULT: Permission Denied"), denied}},
				{name: "hasPerm allows", who: chief, objectType: "Quote", id: "2", attrs: map[string]any{"amount": 5000},
					allowed: true, reason: "OBJECT_RULE", entries: []logLine{model, ruleLine(quote),
						autoLogLine("  Model-level Result: Granted"), autoLogLine("  RESULT: Permission Granted"), granted}},
				{name: "a type without a rule", who: clerk, objectType: "Receipt", id: "3", attrs: map[string]any{"amount": 5000},
					allowed: true, reason: "PROJECT_USER", entries: []logLine{model, granted}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					got := h.checkAs(t, tc.who.Token, map[string]any{"perm": approveInvoice, "project": pid,
						"object": objectInput(tc.objectType, tc.id, tc.attrs)})
					if got.Allowed != tc.allowed || got.Reason != tc.reason || got.Permission != approveInvoice {
						t.Errorf("check(%s %s %v) = %v %s %s, want %v %s", tc.objectType, tc.id, tc.attrs,
							got.Allowed, got.Permission, got.Reason, tc.allowed, tc.reason)
					}
					if got.Log == nil {
						t.Fatal("check returned no log at verbosity 1")
					}
					assertLogLines(t, "log", tc.entries, got.Log.Entries)
					if want := "auto-" + approveInvoice + "-" + tc.id; got.Log.Name != want {
						t.Errorf("log name = %q, want %q", got.Log.Name, want)
					}
				})
			}
		})

		t.Run("attributes written in the query", func(t *testing.T) {
			q := fmt.Sprintf(`{ small: check(input: {perm: %q, project: %q, object: {type: "Invoice", id: "42", attributes: {amount: 500}}}) { allowed reason }
				large: check(input: {perm: %q, project: %q, object: {type: "Invoice", id: "43", attributes: {amount: 5000}}}) { allowed reason } }`,
				approveInvoice, pid, approveInvoice, pid)
			wantData(t, q, h.do(t, clerk.Token, q), `{"small": {"allowed": true, "reason": "OBJECT_RULE"},
				"large": {"allowed": false, "reason": "DENIED_BY_RULE"}}`)
		})

		t.Run("checkMany", func(t *testing.T) {
			q := `query($inputs: [CheckInput!]!) { checkMany(inputs: $inputs) { allowed reason log { name } } }`
			inputs := []map[string]any{
				{"perm": approveInvoice, "project": pid, "object": objectInput("Invoice", "50", map[string]any{"amount": 10})},
				{"perm": approveInvoice, "project": pid, "object": objectInput("Invoice", "51", map[string]any{"amount": 10000})},
				{"perm": approveInvoice, "project": pid, "object": objectInput("Quote", "52", map[string]any{"amount": 10000})},
				{"perm": approveInvoice, "project": pid},
			}
			wantData(t, q, h.do(t, clerk.Token, q, "inputs", inputs), `{"checkMany": [
				{"allowed": true, "reason": "OBJECT_RULE", "log": {"name": "auto-billing.approve_invoice-50"}},
				{"allowed": false, "reason": "DENIED_BY_RULE", "log": {"name": "auto-billing.approve_invoice-51"}},
				{"allowed": false, "reason": "DENIED_BY_RULE", "log": {"name": "auto-billing.approve_invoice-52"}},
				{"allowed": true, "reason": "PROJECT_USER", "log": {"name": "auto-billing.approve_invoice"}}]}`)
		})

		t.Run("deleteRule", func(t *testing.T) {
			del := `mutation($id: ID!) { deleteRule(id: $id) }`
			wantData(t, del, h.do(t, ruler.Token, del, "id", invoice.ID), `{"deleteRule": true}`)
			wantData(t, del, h.do(t, ruler.Token, del, "id", invoice.ID), `{"deleteRule": false}`)
			// Without its rule, the project-level checkAnswer stands.
			got := h.checkAs(t, clerk.Token, map[string]any{"perm": approveInvoice, "project": pid,
				"object": objectInput("Invoice", "43", map[string]any{"amount": 5000})})
			if !got.Allowed || got.Reason != "PROJECT_USER" {
				t.Errorf("check(Invoice amount 5000) after deleteRule = %v %s, want true PROJECT_USER", got.Allowed, got.Reason)
			}
			var out struct{ Rules []ruleNode }
			mustData(t, "rules", h.do(t, ruler.Token, `{ rules { id permission objectType expression description } }`), &out)
			if len(out.Rules) != 2 || out.Rules[0] != contract || out.Rules[1] != quote {
				t.Errorf("rules after deleteRule = %+v, want the Contract and Quote rules", out.Rules)
			}
			// A new rule for the type may be created now.
			h.mustRule(t, ruler.Token, approveInvoice, "Invoice", "object.attributes.amount < 10")
		})
	})
}
