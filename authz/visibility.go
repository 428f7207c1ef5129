package authz

import "context"

// The visibility rules of the API's objects: who may see a project, a
// page, a user, a group, a decision log, and the rest. Each is the rule of
// the object type's own top-level query (project(id), user(id), ...), and
// every path of the API that returns an object of the type applies it, so
// that no nested field shows what the front door refuses. Each returns nil
// when the viewer may see the object, an ErrUnauthenticated error for an
// anonymous viewer, and an ErrForbidden error (a *DeniedError, naming the
// permission, when one is missing) otherwise. They cost what a check costs:
// nothing for the viewer's global permissions, which the request loads
// with the token, and one statement for a project the request has not
// loaded yet.

// RequireViewProject: projects.view_project in the project.
func (e *Engine) RequireViewProject(ctx context.Context, viewer, project int64) error {
	return e.RequireInProject(ctx, viewer, PermViewProject, project)
}

// RequireViewPage: projects.view_page in the page's project.
func (e *Engine) RequireViewPage(ctx context.Context, viewer, project int64) error {
	return e.RequireInProject(ctx, viewer, PermViewPage, project)
}

// RequireViewMembers: who holds what in a project needs auth.view_user
// (globally or there) or projects.manage_members there.
func (e *Engine) RequireViewMembers(ctx context.Context, viewer, project int64) error {
	return e.RequireAnyInProject(ctx, viewer, project, PermManageMembers, PermViewUser)
}

// RequireViewUser: the viewer is the user, or holds auth.view_user. A
// user listed among the holders of a permission in a project (holderIn,
// 0 for none) may also be seen by whoever may see that project's members
// (RequireViewMembers).
func (e *Engine) RequireViewUser(ctx context.Context, viewer, user, holderIn int64) error {
	if viewer != Anonymous && viewer == user {
		return nil
	}
	err := e.Require(ctx, viewer, PermViewUser)
	if err == nil || holderIn == 0 || viewer == Anonymous {
		return err
	}
	if e.RequireViewMembers(ctx, viewer, holderIn) == nil {
		return nil
	}
	return err
}

// GroupReach says how a group was reached, for RequireViewGroup: listed
// among the holders of a permission in a project (HolderIn), or among a
// user's groups (MemberOf); zero fields for neither.
type GroupReach struct {
	HolderIn, MemberOf int64
}

// RequireViewGroup: auth.view_group, or the viewer belongs to the group.
// A group listed among the viewer's own groups is the viewer's; one listed
// among the holders of a permission in a project may also be seen by
// whoever may see that project's members. isMember reports whether the
// viewer belongs to the group; it is asked last, and only when nothing
// else allows.
func (e *Engine) RequireViewGroup(ctx context.Context, viewer int64, reach GroupReach, isMember func() (bool, error)) error {
	err := e.Require(ctx, viewer, PermViewGroup)
	if err == nil || viewer == Anonymous {
		return err
	}
	if reach.MemberOf == viewer {
		return nil
	}
	if reach.HolderIn != 0 && e.RequireViewMembers(ctx, viewer, reach.HolderIn) == nil {
		return nil
	}
	member, merr := isMember()
	if merr != nil {
		return merr
	}
	if member {
		return nil
	}
	return err
}

// RequireViewDecisionLog: a signed-in viewer reads the logs of their own
// checks; anyone else's need authz.view_decisionlog.
func (e *Engine) RequireViewDecisionLog(ctx context.Context, viewer, logUser int64) error {
	if viewer == Anonymous {
		return Unauthenticated("read decision logs")
	}
	if viewer == logUser {
		return nil
	}
	return e.Require(ctx, viewer, PermViewDecisionLog)
}

// RequireViewGrantEvents: the audit trail needs authz.view_decisionlog.
func (e *Engine) RequireViewGrantEvents(ctx context.Context, viewer int64) error {
	if viewer == Anonymous {
		return Unauthenticated("read grant events")
	}
	return e.Require(ctx, viewer, PermViewDecisionLog)
}

// RequireViewTokens: a user's API tokens, to that user or to holders of
// auth.view_user.
func (e *Engine) RequireViewTokens(ctx context.Context, viewer, owner int64) error {
	if viewer == Anonymous {
		return Unauthenticated("list API tokens")
	}
	if viewer == owner {
		return nil
	}
	return e.Require(ctx, viewer, PermViewUser)
}

// RequireViewRules: the declarative rules need authz.change_rule.
func (e *Engine) RequireViewRules(ctx context.Context, viewer int64) error {
	if viewer == Anonymous {
		return Unauthenticated("read rules")
	}
	return e.Require(ctx, viewer, PermChangeRule)
}
