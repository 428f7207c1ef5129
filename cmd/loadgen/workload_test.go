package main

import (
	"encoding/json"
	"testing"

	"github.com/grantql/grantql/internal/workload"
)

// TestDecisionLogCounts checks the accounting of prepare: each request
// counts the distinct decisions it causes.
func TestDecisionLogCounts(t *testing.T) {
	w := &workload.File{
		Admin:   workload.User{ID: 1, Token: "admin"},
		Viewers: []workload.User{{ID: 7, Token: "viewer"}},
		Views: []workload.View{
			{User: 7, Project: 3, Permissions: []string{"projects.view_page", "projects.view_project"}, Pages: 120, ReadsPages: true},
			{User: 7, Project: 4, Permissions: []string{"projects.view_project"}},
			{User: 8, Project: 4, Permissions: []string{"projects.view_project"}}, // no token: skipped
		},
		Checks: []workload.Check{
			{User: 5, Perm: "projects.view_page", Project: 3, Allowed: true},
			{User: 5, Perm: "projects.view_page", Project: 3, Allowed: true},
			{User: 5, Perm: "projects.add_page", Project: 3},
			{User: 6, Perm: "projects.add_page", Project: 9},
		},
	}
	p := prepare(w)
	counts := func(kind string) []int {
		var out []int
		for _, r := range p.byKind[kind] {
			out = append(out, r.logs)
		}
		return out
	}
	for kind, want := range map[string][]int{
		kindHasProjectPerm:    {2, 2, 2, 2},
		kindCheckMany:         {3, 2}, // user 5: view_user and two distinct checks; user 6: one
		kindViewerPermissions: {1, 1},
		kindGuardedList:       {2},
	} {
		got := counts(kind)
		if len(got) != len(want) {
			t.Errorf("%s: %d requests, want %d", kind, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s[%d] logs = %d, want %d", kind, i, got[i], want[i])
			}
		}
	}
	if n := grantRequest("admin", workload.Key{User: 5, Perm: "projects.manage_members", Project: 3}).logs; n != 1 {
		t.Errorf("grant of manage_members logs = %d, want 1 (the two checks are one decision)", n)
	}
	if n := grantRequest("admin", workload.Key{User: 5, Perm: "projects.view_page", Project: 3}).logs; n != 2 {
		t.Errorf("grant of view_page logs = %d, want 2", n)
	}

	// The exact expected body and the decoded check agree.
	r := p.byKind[kindCheckMany][0]
	var resp struct{ Data json.RawMessage }
	if err := json.Unmarshal(r.expect, &resp); err != nil {
		t.Fatal(err)
	}
	if err := r.check(resp.Data); err != nil {
		t.Errorf("check of the expected body: %v", err)
	}
	if err := r.check(json.RawMessage(`{"checkMany":[{"allowed":true},{"allowed":true},{"allowed":true}]}`)); err == nil {
		t.Error("check of a wrong answer = nil, want an error")
	}
}

func TestRebind(t *testing.T) {
	q := "SELECT ? WHERE a = ? AND b = ?"
	if got, want := rebind("postgres", q), "SELECT $1 WHERE a = $2 AND b = $3"; got != want {
		t.Errorf("rebind(postgres) = %q, want %q", got, want)
	}
	if got := rebind("sqlite", q); got != q {
		t.Errorf("rebind(sqlite) = %q, want it unchanged", got)
	}
}
