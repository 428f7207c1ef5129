package graph

import (
	"context"
	"fmt"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph/model"
)

// maxCheckMany bounds one checkMany: a thousand checks still answer in one
// statement and keep the response under a megabyte.
const maxCheckMany = 1000

// maxIssuerLen is the length of groups.managed_by_issuer.
const maxIssuerLen = 255

// requirePerm returns the viewer's id when the viewer holds perm globally:
// UNAUTHENTICATED, naming what needs a signed-in user, without a viewer,
// and FORBIDDEN without perm.
func (r *Resolver) requirePerm(ctx context.Context, what, perm string) (int64, error) {
	viewer, err := requireSignedIn(ctx, what)
	if err != nil {
		return 0, err
	}
	return viewer, r.Engine.Require(ctx, viewer, perm)
}

// requireUserAdmin checks that viewer holds perm (an auth.*_user
// permission) and, when the target user is a superuser, that viewer is one
// too: managing a superuser is a superuser's business. The target's flags
// are the stored ones (Store.User), so an inactive superuser counts: it is
// a superuser again the moment it is reactivated.
func (r *Resolver) requireUserAdmin(ctx context.Context, viewer int64, perm string, target int64, what string) error {
	if err := r.Engine.Require(ctx, viewer, perm); err != nil {
		return err
	}
	u, err := r.Store.User(ctx, target)
	if err != nil {
		return err
	}
	if u.IsSuperuser {
		return r.Engine.RequireSuperuser(ctx, viewer, what)
	}
	return nil
}

// membershipArgs parses and authorizes the arguments of a membership change.
func (r *Resolver) membershipArgs(ctx context.Context, user, group string) (viewer, uid, gid int64, err error) {
	if viewer, err = requireSignedIn(ctx, "change group memberships"); err != nil {
		return
	}
	if uid, err = parseID("user", user); err != nil {
		return
	}
	if gid, err = parseID("group", group); err != nil {
		return
	}
	err = r.Engine.Require(ctx, viewer, authz.PermChangeGroup)
	return
}

func (r *Resolver) groupByID(ctx context.Context, id int64) (*model.Group, error) {
	g, err := r.Store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	return groupModel(g), nil
}

// requireGlobalGrantAdmin parses a global grant's holder and checks that
// the viewer may manage it: auth.change_user for a user, auth.change_group
// for a group.
func (r *Resolver) requireGlobalGrantAdmin(ctx context.Context, perm string, user, group *string) (authz.Holder, error) {
	viewer, err := requireSignedIn(ctx, "manage global grants")
	if err != nil {
		return authz.Holder{}, err
	}
	h, err := holder(user, group)
	if err != nil {
		return authz.Holder{}, err
	}
	if _, err := r.Engine.Registry().Lookup(ctx, perm); err != nil {
		return authz.Holder{}, err
	}
	need := authz.PermChangeUser
	if h.Group > 0 {
		need = authz.PermChangeGroup
	}
	return h, r.Engine.Require(ctx, viewer, need)
}

// requireProjectGrantAdmin parses a project grant's arguments and checks
// that the viewer holds projects.manage_members in the project.
func (r *Resolver) requireProjectGrantAdmin(ctx context.Context, perm, project string, user, group *string) (authz.Holder, int64, error) {
	viewer, err := requireSignedIn(ctx, "manage project grants")
	if err != nil {
		return authz.Holder{}, 0, err
	}
	pid, err := parseID("project", project)
	if err != nil {
		return authz.Holder{}, 0, err
	}
	h, err := holder(user, group)
	if err != nil {
		return authz.Holder{}, 0, err
	}
	if _, err := r.Engine.Registry().Lookup(ctx, perm); err != nil {
		return authz.Holder{}, 0, err
	}
	return h, pid, r.Engine.RequireInProject(ctx, viewer, authz.PermManageMembers, pid)
}

// requireMemberViewer checks that the viewer may see who holds what in a
// project: auth.view_user (globally or there) or projects.manage_members there.
func (r *Resolver) requireMemberViewer(ctx context.Context, project int64) error {
	return r.Engine.RequireAnyInProject(ctx, viewerID(ctx), project, authz.PermManageMembers, authz.PermViewUser)
}

// projectGrants lists a project's grants, of one permission when perm is
// not empty.
func (r *Resolver) projectGrants(ctx context.Context, project int64, perm string) ([]*model.ProjectGrant, error) {
	p, err := r.Store.Project(ctx, project)
	if err != nil {
		return nil, err
	}
	var permID int64
	if perm != "" {
		pp, err := r.Engine.Registry().Lookup(ctx, perm)
		if err != nil {
			return nil, err
		}
		permID = pp.ID
	}
	all, err := r.Engine.Registry().All(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]authz.Permission, len(all))
	for _, pp := range all {
		byID[pp.ID] = pp
	}
	grants, err := r.Store.ProjectGrants(ctx, project, permID)
	if err != nil {
		return nil, err
	}
	pm := projectModel(p)
	out := make([]*model.ProjectGrant, 0, len(grants))
	for _, g := range grants {
		perm, ok := byID[g.PermissionID]
		if !ok {
			return nil, fmt.Errorf("project %d grants permission %d, which the registry lacks", project, g.PermissionID)
		}
		pg := &model.ProjectGrant{Project: pm, Permission: permissionModel(perm),
			Users: make([]*model.User, len(g.Users)), Groups: make([]*model.Group, len(g.Groups))}
		for i, u := range g.Users {
			pg.Users[i] = userModel(u)
		}
		for i, gr := range g.Groups {
			pg.Groups[i] = groupModel(gr)
		}
		out = append(out, pg)
	}
	return out, nil
}

// projectsWithPerm answers projects and projectsWithPerm.
func (r *Resolver) projectsWithPerm(ctx context.Context, user int64, perm string, first *int, after *string) (*model.ProjectConnection, error) {
	req, err := pageRequest(first, after)
	if err != nil {
		return nil, err
	}
	page, err := r.Engine.ProjectsWithPerm(ctx, user, perm, req)
	if err != nil {
		return nil, err
	}
	return projectConnection(page, func(ctx context.Context) (int, error) {
		return r.Engine.CountProjectsWithPerm(ctx, user, perm)
	}), nil
}

// usersWithGroups converts users and loads all their groups in one statement.
func (r *Resolver) usersWithGroups(ctx context.Context, users []authz.User) ([]*model.User, error) {
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	groups, err := r.Store.UserGroups(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*model.User, len(users))
	for i, u := range users {
		m := userModel(u)
		m.Groups = make([]*model.Group, len(groups[u.ID]))
		for j, g := range groups[u.ID] {
			m.Groups[j] = groupModel(g)
		}
		out[i] = m
	}
	return out, nil
}

// sameUser reports whether two optional user arguments name the same user.
func sameUser(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
