package authz

import (
	"context"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Name limits, matching the columns: Django's 150 characters for usernames
// and group names.
const (
	MaxUsernameLen    = 150
	MaxGroupNameLen   = 150
	MaxProjectNameLen = 200
	MaxPermNameLen    = 255
)

// usernamePattern is Django's username validator: letters, digits and @.+-_.
var usernamePattern = regexp.MustCompile(`^[\p{L}\p{N}@.+\-_]+$`)

// ValidateUsername reports why a username is refused, or nil.
func ValidateUsername(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return invalid("username must not be empty")
	case n > MaxUsernameLen:
		return invalid("username is %d characters long, at most %d are allowed", n, MaxUsernameLen)
	case !usernamePattern.MatchString(name):
		return invalid("username %q may contain only letters, digits and @ . + - _", name)
	}
	return nil
}

// validateName reports why the name of a kind of thing is refused, or
// nil: it must not be blank, and is one line of text (ValidateText) of at
// most max characters.
func validateName(kind, name string, max int) error {
	if strings.TrimSpace(name) == "" {
		return invalid("%s name must not be empty", kind)
	}
	return ValidateText(kind+" name", name, max, false)
}

// Validate reports a holder that names both a user and a group, or neither.
func (h Holder) Validate() error {
	if (h.User > 0) == (h.Group > 0) {
		return invalid("give exactly one of user and group")
	}
	return nil
}

// write runs a change, then clears the request cache and retires what the
// shared cache of e (nil: a change no cached grant depends on) loaded
// before, whether or not the change succeeded, as a failed transaction
// may still have committed.
func write[T any](ctx context.Context, e *Engine, f func() (T, error)) (T, error) {
	defer func() {
		ClearRequestCache(ctx)
		if e != nil {
			e.cache.NoteWrite()
		}
	}()
	return f()
}

// DefinePermission adds a permission to the registry.
func (e *Engine) DefinePermission(ctx context.Context, appLabel, codename, name string) (Permission, error) {
	key := appLabel + "." + codename
	if _, _, err := ParsePerm(key); err != nil {
		return Permission{}, err
	}
	if err := validateName("permission", name, MaxPermNameLen); err != nil {
		return Permission{}, err
	}
	p, err := write(ctx, e, func() (Permission, error) {
		return e.store.DefinePermission(ctx, Permission{AppLabel: appLabel, Codename: codename, Name: name})
	})
	if err != nil {
		return Permission{}, err
	}
	return p, e.registry.Refresh(ctx)
}

// GrantPerm grants perm globally to a user or a group.
func (e *Engine) GrantPerm(ctx context.Context, h Holder, perm string) error {
	p, err := e.holderPerm(ctx, h, perm)
	if err != nil {
		return err
	}
	_, err = write(ctx, e, func() (struct{}, error) { return struct{}{}, e.store.GrantPerm(ctx, h, p.ID) })
	return err
}

// RevokePerm revokes a global grant; false when there was none.
func (e *Engine) RevokePerm(ctx context.Context, h Holder, perm string) (bool, error) {
	p, err := e.holderPerm(ctx, h, perm)
	if err != nil {
		return false, err
	}
	return write(ctx, e, func() (bool, error) { return e.store.RevokePerm(ctx, h, p.ID) })
}

// GrantProjectPerm grants perm in project to a user or a group.
func (e *Engine) GrantProjectPerm(ctx context.Context, h Holder, perm string, project int64) error {
	p, err := e.holderPerm(ctx, h, perm)
	if err != nil {
		return err
	}
	_, err = write(ctx, e, func() (struct{}, error) { return struct{}{}, e.store.GrantProjectPerm(ctx, h, p.ID, project) })
	return err
}

// RevokeProjectPerm revokes a project grant; false when there was none.
func (e *Engine) RevokeProjectPerm(ctx context.Context, h Holder, perm string, project int64) (bool, error) {
	p, err := e.holderPerm(ctx, h, perm)
	if err != nil {
		return false, err
	}
	return write(ctx, e, func() (bool, error) { return e.store.RevokeProjectPerm(ctx, h, p.ID, project) })
}

func (e *Engine) holderPerm(ctx context.Context, h Holder, perm string) (Permission, error) {
	if err := h.Validate(); err != nil {
		return Permission{}, err
	}
	return e.registry.Lookup(ctx, perm)
}

// CreateUser creates a user.
func (e *Engine) CreateUser(ctx context.Context, username string, isActive, isSuperuser bool) (User, error) {
	if err := ValidateUsername(username); err != nil {
		return User{}, err
	}
	return write(ctx, e, func() (User, error) {
		return e.store.CreateUser(ctx, User{Username: username, IsActive: isActive, IsSuperuser: isSuperuser})
	})
}

// UpdateUser changes a user's flags; a nil flag is left as it is.
func (e *Engine) UpdateUser(ctx context.Context, id int64, isActive, isSuperuser *bool) (User, error) {
	return write(ctx, e, func() (User, error) { return e.store.UpdateUser(ctx, id, isActive, isSuperuser) })
}

// DeleteUser deletes a user with its grants, memberships and tokens.
func (e *Engine) DeleteUser(ctx context.Context, id int64) (bool, error) {
	return write(ctx, e, func() (bool, error) { return e.store.DeleteUser(ctx, id) })
}

// CreateGroup creates a group.
func (e *Engine) CreateGroup(ctx context.Context, name string) (Group, error) {
	if err := validateName("group", name, MaxGroupNameLen); err != nil {
		return Group{}, err
	}
	return write(ctx, e, func() (Group, error) { return e.store.CreateGroup(ctx, name) })
}

// DeleteGroup deletes a group with its grants and memberships.
func (e *Engine) DeleteGroup(ctx context.Context, id int64) (bool, error) {
	return write(ctx, e, func() (bool, error) { return e.store.DeleteGroup(ctx, id) })
}

// AddUserToGroup makes user a member of group; being one already is no error.
func (e *Engine) AddUserToGroup(ctx context.Context, user, group int64) error {
	_, err := write(ctx, e, func() (struct{}, error) { return struct{}{}, e.store.AddUserToGroup(ctx, user, group) })
	return err
}

// RemoveUserFromGroup ends a membership, and with it what the group gave
// the user; false when the user was not a member.
func (e *Engine) RemoveUserFromGroup(ctx context.Context, user, group int64) (bool, error) {
	return write(ctx, e, func() (bool, error) { return e.store.RemoveUserFromGroup(ctx, user, group) })
}

// CreatorAppLabel is the app whose every permission the creator of a
// project receives in it.
const CreatorAppLabel = "projects"

// CreateProject creates a project; creator (when not 0) receives in it
// every permission of the projects app.
func (e *Engine) CreateProject(ctx context.Context, name string, creator int64) (Project, error) {
	if err := validateName("project", name, MaxProjectNameLen); err != nil {
		return Project{}, err
	}
	all, err := e.registry.All(ctx)
	if err != nil {
		return Project{}, err
	}
	var perms []int64
	for _, p := range all {
		if p.AppLabel == CreatorAppLabel {
			perms = append(perms, p.ID)
		}
	}
	return write(ctx, e, func() (Project, error) { return e.store.CreateProject(ctx, name, creator, perms) })
}

// DeleteProject deletes a project with its grants and pages.
func (e *Engine) DeleteProject(ctx context.Context, id int64) (bool, error) {
	return write(ctx, e, func() (bool, error) { return e.store.DeleteProject(ctx, id) })
}

// MaxPageTitleLen and MaxTokenNameLen match their columns.
const (
	MaxPageTitleLen = 255
	MaxTokenNameLen = 100
)

// ValidateTokenName reports why an API token label is refused, or nil.
func ValidateTokenName(name string) error { return validateName("token", name, MaxTokenNameLen) }

// CreatePage creates a page in its project.
func (e *Engine) CreatePage(ctx context.Context, p Page) (Page, error) {
	if err := validateName("page title", p.Title, MaxPageTitleLen); err != nil {
		return Page{}, err
	}
	if err := ValidateText("page body", p.Body, 0, true); err != nil {
		return Page{}, err
	}
	return write(ctx, e, func() (Page, error) { return e.store.CreatePage(ctx, p) })
}

// DeletePage deletes a page; false when there was none.
func (e *Engine) DeletePage(ctx context.Context, id int64) (bool, error) {
	return write(ctx, e, func() (bool, error) { return e.store.DeletePage(ctx, id) })
}
