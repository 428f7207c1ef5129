package authz

import "context"

// Page sizes of the paginated questions: 20 when none is asked, at most 100
// so that one answer stays small enough to render in one response.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// PageRequest asks for First items after the item with id After (0: from
// the start), in id order.
type PageRequest struct {
	First int
	After int64
}

// Validate reports a page size out of range or a negative cursor.
func (p PageRequest) Validate() error {
	if p.First < 1 || p.First > MaxPageSize {
		return invalid("first must be between 1 and %d, got %d", MaxPageSize, p.First)
	}
	if p.After < 0 {
		return invalid("after must not be negative, got %d", p.After)
	}
	return nil
}

// ProjectPage is a page of ProjectsWithPerm.
type ProjectPage struct {
	Projects    []Project
	HasNextPage bool
}

// UserPage is a page of UsersWithProjectPerm.
type UserPage struct {
	Users       []UserSources
	HasNextPage bool
}

// ProjectsWithPerm returns the projects in which user has perm: all of them
// when the user is an active superuser or holds perm globally, none when
// the user is inactive or anonymous. One statement; the answers of the
// built-in backend only, as other backends cannot be asked in SQL.
func (e *Engine) ProjectsWithPerm(ctx context.Context, user int64, perm string, page PageRequest) (ProjectPage, error) {
	p, err := e.registry.Lookup(ctx, perm)
	if err != nil {
		return ProjectPage{}, err
	}
	if err := page.Validate(); err != nil {
		return ProjectPage{}, err
	}
	if user == Anonymous {
		return ProjectPage{Projects: []Project{}}, nil
	}
	projects, found, err := e.store.ProjectsWithPerm(ctx, user, p.ID, page.After, page.First+1)
	if err != nil {
		return ProjectPage{}, err
	}
	if !found {
		return ProjectPage{}, &NotFoundError{Kind: "user", ID: user}
	}
	out := ProjectPage{Projects: projects}
	if len(projects) > page.First {
		out.Projects, out.HasNextPage = projects[:page.First], true
	}
	return out, nil
}

// CountProjectsWithPerm counts every project ProjectsWithPerm would list;
// like it, it answers a *NotFoundError for a user that does not exist.
func (e *Engine) CountProjectsWithPerm(ctx context.Context, user int64, perm string) (int, error) {
	p, err := e.registry.Lookup(ctx, perm)
	if err != nil {
		return 0, err
	}
	if user == Anonymous {
		return 0, nil
	}
	return e.store.CountProjectsWithPerm(ctx, user, p.ID)
}

// UsersWithProjectPerm returns the active users who have perm in project,
// each with every source of the permission, in decision order. One
// statement; the answers of the built-in backend only.
func (e *Engine) UsersWithProjectPerm(ctx context.Context, perm string, project int64, page PageRequest) (UserPage, error) {
	p, err := e.registry.Lookup(ctx, perm)
	if err != nil {
		return UserPage{}, err
	}
	if err := page.Validate(); err != nil {
		return UserPage{}, err
	}
	users, found, err := e.store.UsersWithProjectPerm(ctx, p.ID, project, page.After, page.First+1)
	if err != nil {
		return UserPage{}, err
	}
	if !found {
		return UserPage{}, &NotFoundError{Kind: "project", ID: project}
	}
	out := UserPage{Users: users}
	if len(users) > page.First {
		out.Users, out.HasNextPage = users[:page.First], true
	}
	return out, nil
}

// CountUsersWithProjectPerm counts every user UsersWithProjectPerm would
// list; like it, it answers a *NotFoundError for a project that does not
// exist.
func (e *Engine) CountUsersWithProjectPerm(ctx context.Context, perm string, project int64) (int, error) {
	p, err := e.registry.Lookup(ctx, perm)
	if err != nil {
		return 0, err
	}
	return e.store.CountUsersWithProjectPerm(ctx, p.ID, project)
}
