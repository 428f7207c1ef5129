package authz

import (
	"context"
	"fmt"
	"sort"
)

// The permissions the API's own authorization asks for (docs/api.md).
const (
	PermViewUser        = "auth.view_user"
	PermAddUser         = "auth.add_user"
	PermChangeUser      = "auth.change_user"
	PermDeleteUser      = "auth.delete_user"
	PermViewGroup       = "auth.view_group"
	PermAddGroup        = "auth.add_group"
	PermChangeGroup     = "auth.change_group"
	PermDeleteGroup     = "auth.delete_group"
	PermAddProject      = "projects.add_project"
	PermViewProject     = "projects.view_project"
	PermDeleteProject   = "projects.delete_project"
	PermViewPage        = "projects.view_page"
	PermAddPage         = "projects.add_page"
	PermDeletePage      = "projects.delete_page"
	PermManageMembers   = "projects.manage_members"
	PermViewDecisionLog = "authz.view_decisionlog"
)

// errSignIn is returned when an anonymous actor attempts what needs a user.
func errSignIn(what string) error {
	return &categorized{msg: "sign in to " + what, category: ErrUnauthenticated}
}

// denied turns a deny decision into the error the API returns for it.
func denied(d Decision) error {
	if d.Reason == ReasonAnonymous {
		return errSignIn("do this")
	}
	return &DeniedError{Perm: d.Perm, Project: d.Project, Reason: d.Reason, Missing: d.Missing}
}

// Require returns nil when actor holds perm globally, an
// ErrUnauthenticated error for an anonymous actor, and a *DeniedError
// otherwise.
func (e *Engine) Require(ctx context.Context, actor int64, perm string) error {
	return e.RequireInProject(ctx, actor, perm, 0)
}

// RequireInProject is Require for a permission in a project (0: globally).
func (e *Engine) RequireInProject(ctx context.Context, actor int64, perm string, project int64) error {
	d, err := e.decision(ctx, actor, perm, project)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return denied(d)
	}
	return nil
}

// decision is HasProjectPerm, or HasPerm for project 0.
func (e *Engine) decision(ctx context.Context, actor int64, perm string, project int64) (Decision, error) {
	if project == 0 {
		return e.HasPerm(ctx, actor, perm)
	}
	return e.HasProjectPerm(ctx, actor, perm, project)
}

// RequireAnyInProject returns nil when actor holds at least one of perms
// in project, and the first denial otherwise. It costs one statement.
func (e *Engine) RequireAnyInProject(ctx context.Context, actor int64, project int64, perms ...string) error {
	reqs := make([]CheckRequest, len(perms))
	for i, p := range perms {
		reqs[i] = CheckRequest{Perm: p, Project: project}
	}
	if actor == Anonymous {
		return errSignIn("do this")
	}
	ds, err := e.CheckMany(ctx, actor, reqs)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Allowed {
			return nil
		}
	}
	return denied(ds[0])
}

// IsSuperuser reports whether actor is an active superuser: what actor
// may do now. It is the question about an actor; a question about the
// target of an action (whose token is minted, whose flags are changed)
// asks StoredFlags, since an inactive superuser is a superuser again the
// moment someone reactivates it.
func (e *Engine) IsSuperuser(ctx context.Context, actor int64) (bool, error) {
	active, super, err := e.StoredFlags(ctx, actor)
	return active && super, err
}

// StoredFlags returns the flags stored for user, whatever they make of it
// today: an inactive superuser has nothing now (docs/model.md, The decision), but its stored
// isSuperuser, and its stored grants, come back with its isActive. The
// escalation checks judge a target by them. Anonymous is neither active
// nor a superuser; a user that does not exist is a *NotFoundError.
func (e *Engine) StoredFlags(ctx context.Context, user int64) (isActive, isSuperuser bool, err error) {
	if user == Anonymous {
		return false, false, nil
	}
	ug, err := e.grants(ctx, user, nil)
	if err != nil {
		return false, false, err
	}
	if !ug.found {
		return false, false, &NotFoundError{Kind: "user", ID: user}
	}
	return ug.isActive, ug.isSuperuser, nil
}

// RequireSuperuser returns nil for an active superuser.
func (e *Engine) RequireSuperuser(ctx context.Context, actor int64, what string) error {
	if actor == Anonymous {
		return errSignIn(what)
	}
	ok, err := e.IsSuperuser(ctx, actor)
	if err != nil {
		return err
	}
	if !ok {
		return &categorized{msg: "only a superuser may " + what, category: ErrForbidden}
	}
	return nil
}

// RequireGrantable enforces "no privilege escalation": nobody but a
// superuser may grant a permission they do not hold themselves, globally
// (project 0) or in the project.
func (e *Engine) RequireGrantable(ctx context.Context, actor int64, perm string, project int64) error {
	d, err := e.decision(ctx, actor, perm, project)
	if err != nil {
		return err
	}
	if !d.Allowed {
		if d.Reason == ReasonAnonymous {
			return errSignIn("grant permissions")
		}
		return fmt.Errorf("you cannot grant %s, which you do not hold yourself: %w", perm, &DeniedError{Perm: perm, Project: project, Reason: d.Reason})
	}
	return nil
}

// RequireJoinable enforces "no escalation through groups": unless actor is
// a superuser, actor must hold every permission group holds, globally for
// its global grants and in each project for its project grants, before
// adding anyone to it. It costs two statements.
func (e *Engine) RequireJoinable(ctx context.Context, actor, group int64) error {
	return e.requireCovers(ctx, actor, Holder{Group: group}, fmt.Sprintf("group %d", group))
}

// RequireCovers enforces "no escalation through impersonation": acting as
// target (minting a token for it, say) needs a superuser when target is
// one, and otherwise every permission target holds, where it holds it.
// Target is judged by what is stored, not by what it may do today: its
// stored isSuperuser, and every grant it holds, even while it is inactive
// (an inactive user holds nothing now, but gets it all back when it is
// reactivated, and a token minted meanwhile with it). what says what the
// actor attempts, for the error message.
func (e *Engine) RequireCovers(ctx context.Context, actor, target int64, what string) error {
	_, super, err := e.StoredFlags(ctx, target)
	if err != nil {
		return err
	}
	if super {
		return e.RequireSuperuser(ctx, actor, what+" for a superuser")
	}
	return e.requireCovers(ctx, actor, Holder{User: target}, fmt.Sprintf("user %d", target))
}

// requireCovers checks that actor, as it is now (an active superuser, or
// through its effective grants), holds every grant stored for h. The
// stored grants are read whatever h's flags: HolderGrants ignores them.
func (e *Engine) requireCovers(ctx context.Context, actor int64, h Holder, who string) error {
	if super, err := e.IsSuperuser(ctx, actor); err != nil || super {
		return err
	}
	held, err := e.store.HolderGrants(ctx, h)
	if err != nil {
		return err
	}
	all, err := e.registry.All(ctx)
	if err != nil {
		return err
	}
	byID := make(map[int64]string, len(all))
	for _, p := range all {
		byID[p.ID] = p.Key()
	}
	var reqs []CheckRequest
	for _, id := range held.Global {
		reqs = append(reqs, CheckRequest{Perm: byID[id]})
	}
	projects := make([]int64, 0, len(held.Projects))
	for p := range held.Projects {
		projects = append(projects, p)
	}
	sort.Slice(projects, func(i, j int) bool { return projects[i] < projects[j] })
	for _, p := range projects {
		for _, id := range held.Projects[p] {
			reqs = append(reqs, CheckRequest{Perm: byID[id], Project: p})
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	ds, err := e.CheckMany(ctx, actor, reqs)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if !d.Allowed {
			where := "globally"
			if d.Project != 0 {
				where = fmt.Sprintf("in project %d", d.Project)
			}
			return fmt.Errorf("%s holds %s %s, which you do not hold: %w", who, d.Perm, where,
				&DeniedError{Perm: d.Perm, Project: d.Project, Reason: d.Reason})
		}
	}
	return nil
}
