package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/grantql/grantql/internal/workload"
)

// The GraphQL documents of the workloads. Variables carry what changes, so
// that the server parses each document once (its query cache).
const (
	docHasProjectPerm    = `query HasProjectPerm($perm: String!, $project: ID!, $user: ID) { hasProjectPerm(perm: $perm, project: $project, user: $user) }`
	docCheckMany         = `query CheckMany($inputs: [CheckInput!]!) { checkMany(inputs: $inputs) { allowed } }`
	docViewerPermissions = `query ViewerPermissions($project: ID!) { project(id: $project) { viewerPermissions } }`
	docGuardedList       = `query GuardedList($project: ID!) { project(id: $project) { pages(first: 100) { edges { node { id title } } } } }`
	docGrant             = `mutation Grant($perm: String!, $project: ID!, $user: ID) { grantProjectPerm(perm: $perm, project: $project, user: $user) { permission { key } } }`
	docRevoke            = `mutation Revoke($perm: String!, $project: ID!, $user: ID) { revokeProjectPerm(perm: $perm, project: $project, user: $user) }`
)

// guardedListSize is the first of the guarded list: the largest page the
// API serves.
const guardedListSize = 100

// The kinds of request, as reported.
const (
	kindHasProjectPerm    = "hasProjectPerm"
	kindCheckMany         = "checkMany"
	kindViewerPermissions = "viewerPermissions"
	kindGuardedList       = "guardedList"
	kindGrant             = "grant"
	kindRevoke            = "revoke"
	kindReadYourWrite     = "readYourWrite"
)

// The workloads.
const (
	workloadHasProjectPerm    = kindHasProjectPerm
	workloadCheckMany         = kindCheckMany
	workloadViewerPermissions = kindViewerPermissions
	workloadGuardedList       = kindGuardedList
	workloadMixed             = "mixed"
)

var workloadNames = []string{workloadHasProjectPerm, workloadCheckMany, workloadViewerPermissions, workloadGuardedList, workloadMixed}

// request is a prepared read: its body, the token it is sent with, and
// what the answer must be.
type request struct {
	kind  string
	token string
	body  []byte
	// expect is the exact response body of a right answer, when it can
	// be known; a response that differs is decoded and judged by check.
	expect []byte
	check  func(data json.RawMessage) error
	// logs is the number of decision logs the request leaves: one per
	// distinct (user, permission, project, object) decision it causes.
	logs int
	// answers are the checks the request asks, with the right answers,
	// for the re-check of a sample against the database.
	answers []answer
}

// answer is a check and its answer.
type answer struct {
	User    int64  `json:"user"`
	Perm    string `json:"perm"`
	Project int64  `json:"project"`
	Allowed bool   `json:"allowed"`
}

// prepared is a workload file turned into requests, by kind, and the state
// of a run that outlives each workload's traffic.
type prepared struct {
	admin  workload.User
	byKind map[string][]*request
	writes []workload.Key
	// granted is the state of each write key as its worker last left it;
	// key i belongs to worker i mod concurrency, so no two workers
	// touch the same entry.
	granted []bool
	// seq numbers the requests of the run, for their request ids.
	seq atomic.Int64
}

func body(doc string, vars any) []byte {
	b, err := json.Marshal(struct {
		Query     string `json:"query"`
		Variables any    `json:"variables"`
	}{doc, vars})
	if err != nil {
		panic(err) // the variables are plain values
	}
	return b
}

func dataBody(data any) []byte {
	b, err := json.Marshal(struct {
		Data any `json:"data"`
	}{data})
	if err != nil {
		panic(err)
	}
	return b
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// prepare builds every read request of the workload file.
//
// Decision logs: the server logs each distinct decision of a request once
// (verbosity 1, sample rate 1). Each request's count follows from what
// its resolvers check:
//   - hasProjectPerm about another user: auth.view_user for the admin
//     (globally), then the check itself: 2;
//   - checkMany of n checks about another user: auth.view_user, then each
//     distinct check: 1 + distinct;
//   - project { viewerPermissions }: projects.view_project for the viewer
//     (the listing of permissions leaves no log): 1;
//   - project { pages { ... title } }: projects.view_project, then
//     projects.view_page for Project.pages and each Page.title, one
//     decision: 2.
func prepare(w *workload.File) *prepared {
	p := &prepared{admin: w.Admin, byKind: map[string][]*request{}, writes: w.Writes, granted: make([]bool, len(w.Writes))}
	for _, c := range w.Checks {
		a := answer{c.User, c.Perm, c.Project, c.Allowed}
		p.byKind[kindHasProjectPerm] = append(p.byKind[kindHasProjectPerm], hasProjectPermRequest(w.Admin.Token, a))
	}
	for start := 0; start < len(w.Checks); {
		end := start + 1
		for end < len(w.Checks) && w.Checks[end].User == w.Checks[start].User {
			end++
		}
		p.byKind[kindCheckMany] = append(p.byKind[kindCheckMany], checkManyRequest(w.Admin.Token, w.Checks[start:end]))
		start = end
	}
	tokens := map[int64]string{}
	for _, v := range w.Viewers {
		tokens[v.ID] = v.Token
	}
	for _, v := range w.Views {
		token, ok := tokens[v.User]
		if !ok {
			continue
		}
		p.byKind[kindViewerPermissions] = append(p.byKind[kindViewerPermissions], viewerPermissionsRequest(token, v))
		if v.ReadsPages && v.Pages > 0 {
			p.byKind[kindGuardedList] = append(p.byKind[kindGuardedList], guardedListRequest(token, v))
		}
	}
	return p
}

func hasProjectPermRequest(token string, a answer) *request {
	vars := map[string]any{"perm": a.Perm, "project": id(a.Project), "user": id(a.User)}
	return &request{
		kind:   kindHasProjectPerm,
		token:  token,
		body:   body(docHasProjectPerm, vars),
		expect: dataBody(map[string]bool{"hasProjectPerm": a.Allowed}),
		check: func(data json.RawMessage) error {
			var d struct{ HasProjectPerm *bool }
			if err := json.Unmarshal(data, &d); err != nil || d.HasProjectPerm == nil {
				return fmt.Errorf("hasProjectPerm(%s, %d, user %d): no answer in %s", a.Perm, a.Project, a.User, data)
			}
			if *d.HasProjectPerm != a.Allowed {
				return fmt.Errorf("hasProjectPerm(%s, %d, user %d) = %t, want %t", a.Perm, a.Project, a.User, *d.HasProjectPerm, a.Allowed)
			}
			return nil
		},
		logs:    2,
		answers: []answer{a},
	}
}

func checkManyRequest(token string, checks []workload.Check) *request {
	type input struct {
		Perm    string `json:"perm"`
		Project string `json:"project"`
		User    string `json:"user"`
	}
	type allowed struct {
		Allowed bool `json:"allowed"`
	}
	inputs := make([]input, len(checks))
	want := make([]allowed, len(checks))
	answers := make([]answer, len(checks))
	distinct := map[answer]bool{}
	for i, c := range checks {
		inputs[i] = input{c.Perm, id(c.Project), id(c.User)}
		want[i] = allowed{c.Allowed}
		answers[i] = answer{c.User, c.Perm, c.Project, c.Allowed}
		distinct[answers[i]] = true
	}
	return &request{
		kind:   kindCheckMany,
		token:  token,
		body:   body(docCheckMany, map[string]any{"inputs": inputs}),
		expect: dataBody(map[string]any{"checkMany": want}),
		check: func(data json.RawMessage) error {
			var d struct{ CheckMany []allowed }
			if err := json.Unmarshal(data, &d); err != nil || len(d.CheckMany) != len(want) {
				return fmt.Errorf("checkMany of %d checks about user %d: %d answers in %.200s", len(want), checks[0].User, len(d.CheckMany), data)
			}
			for i, got := range d.CheckMany {
				if got != want[i] {
					c := checks[i]
					return fmt.Errorf("checkMany[%d] (%s, %d, user %d) = %t, want %t", i, c.Perm, c.Project, c.User, got.Allowed, c.Allowed)
				}
			}
			return nil
		},
		logs:    1 + len(distinct),
		answers: answers,
	}
}

func viewerPermissionsRequest(token string, v workload.View) *request {
	want := v.Permissions
	if want == nil {
		want = []string{}
	}
	return &request{
		kind:   kindViewerPermissions,
		token:  token,
		body:   body(docViewerPermissions, map[string]any{"project": id(v.Project)}),
		expect: dataBody(map[string]any{"project": map[string]any{"viewerPermissions": want}}),
		check: func(data json.RawMessage) error {
			var d struct {
				Project *struct{ ViewerPermissions []string }
			}
			if err := json.Unmarshal(data, &d); err != nil || d.Project == nil {
				return fmt.Errorf("project %d as user %d: no project in %s", v.Project, v.User, data)
			}
			got := d.Project.ViewerPermissions
			equal := len(got) == len(want)
			for i := 0; equal && i < len(got); i++ {
				equal = got[i] == want[i]
			}
			if !equal {
				return fmt.Errorf("project %d as user %d: viewerPermissions = %v, want %v", v.Project, v.User, got, want)
			}
			return nil
		},
		logs: 1,
	}
}

func guardedListRequest(token string, v workload.View) *request {
	wantEdges := min(v.Pages, guardedListSize)
	return &request{
		kind:  kindGuardedList,
		token: token,
		body:  body(docGuardedList, map[string]any{"project": id(v.Project)}),
		check: func(data json.RawMessage) error {
			var d struct {
				Project *struct {
					Pages *struct {
						Edges []struct {
							Node struct {
								ID    string
								Title *string
							}
						}
					}
				}
			}
			if err := json.Unmarshal(data, &d); err != nil || d.Project == nil || d.Project.Pages == nil {
				return fmt.Errorf("pages of project %d as user %d: no pages in %.200s", v.Project, v.User, data)
			}
			if n := len(d.Project.Pages.Edges); n != wantEdges {
				return fmt.Errorf("pages of project %d as user %d: %d pages, want %d", v.Project, v.User, n, wantEdges)
			}
			for _, e := range d.Project.Pages.Edges {
				if e.Node.ID == "" || e.Node.Title == nil || *e.Node.Title == "" {
					return fmt.Errorf("pages of project %d as user %d: page %q without its title", v.Project, v.User, e.Node.ID)
				}
			}
			return nil
		},
		logs: 2,
	}
}

// grantRequest and revokeRequest are the writes, as the admin. A grant
// checks projects.manage_members and the granted permission for the admin
// in the project (one decision when they are the same); a revoke checks
// projects.manage_members.
func grantRequest(token string, k workload.Key) *request {
	logs := 2
	if k.Perm == "projects.manage_members" {
		logs = 1
	}
	return &request{
		kind:   kindGrant,
		token:  token,
		body:   body(docGrant, map[string]any{"perm": k.Perm, "project": id(k.Project), "user": id(k.User)}),
		expect: dataBody(map[string]any{"grantProjectPerm": map[string]any{"permission": map[string]string{"key": k.Perm}}}),
		check: func(data json.RawMessage) error {
			var d struct {
				GrantProjectPerm *struct{ Permission struct{ Key string } }
			}
			if err := json.Unmarshal(data, &d); err != nil || d.GrantProjectPerm == nil || d.GrantProjectPerm.Permission.Key != k.Perm {
				return fmt.Errorf("grantProjectPerm(%s, %d, user %d): unexpected answer %.200s", k.Perm, k.Project, k.User, data)
			}
			return nil
		},
		logs: logs,
	}
}

func revokeRequest(token string, k workload.Key) *request {
	return &request{
		kind:   kindRevoke,
		token:  token,
		body:   body(docRevoke, map[string]any{"perm": k.Perm, "project": id(k.Project), "user": id(k.User)}),
		expect: dataBody(map[string]bool{"revokeProjectPerm": true}),
		check: func(data json.RawMessage) error {
			var d struct{ RevokeProjectPerm *bool }
			if err := json.Unmarshal(data, &d); err != nil || d.RevokeProjectPerm == nil || !*d.RevokeProjectPerm {
				return fmt.Errorf("revokeProjectPerm(%s, %d, user %d) = %s, want true (the grant was made)", k.Perm, k.Project, k.User, data)
			}
			return nil
		},
		logs: 1,
	}
}
